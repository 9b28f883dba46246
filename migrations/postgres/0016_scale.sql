-- A drive of millions of files: the trash is listed from an index of its top items (the
-- condition `trash_id = id` could not use `nodes_trash`).
CREATE INDEX nodes_trash_tops ON nodes (owner_id, trashed_at) WHERE trash_id = id AND trashed_at IS NOT NULL;

-- Name search (`LIKE '%text%'`) served by a trigram index instead of a scan of the drive.
-- pg_trgm ships with PostgreSQL and is a trusted extension: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX nodes_name_trgm ON nodes USING gin (sort_name gin_trgm_ops) WHERE trashed_at IS NULL;
