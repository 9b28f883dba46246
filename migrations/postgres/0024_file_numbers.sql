-- What Nextcloud's clients need to name and check a file. Each node gets a number, assigned
-- once and never reused (their `oc:fileid`, and the key of a file's versions at
-- /remote.php/dav/versions/): from a sequence, by the column's default, so no insert can
-- forget it and two nodes writing at once never take the same. (Nullable, with a default,
-- like SQLite's column, which a trigger fills.)
CREATE SEQUENCE nodes_file_no_seq AS BIGINT;
ALTER TABLE nodes ADD COLUMN file_no BIGINT;
ALTER SEQUENCE nodes_file_no_seq OWNED BY nodes.file_no;
ALTER TABLE nodes ALTER COLUMN file_no SET DEFAULT nextval('nodes_file_no_seq');
UPDATE nodes SET file_no = nextval('nodes_file_no_seq') WHERE file_no IS NULL;
CREATE UNIQUE INDEX nodes_file_no ON nodes (file_no);

-- The SHA-1 of a content, as an upload's client declared it and the server verified while
-- storing it (`OC-Checksum`, `oc:checksums`). Keyed by the content, so it holds for every
-- file, copy and version with that content, and never goes stale.
CREATE TABLE content_checksums (
    content_hash TEXT PRIMARY KEY NOT NULL,
    sha1 TEXT NOT NULL
);
