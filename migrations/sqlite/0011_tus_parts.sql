-- tus uploads keep their bytes in the block store, where every node sees them: each PATCH's
-- data is stored as parts (content-addressed, durable before the offset moves), recorded here
-- in the transaction that moves the offset. A PATCH first claims its upload (claim, until
-- claim_expires), so two PATCHes of one upload never write at once, on one node or two.
CREATE TABLE tus_parts (
    upload_id TEXT NOT NULL REFERENCES tus_uploads (id) ON DELETE CASCADE,
    start_offset BIGINT NOT NULL,
    length BIGINT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (upload_id, start_offset)
);
CREATE INDEX tus_parts_hash ON tus_parts (hash);
ALTER TABLE tus_uploads ADD COLUMN claim TEXT;
ALTER TABLE tus_uploads ADD COLUMN claim_expires BIGINT;
