-- A drive of millions of files: the trash is listed from an index of its top items (the
-- condition `trash_id = id` could not use `nodes_trash`).
CREATE INDEX nodes_trash_tops ON nodes (owner_id, trashed_at) WHERE trash_id = id AND trashed_at IS NOT NULL;
