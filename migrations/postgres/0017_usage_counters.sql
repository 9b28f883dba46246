-- Usage statistics as counters, kept by triggers in the very statements that change nodes and
-- versions, so `GET /me/stats` reads one user's few rows instead of scanning the drive, and no
-- code path can change a node without the counters following. `stratus admin fsck` recounts.
--
-- Buckets per user: one per file category (live files), `folders` (live, the root excluded),
-- `trash` (trashed files), `current` (files' current versions) and `versions` (every version).
-- Older versions are `versions` minus `current`.

-- The extension → category map of `stratus_core::CATEGORIES` (a test keeps the two equal).
CREATE TABLE usage_categories (
    ext TEXT PRIMARY KEY NOT NULL,
    category TEXT NOT NULL
);
INSERT INTO usage_categories (ext, category) VALUES
    ('jpg', 'images'), ('jpeg', 'images'), ('png', 'images'), ('gif', 'images'),
    ('webp', 'images'), ('heic', 'images'), ('heif', 'images'), ('bmp', 'images'),
    ('tif', 'images'), ('tiff', 'images'), ('svg', 'images'), ('raw', 'images'), ('cr2', 'images'),
    ('nef', 'images'), ('avif', 'images'), ('mp4', 'video'), ('mov', 'video'), ('mkv', 'video'),
    ('avi', 'video'), ('webm', 'video'), ('m4v', 'video'), ('wmv', 'video'), ('flv', 'video'),
    ('mpg', 'video'), ('mpeg', 'video'), ('3gp', 'video'), ('mp3', 'audio'), ('flac', 'audio'),
    ('wav', 'audio'), ('ogg', 'audio'), ('oga', 'audio'), ('m4a', 'audio'), ('aac', 'audio'),
    ('opus', 'audio'), ('wma', 'audio'), ('aiff', 'audio'), ('pdf', 'documents'),
    ('doc', 'documents'), ('docx', 'documents'), ('odt', 'documents'), ('rtf', 'documents'),
    ('txt', 'documents'), ('md', 'documents'), ('xls', 'documents'), ('xlsx', 'documents'),
    ('ods', 'documents'), ('csv', 'documents'), ('ppt', 'documents'), ('pptx', 'documents'),
    ('odp', 'documents'), ('epub', 'documents'), ('pages', 'documents'), ('key', 'documents'),
    ('numbers', 'documents'), ('zip', 'archives'), ('tar', 'archives'), ('gz', 'archives'),
    ('tgz', 'archives'), ('bz2', 'archives'), ('xz', 'archives'), ('7z', 'archives'),
    ('rar', 'archives'), ('zst', 'archives'), ('iso', 'archives'), ('dmg', 'archives');

CREATE TABLE usage_counters (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bucket TEXT NOT NULL,
    files BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, bucket)
);

-- Every bucket a user has. The rows exist from the user's creation on, so the triggers only
-- ever UPDATE (an upsert would re-create rows while a user's deletion cascades).
CREATE VIEW usage_buckets AS
    SELECT DISTINCT category AS bucket FROM usage_categories
    UNION SELECT 'other' UNION SELECT 'folders' UNION SELECT 'trash'
    UNION SELECT 'current' UNION SELECT 'versions';

-- Pending changes to the counters (see `usage_apply`). No foreign key: a user's deletion
-- cascades through its nodes, whose triggers still append here; the fold drops those.
CREATE TABLE usage_deltas (
    seq BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    bucket TEXT NOT NULL,
    files BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE INDEX usage_deltas_user ON usage_deltas (user_id);

CREATE TYPE usage_delta AS (user_id TEXT, bucket TEXT, files BIGINT, bytes BIGINT);

-- What a node adds to the counters, as plain expressions the planner inlines: the bucket of the
-- node (given the category of its extension, looked up by a join), and `current` when it holds a
-- current version. The extension is what follows the last dot.
CREATE FUNCTION usage_ext(name TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(substring(name FROM '\.([^.]*)$'))
$$;
CREATE FUNCTION usage_bucket(kind TEXT, parent_id TEXT, trashed_at BIGINT, category TEXT)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN kind = 'folder' THEN
            CASE WHEN parent_id IS NOT NULL AND trashed_at IS NULL THEN 'folders' END
        WHEN trashed_at IS NOT NULL THEN 'trash'
        ELSE COALESCE(category, 'other')
    END
$$;
CREATE FUNCTION usage_current(kind TEXT, version_id TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN kind = 'file' AND version_id IS NOT NULL THEN 'current' END
$$;
CREATE FUNCTION usage_bytes(kind TEXT, size BIGINT) RETURNS BIGINT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN kind = 'file' THEN size ELSE 0 END
$$;

-- What statements add to the counters, appended: a trigger never updates a row another
-- transaction may hold (a user's counters, the user's row), so writers never queue on each
-- other and no lock order can deadlock them. `Db::fold_usage` (run with every heartbeat, one
-- node at a time) moves the deltas into `usage_counters`; a read adds the pending ones.
CREATE FUNCTION usage_apply(deltas usage_delta[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_deltas (user_id, bucket, files, bytes)
    SELECT d.user_id, d.bucket, SUM(d.files), SUM(d.bytes)
    FROM unnest(deltas) d GROUP BY d.user_id, d.bucket
    HAVING SUM(d.files) <> 0 OR SUM(d.bytes) <> 0;
END
$$;

CREATE FUNCTION usage_user_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_counters (user_id, bucket) SELECT n.id, b.bucket FROM new_rows n, usage_buckets b;
    RETURN NULL;
END
$$;
CREATE TRIGGER usage_user_added AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_user_added();

-- Statement triggers: a statement that trashes ten thousand nodes appends one delta per bucket.
CREATE FUNCTION usage_nodes_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM usage_apply(ARRAY(
            SELECT ROW(n.owner_id, t.b, 1, usage_bytes(n.kind, n.size))::usage_delta
            FROM new_rows n LEFT JOIN usage_categories c ON c.ext = usage_ext(n.name),
            LATERAL (VALUES (usage_bucket(n.kind, n.parent_id, n.trashed_at, c.category)),
                (usage_current(n.kind, n.version_id))) AS t (b)
            WHERE t.b IS NOT NULL));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM usage_apply(ARRAY(
            SELECT ROW(n.owner_id, t.b, -1, -usage_bytes(n.kind, n.size))::usage_delta
            FROM old_rows n LEFT JOIN usage_categories c ON c.ext = usage_ext(n.name),
            LATERAL (VALUES (usage_bucket(n.kind, n.parent_id, n.trashed_at, c.category)),
                (usage_current(n.kind, n.version_id))) AS t (b)
            WHERE t.b IS NOT NULL));
    ELSE
        PERFORM usage_apply(ARRAY(
            SELECT ROW(n.owner_id, t.b, n.sign, n.sign * usage_bytes(n.kind, n.size))::usage_delta
            FROM (SELECT *, 1 AS sign FROM new_rows UNION ALL SELECT *, -1 FROM old_rows) n
            LEFT JOIN usage_categories c ON c.ext = usage_ext(n.name),
            LATERAL (VALUES (usage_bucket(n.kind, n.parent_id, n.trashed_at, c.category)),
                (usage_current(n.kind, n.version_id))) AS t (b)
            WHERE t.b IS NOT NULL));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER usage_node_added AFTER INSERT ON nodes REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_nodes_changed();
CREATE TRIGGER usage_node_removed AFTER DELETE ON nodes REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_nodes_changed();
CREATE TRIGGER usage_node_changed AFTER UPDATE ON nodes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_nodes_changed();

CREATE FUNCTION usage_versions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM usage_apply(ARRAY(SELECT ROW(n.owner_id, 'versions', 1, v.size)::usage_delta
            FROM new_rows v JOIN nodes n ON n.id = v.node_id));
    ELSE
        PERFORM usage_apply(ARRAY(SELECT ROW(n.owner_id, 'versions', -1, -v.size)::usage_delta
            FROM old_rows v JOIN nodes n ON n.id = v.node_id));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER usage_version_added AFTER INSERT ON versions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_versions_changed();
CREATE TRIGGER usage_version_removed AFTER DELETE ON versions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_versions_changed();

-- The counters of the users there already are.
INSERT INTO usage_counters (user_id, bucket, files, bytes)
SELECT u.id, b.bucket, COALESCE(SUM(d.files), 0), COALESCE(SUM(d.bytes), 0)
FROM users u CROSS JOIN usage_buckets b
LEFT JOIN (
    SELECT n.owner_id AS user_id, t.b AS bucket, 1 AS files, usage_bytes(n.kind, n.size) AS bytes
    FROM nodes n LEFT JOIN usage_categories c ON c.ext = usage_ext(n.name),
    LATERAL (VALUES (usage_bucket(n.kind, n.parent_id, n.trashed_at, c.category)),
        (usage_current(n.kind, n.version_id))) AS t (b)
    WHERE t.b IS NOT NULL
    UNION ALL SELECT n.owner_id, 'versions', 1, v.size FROM versions v JOIN nodes n ON n.id = v.node_id
) d ON d.user_id = u.id AND d.bucket = b.bucket
GROUP BY u.id, b.bucket;
