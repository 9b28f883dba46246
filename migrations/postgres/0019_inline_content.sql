-- Small files inlined in the metadata database: the stored (sealed, when volumes encrypt)
-- bytes of a version of at most 64 KiB, so that a small file is durable in the one
-- transaction that commits it, instead of a block write, two fsyncs and a rename of its own.
-- Such a version lists no blocks: it holds no block reference, and nothing that walks blocks
-- (the collector, repair, scrub, fsck's audit) has anything to do for it. The row goes with
-- its version, whichever way that is deleted.
CREATE TABLE version_data (
    version_id TEXT PRIMARY KEY NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    data BYTEA NOT NULL
);
