-- What Nextcloud's clients need to name and check a file. Each node gets a number, assigned
-- once and never reused (their `oc:fileid`, and the key of a file's versions at
-- /remote.php/dav/versions/): on SQLite the next after the highest, by a trigger, so no insert
-- can forget it (writers are serialised, so two cannot take the same).
ALTER TABLE nodes ADD COLUMN file_no BIGINT;
UPDATE nodes SET file_no = rowid;
CREATE UNIQUE INDEX nodes_file_no ON nodes (file_no);
CREATE TRIGGER nodes_numbered AFTER INSERT ON nodes WHEN NEW.file_no IS NULL BEGIN
    UPDATE nodes SET file_no = (SELECT COALESCE(MAX(file_no), 0) + 1 FROM nodes) WHERE id = NEW.id;
END;

-- The SHA-1 of a content, as an upload's client declared it and the server verified while
-- storing it (`OC-Checksum`, `oc:checksums`). Keyed by the content, so it holds for every
-- file, copy and version with that content, and never goes stale.
CREATE TABLE content_checksums (
    content_hash TEXT PRIMARY KEY NOT NULL,
    sha1 TEXT NOT NULL
);
