-- WebDAV: dead properties (PROPPATCH) belong to a node, so they follow it through MOVE and
-- are copied by COPY; locks belong to a path in the locking user's drive, and live here so that
-- every server process sees them.

CREATE TABLE dav_props (
    node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (node_id, name)
);

CREATE TABLE dav_locks (
    token TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    deep BIGINT NOT NULL,
    exclusive BIGINT NOT NULL,
    owner_xml TEXT NOT NULL,
    timeout_secs BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dav_locks_user ON dav_locks (user_id, path);
