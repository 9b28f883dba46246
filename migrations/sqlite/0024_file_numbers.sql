-- What Nextcloud's clients need to name and check a file. Each node gets a number, assigned
-- once and never reused (their `oc:fileid`, and the key of a file's versions at
-- /remote.php/dav/versions/): on SQLite from a counter that only goes up, by a trigger, so no
-- insert can forget it (writers are serialised, so two cannot take the same).
CREATE TABLE node_numbers (last BIGINT NOT NULL);
ALTER TABLE nodes ADD COLUMN file_no BIGINT;
UPDATE nodes SET file_no = rowid;
INSERT INTO node_numbers (last) SELECT COALESCE(MAX(file_no), 0) FROM nodes;
CREATE UNIQUE INDEX nodes_file_no ON nodes (file_no);
CREATE TRIGGER nodes_numbered AFTER INSERT ON nodes WHEN NEW.file_no IS NULL BEGIN
    UPDATE node_numbers SET last = last + 1;
    UPDATE nodes SET file_no = (SELECT last FROM node_numbers) WHERE id = NEW.id;
END;

-- The SHA-1 of a content, as an upload's client declared it and the server verified while
-- storing it (`OC-Checksum`, `oc:checksums`). Kept per owner and content (so it never tells
-- anyone that another user stored the same bytes), it holds for every file, copy and version
-- of theirs with that content, and never goes stale.
CREATE TABLE content_checksums (
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content_hash TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    PRIMARY KEY (owner_id, content_hash)
);
