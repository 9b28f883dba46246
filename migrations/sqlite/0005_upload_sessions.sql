-- Block-negotiation upload sessions: the declared file, waiting for its missing blocks.
-- The id is also the quota reservation's and, at commit, the new version's.

CREATE TABLE upload_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    parent_id TEXT NOT NULL,
    name TEXT NOT NULL,
    on_conflict TEXT NOT NULL,
    size BIGINT NOT NULL,
    blocks BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX upload_sessions_expiry ON upload_sessions (expires_at);
