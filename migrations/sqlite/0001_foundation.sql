-- Accounts, tokens, the tree, file versions, blocks and quota reservations.
-- Timestamps are milliseconds since the Unix epoch (UTC) in both dialects.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    root_id TEXT NOT NULL,
    quota_limit BIGINT NOT NULL,
    quota_used BIGINT NOT NULL DEFAULT 0,
    quota_reserved BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX tokens_user ON tokens (user_id, kind);

CREATE TABLE nodes (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    parent_id TEXT REFERENCES nodes (id),
    name TEXT NOT NULL,
    sort_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    size BIGINT NOT NULL DEFAULT 0,
    content_hash TEXT,
    version_id TEXT,
    public_access TEXT NOT NULL DEFAULT 'none',
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    trashed_at BIGINT,
    trash_id TEXT,
    trash_path TEXT
);
CREATE UNIQUE INDEX nodes_live_name ON nodes (parent_id, name) WHERE trashed_at IS NULL;
-- One index per listing order (folders first, then the key, then the id as tie-breaker),
-- so that any page of any folder is an index range scan, never a sort.
CREATE INDEX nodes_by_name ON nodes (parent_id, kind DESC, sort_name, id) WHERE trashed_at IS NULL;
CREATE INDEX nodes_by_name_desc ON nodes (parent_id, kind DESC, sort_name DESC, id DESC) WHERE trashed_at IS NULL;
CREATE INDEX nodes_by_modified ON nodes (parent_id, kind DESC, modified_at, id) WHERE trashed_at IS NULL;
CREATE INDEX nodes_by_modified_desc ON nodes (parent_id, kind DESC, modified_at DESC, id DESC) WHERE trashed_at IS NULL;
CREATE INDEX nodes_by_size ON nodes (parent_id, kind DESC, size, id) WHERE trashed_at IS NULL;
CREATE INDEX nodes_by_size_desc ON nodes (parent_id, kind DESC, size DESC, id DESC) WHERE trashed_at IS NULL;
CREATE INDEX nodes_trash ON nodes (trash_id);
CREATE INDEX nodes_owner ON nodes (owner_id, trashed_at);

CREATE TABLE versions (
    id TEXT PRIMARY KEY NOT NULL,
    node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    size BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    blocks BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX versions_node ON versions (node_id, created_at);

CREATE TABLE blocks (
    hash BLOB PRIMARY KEY NOT NULL,
    size BIGINT NOT NULL,
    refcount BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    unreferenced_since BIGINT
);

CREATE TABLE quota_reservations (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bytes BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX quota_reservations_expiry ON quota_reservations (expires_at);
