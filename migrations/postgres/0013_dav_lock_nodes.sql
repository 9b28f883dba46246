-- A WebDAV lock belongs to the node it locks (and, when deep, to everything below it), not to
-- a path in the locking user's drive: every user's writes, through WebDAV or REST, are checked
-- against it, and conflicting LOCKs are refused in the transaction that would take them.
-- Locks taken before this have no node and bind only their own path, as before.
ALTER TABLE dav_locks ADD COLUMN node_id TEXT REFERENCES nodes (id) ON DELETE CASCADE;
CREATE INDEX dav_locks_node ON dav_locks (node_id);
