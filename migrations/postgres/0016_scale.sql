-- A drive of millions of files: the trash is listed from an index of its top items (the
-- condition `trash_id = id` could not use `nodes_trash`).
CREATE INDEX nodes_trash_tops ON nodes (owner_id, trashed_at) WHERE trash_id = id AND trashed_at IS NOT NULL;

-- Name search (`LIKE '%text%'`) served by a trigram index instead of a scan of the drive.
-- pg_trgm ships with PostgreSQL and is a trusted extension (a database owner may create it);
-- where the role may not, search keeps working without the index.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXECUTE 'CREATE INDEX nodes_name_trgm ON nodes USING gin (sort_name gin_trgm_ops) WHERE trashed_at IS NULL';
EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
    RAISE WARNING 'pg_trgm is not available: name search will scan (%)', SQLERRM;
END
$$;
