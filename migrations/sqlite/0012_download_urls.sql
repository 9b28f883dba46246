-- Signed download URLs, one row each: the URL carries the row's id, so the node's owner and
-- editors can list and revoke them, and every download re-checks that whoever made the URL
-- can still read the file (a revoked share ends the URLs it made).
CREATE TABLE download_urls (
    id TEXT PRIMARY KEY NOT NULL,
    node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX download_urls_node ON download_urls (node_id);
CREATE INDEX download_urls_expiry ON download_urls (expires_at);
