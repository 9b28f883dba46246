-- What Nextcloud's clients need to name and check a file. Each node gets a number, assigned
-- once and never reused (their `oc:fileid`, and the key of a file's versions at
-- /remote.php/dav/versions/): from a sequence, by the column's default, so no insert can
-- forget it and two nodes writing at once never take the same. Adding the column with its
-- default numbers the existing rows in the table's rewrite (no UPDATE, no triggers fired).
-- (Nullable, like SQLite's column, which a trigger fills.)
CREATE SEQUENCE nodes_file_no_seq AS BIGINT;
ALTER TABLE nodes ADD COLUMN file_no BIGINT DEFAULT nextval('nodes_file_no_seq');
ALTER SEQUENCE nodes_file_no_seq OWNED BY nodes.file_no;
CREATE UNIQUE INDEX nodes_file_no ON nodes (file_no);

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
