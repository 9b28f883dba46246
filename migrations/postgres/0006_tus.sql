-- tus 1.0 uploads in progress: their bytes so far live in a staging file named by the id,
-- which is also the quota reservation's and, at completion, the version's.

CREATE TABLE tus_uploads (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    parent_id TEXT NOT NULL,
    name TEXT NOT NULL,
    on_conflict TEXT NOT NULL,
    length BIGINT,
    upload_offset BIGINT NOT NULL DEFAULT 0,
    reserved BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tus_uploads_expiry ON tus_uploads (expires_at);
