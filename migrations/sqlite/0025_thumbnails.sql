-- Thumbnails, derived from a content and kept by its owner and hash (and the size asked for):
-- a file's new content gets new ones, the owner's copies share them, and nothing derived can
-- show an old picture. Gone with the account.
CREATE TABLE thumbnails (
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content_hash TEXT NOT NULL,
    size BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner_id, content_hash, size)
);
