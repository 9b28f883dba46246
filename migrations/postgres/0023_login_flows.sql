-- Login Flow v2, how Nextcloud's desktop and mobile apps sign in: the app starts a flow, opens
-- the login URL in a browser where the user grants access, and polls until it receives an app
-- password. Both tokens are stored hashed; the app password is made at the poll that takes it.
CREATE TABLE login_flows (
    poll_hash BYTEA PRIMARY KEY NOT NULL,
    login_hash BYTEA NOT NULL UNIQUE,
    client TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_flows_expiry ON login_flows (expires_at);
