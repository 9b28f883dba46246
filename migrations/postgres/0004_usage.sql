-- A daily snapshot of each user's usage, for the usage-over-time series.

CREATE TABLE usage_daily (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    files BIGINT NOT NULL,
    PRIMARY KEY (user_id, day)
);
