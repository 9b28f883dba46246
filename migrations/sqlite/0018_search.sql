-- Name search served by an index instead of a scan of the drive (PostgreSQL has pg_trgm, 0016).
-- FTS5's trigram tokenizer finds the names that contain a text of three characters or more;
-- the query then checks each candidate's own row (owner, trash, `LIKE`), so the index only has
-- to hold a superset. Its rows are numbered by `search_rows`, because the implicit rowid of
-- `nodes` (a TEXT key) is not stable: VACUUM may renumber it. Triggers keep both in step with
-- `nodes`, so no code path can forget them.
CREATE TABLE search_rows (
    seq INTEGER PRIMARY KEY,
    node_id TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE search_names USING fts5 (sort_name, tokenize = 'trigram');

CREATE TRIGGER search_node_added AFTER INSERT ON nodes BEGIN
    INSERT INTO search_rows (node_id) VALUES (NEW.id);
    INSERT INTO search_names (rowid, sort_name)
    SELECT seq, NEW.sort_name FROM search_rows WHERE node_id = NEW.id;
END;

CREATE TRIGGER search_node_renamed AFTER UPDATE OF sort_name ON nodes BEGIN
    UPDATE search_names SET sort_name = NEW.sort_name
    WHERE rowid = (SELECT seq FROM search_rows WHERE node_id = NEW.id);
END;

CREATE TRIGGER search_node_removed AFTER DELETE ON nodes BEGIN
    DELETE FROM search_names WHERE rowid = (SELECT seq FROM search_rows WHERE node_id = OLD.id);
    DELETE FROM search_rows WHERE node_id = OLD.id;
END;

INSERT INTO search_rows (node_id) SELECT id FROM nodes;
INSERT INTO search_names (rowid, sort_name)
SELECT r.seq, n.sort_name FROM search_rows r JOIN nodes n ON n.id = r.node_id;
