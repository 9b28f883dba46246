-- The volumes blocks are stored on, grouped in pools. Registered here (not only in the config
-- file) so that `stratus admin volume …` changes them at runtime, for every server process.

CREATE TABLE volumes (
    id TEXT PRIMARY KEY NOT NULL,
    pool TEXT NOT NULL,
    location TEXT NOT NULL,
    state TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX volumes_location ON volumes (location);
