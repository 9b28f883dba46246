-- The BLAKE3 of each block's bytes, next to its SHA-256 address: downloads verify a block
-- against it (as strong, several times faster). NULL for blocks stored before it existed or
-- sent through an upload session; those are verified by their address.
ALTER TABLE blocks ADD COLUMN check_hash BYTEA;
