-- Which blocks each user has shown to hold: sent in an upload, or committed into their drive.
-- Block negotiation reports a block as already stored only when it is here for the caller, so
-- a declared hash never reveals what other users store (cross-user dedup stays: the bytes are
-- sent, and stored once). Rows of blocks the GC deletes go with them.
CREATE TABLE user_blocks (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash BLOB NOT NULL,
    PRIMARY KEY (user_id, hash)
);
CREATE INDEX user_blocks_hash ON user_blocks (hash);
