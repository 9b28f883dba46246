-- Folder ETags that change whenever anything below the folder changes (sync clients walk down
-- only into folders whose ETag moved). `tree_tag` counts the changes below each folder. The
-- statement triggers below append one row to `tree_deltas` per folder above what a statement
-- changed (never an update of a folder row another writer may hold: writers into one tree do
-- not queue on its root); a read adds a folder's pending rows to its `tree_tag`, and
-- `Db::fold_tree_tags` (with every heartbeat) moves them in, which leaves the sum unchanged.
-- SQLite's triggers (one writer at a time) update the ancestors at once.
ALTER TABLE nodes ADD COLUMN tree_tag BIGINT NOT NULL DEFAULT 0;

CREATE TABLE tree_deltas (
    seq BIGSERIAL PRIMARY KEY,
    tag_folder TEXT NOT NULL
);
CREATE INDEX tree_deltas_folder ON tree_deltas (tag_folder);

-- Which rows count: see the SQLite migration. Inside the trash nothing is visible; a subtree
-- trashed or restored counts once, for its top.
CREATE FUNCTION tree_nodes_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tree_deltas (tag_folder)
        WITH RECURSIVE up (id) AS (
            SELECT parent_id FROM new_rows WHERE parent_id IS NOT NULL AND trashed_at IS NULL
            UNION SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.id WHERE n.parent_id IS NOT NULL)
        SELECT id FROM up;
    ELSE
        INSERT INTO tree_deltas (tag_folder)
        WITH RECURSIVE changed (a, b) AS (
            SELECT o.parent_id, n.parent_id FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.parent_id, o.name, o.size, o.content_hash, o.version_id, o.modified_at, o.trashed_at)
                IS DISTINCT FROM (n.parent_id, n.name, n.size, n.content_hash, n.version_id, n.modified_at, n.trashed_at)
                AND NOT (o.trashed_at IS NOT NULL AND n.trashed_at IS NOT NULL)
                AND NOT ((o.trashed_at IS NULL) <> (n.trashed_at IS NULL)
                    AND COALESCE(n.trash_id, o.trash_id) IS DISTINCT FROM n.id)),
        up (id) AS (
            SELECT x FROM (SELECT a AS x FROM changed UNION SELECT b FROM changed) s WHERE x IS NOT NULL
            UNION SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.id WHERE n.parent_id IS NOT NULL)
        SELECT id FROM up;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tree_node_added AFTER INSERT ON nodes REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tree_nodes_changed();
CREATE TRIGGER tree_node_changed AFTER UPDATE ON nodes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tree_nodes_changed();
