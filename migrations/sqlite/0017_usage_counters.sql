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

-- Pending changes to the counters: on PostgreSQL its triggers append here (so concurrent
-- writers never lock a shared row) and `Db::fold_usage` moves them into the counters; SQLite's
-- triggers update the counters at once (one writer at a time), so only fsck's corrections pass
-- through here.
CREATE TABLE usage_deltas (
    seq BIGINT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    bucket TEXT NOT NULL,
    files BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE INDEX usage_deltas_user ON usage_deltas (user_id);

-- Every bucket a user has. The rows exist from the user's creation on, so the triggers only
-- ever UPDATE (an upsert would re-create rows while a user's deletion cascades).
CREATE VIEW usage_buckets AS
    SELECT DISTINCT category AS bucket FROM usage_categories
    UNION SELECT 'other' UNION SELECT 'folders' UNION SELECT 'trash'
    UNION SELECT 'current' UNION SELECT 'versions';

-- What a node adds to the counters: its bucket, its bytes, and whether it holds a current version.
-- The extension is what follows the last dot (rtrim strips the trailing run of non-dots).
CREATE VIEW node_usage AS
    SELECT id, owner_id,
        CASE
            WHEN kind = 'folder' THEN
                CASE WHEN parent_id IS NOT NULL AND trashed_at IS NULL THEN 'folders' END
            WHEN trashed_at IS NOT NULL THEN 'trash'
            ELSE COALESCE((SELECT category FROM usage_categories WHERE ext =
                CASE WHEN instr(name, '.') > 0
                    THEN lower(substr(name, length(rtrim(name, replace(name, '.', ''))) + 1)) END),
                'other')
        END AS bucket,
        CASE WHEN kind = 'file' THEN size ELSE 0 END AS bytes,
        CASE WHEN kind = 'file' AND version_id IS NOT NULL THEN 'current' END AS current
    FROM nodes;

CREATE TRIGGER usage_user_added AFTER INSERT ON users BEGIN
    INSERT INTO usage_counters (user_id, bucket) SELECT NEW.id, bucket FROM usage_buckets;
END;

CREATE TRIGGER usage_node_added AFTER INSERT ON nodes BEGIN
    UPDATE usage_counters SET files = files + 1, bytes = usage_counters.bytes + u.bytes
    FROM node_usage u
    WHERE u.id = NEW.id AND usage_counters.user_id = u.owner_id
        AND usage_counters.bucket IN (u.bucket, u.current);
END;

CREATE TRIGGER usage_node_removed BEFORE DELETE ON nodes BEGIN
    UPDATE usage_counters SET files = files - 1, bytes = usage_counters.bytes - u.bytes
    FROM node_usage u
    WHERE u.id = OLD.id AND usage_counters.user_id = u.owner_id
        AND usage_counters.bucket IN (u.bucket, u.current);
END;

CREATE TRIGGER usage_node_leaving
BEFORE UPDATE OF owner_id, parent_id, name, kind, size, version_id, trashed_at ON nodes BEGIN
    UPDATE usage_counters SET files = files - 1, bytes = usage_counters.bytes - u.bytes
    FROM node_usage u
    WHERE u.id = OLD.id AND usage_counters.user_id = u.owner_id
        AND usage_counters.bucket IN (u.bucket, u.current);
END;

CREATE TRIGGER usage_node_changed
AFTER UPDATE OF owner_id, parent_id, name, kind, size, version_id, trashed_at ON nodes BEGIN
    UPDATE usage_counters SET files = files + 1, bytes = usage_counters.bytes + u.bytes
    FROM node_usage u
    WHERE u.id = NEW.id AND usage_counters.user_id = u.owner_id
        AND usage_counters.bucket IN (u.bucket, u.current);
END;

CREATE TRIGGER usage_version_added AFTER INSERT ON versions BEGIN
    UPDATE usage_counters SET files = files + 1, bytes = bytes + NEW.size
    WHERE bucket = 'versions' AND user_id = (SELECT owner_id FROM nodes WHERE id = NEW.node_id);
END;

CREATE TRIGGER usage_version_removed BEFORE DELETE ON versions BEGIN
    UPDATE usage_counters SET files = files - 1, bytes = bytes - OLD.size
    WHERE bucket = 'versions' AND user_id = (SELECT owner_id FROM nodes WHERE id = OLD.node_id);
END;

-- The counters of the users there already are.
INSERT INTO usage_counters (user_id, bucket) SELECT u.id, b.bucket FROM users u, usage_buckets b;
UPDATE usage_counters SET
    files = (SELECT COUNT(*) FROM node_usage n
        WHERE n.owner_id = usage_counters.user_id
            AND usage_counters.bucket IN (n.bucket, n.current)),
    bytes = (SELECT COALESCE(SUM(n.bytes), 0) FROM node_usage n
        WHERE n.owner_id = usage_counters.user_id
            AND usage_counters.bucket IN (n.bucket, n.current))
WHERE bucket <> 'versions';
UPDATE usage_counters SET
    files = (SELECT COUNT(*) FROM versions v JOIN nodes n ON n.id = v.node_id
        WHERE n.owner_id = usage_counters.user_id),
    bytes = (SELECT COALESCE(SUM(v.size), 0) FROM versions v JOIN nodes n ON n.id = v.node_id
        WHERE n.owner_id = usage_counters.user_id)
WHERE bucket = 'versions';
