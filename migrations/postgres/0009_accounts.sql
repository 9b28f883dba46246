-- Account lifecycle: verified emails, profiles, plans, one-time tokens (email verification
-- and password reset), OpenID Connect identities and login states, throttling counters,
-- payments and the audit log. Everything a node would otherwise keep in memory lives here,
-- so several nodes agree.

ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN plan_gb BIGINT;
ALTER TABLE users ADD COLUMN photo_type TEXT;
ALTER TABLE users ADD COLUMN photo BYTEA;
ALTER TABLE users ADD COLUMN last_login_at BIGINT;

-- Single-use tokens sent by mail: only their SHA-256 is kept.
CREATE TABLE account_tokens (
    secret_hash BYTEA PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

CREATE TABLE oidc_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);

-- A login under way at the identity provider: state (hashed), nonce and PKCE verifier.
CREATE TABLE oidc_states (
    state_hash BYTEA PRIMARY KEY NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Rate-limit windows and consecutive failures, by key (e.g. "login:ip:127.0.0.1").
CREATE TABLE throttle (
    key TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    failures BIGINT NOT NULL DEFAULT 0,
    last_failure BIGINT
);

CREATE TABLE payments (
    reference TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    gb BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    authorization_url TEXT,
    created_at BIGINT NOT NULL,
    paid_at BIGINT
);
CREATE INDEX payments_user ON payments (user_id, created_at);

CREATE TABLE audit_log (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    actor_id TEXT,
    actor TEXT,
    action TEXT NOT NULL,
    target TEXT,
    ip TEXT,
    success BOOLEAN NOT NULL,
    detail TEXT
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
