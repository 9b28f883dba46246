-- Many nodes as one. Each server process keeps a heartbeat row; the quota it reserves for an
-- upload in flight names it, so a node that dies gives its reservations back as soon as the
-- others see its heartbeat stop. Periodic jobs are scheduled here, not by per-node timers: a
-- node runs a job only after moving its due time forward with a conditional UPDATE, so each
-- job runs once per interval across the cluster.
CREATE TABLE cluster_nodes (
    id TEXT PRIMARY KEY NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);

ALTER TABLE quota_reservations ADD COLUMN node_id TEXT;
CREATE INDEX quota_reservations_node ON quota_reservations (node_id) WHERE node_id IS NOT NULL;

CREATE TABLE job_schedule (
    name TEXT PRIMARY KEY NOT NULL,
    every_secs BIGINT NOT NULL,
    next_due_at BIGINT NOT NULL
);
