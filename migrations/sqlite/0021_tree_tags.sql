-- Folder ETags that change whenever anything below the folder changes (sync clients walk down
-- only into folders whose ETag moved). `tree_tag` counts the changes below each folder; a
-- trigger bumps it on every ancestor of a node that appears, changes or goes, so no code path
-- can forget it. SQLite has one writer at a time, so its triggers update the ancestors at once.
-- PostgreSQL's append to `tree_deltas` instead (no writer ever waits for another's lock on a
-- shared folder row); a read adds the pending ones and `Db::fold_tree_tags` moves them in.
-- SQLite never fills `tree_deltas`: it is here so that one SQL text reads both engines.
ALTER TABLE nodes ADD COLUMN tree_tag BIGINT NOT NULL DEFAULT 0;

CREATE TABLE tree_deltas (
    seq BIGINT PRIMARY KEY NOT NULL,
    tag_folder TEXT NOT NULL
);
CREATE INDEX tree_deltas_folder ON tree_deltas (tag_folder);

-- A node put in a folder: every folder above it changed. (UNION ALL: a chain has no cycle, the
-- moves refuse one, and a UNION would sort each chain to drop duplicates it cannot have.)
CREATE TRIGGER tree_node_added AFTER INSERT ON nodes
WHEN NEW.parent_id IS NOT NULL AND NEW.trashed_at IS NULL BEGIN
    UPDATE nodes SET tree_tag = tree_tag + 1 WHERE id IN (
        WITH RECURSIVE up (id) AS (SELECT NEW.parent_id
            UNION ALL SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.id WHERE n.parent_id IS NOT NULL)
        SELECT id FROM up);
END;

-- A node renamed, moved, rewritten, touched, trashed or restored: the folders above where it
-- was and where it is changed. Inside the trash nothing is visible; a folder trashed or
-- restored with its subtree counts once, for its top (its descendants' rows say `trash_id`
-- of another node), so trashing ten thousand files bumps the ancestors once, not ten thousand
-- times. The update of `tree_tag` itself is not in the column list: it fires nothing.
CREATE TRIGGER tree_node_changed
AFTER UPDATE OF parent_id, name, size, content_hash, version_id, modified_at, trashed_at ON nodes
WHEN NOT (OLD.trashed_at IS NOT NULL AND NEW.trashed_at IS NOT NULL)
    AND NOT ((OLD.trashed_at IS NULL) <> (NEW.trashed_at IS NULL)
        AND COALESCE(NEW.trash_id, OLD.trash_id) IS NOT NEW.id) BEGIN
    UPDATE nodes SET tree_tag = tree_tag + 1 WHERE id IN (
        WITH RECURSIVE up (id) AS (SELECT NEW.parent_id UNION SELECT OLD.parent_id
            UNION SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.id WHERE n.parent_id IS NOT NULL)
        SELECT id FROM up WHERE id IS NOT NULL);
END;
