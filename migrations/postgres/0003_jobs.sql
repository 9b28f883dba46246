-- Background jobs: a lease per job (one node runs it at a time) and a record of every run.

CREATE TABLE job_leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE job_runs (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    holder TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    outcome TEXT NOT NULL,
    items BIGINT NOT NULL DEFAULT 0,
    detail TEXT
);
CREATE INDEX job_runs_name ON job_runs (name, started_at);
