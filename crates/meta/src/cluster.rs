//! Many nodes as one: heartbeats, the reservations a dead node leaves, and the job schedule
//! every node claims from.

use chrono::{DateTime, Utc};
use stratus_core::VersionId;

use crate::{
    Db, Result,
    row::{id, ms, time},
};

/// A server process sharing the database, as its heartbeat row says.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
}

/// A job's place in the schedule.
#[derive(Debug, Clone)]
pub struct ScheduledJob {
    pub name: String,
    pub every_secs: u64,
    pub next_due_at: DateTime<Utc>,
}

impl Db {
    /// Records that node `node` is alive at `now` (its first beat records its start).
    pub async fn heartbeat(&self, node: &str, now: DateTime<Utc>) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO cluster_nodes (id, started_at, seen_at) VALUES ($1, $2, $2) \
                 ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .bind(node)
            .bind(ms(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The nodes seen since `since`, oldest first.
    pub async fn cluster_nodes(&self, since: DateTime<Utc>) -> Result<Vec<ClusterNode>> {
        let rows: Vec<(String, i64, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, started_at, seen_at FROM cluster_nodes WHERE seen_at >= $1 ORDER BY started_at, id",
            )
            .bind(ms(since))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, started, seen)| {
                Ok(ClusterNode { id, started_at: time(started)?, seen_at: time(seen)? })
            })
            .collect()
    }

    /// Gives back the reservations of nodes whose last heartbeat is older than `alive_after`
    /// (they died mid-upload), and forgets nodes silent since `forget_before`. Returns how
    /// many reservations went.
    pub async fn release_dead_reservations(
        &self,
        alive_after: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<u64> {
        let dead: Vec<(String,)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id FROM quota_reservations WHERE node_id IS NOT NULL AND node_id NOT IN \
                 (SELECT id FROM cluster_nodes WHERE seen_at >= $1) LIMIT 1000",
            )
            .bind(ms(alive_after))
            .fetch_all(pool)
            .await?
        });
        for (reservation,) in &dead {
            let reservation: VersionId = id(reservation)?;
            self.release_quota(reservation).await?;
        }
        on_db!(self, |pool| {
            sqlx::query("DELETE FROM cluster_nodes WHERE seen_at < $1")
                .bind(ms(forget_before))
                .execute(pool)
                .await?;
        });
        Ok(dead.len() as u64)
    }

    /// Puts job `name` in the schedule (first due at `first_due`), or updates its interval;
    /// its due time is kept. Safe to run from every node at once.
    pub async fn schedule_job(&self, name: &str, every_secs: u64, first_due: DateTime<Utc>) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO job_schedule (name, every_secs, next_due_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET every_secs = excluded.every_secs",
            )
            .bind(name)
            .bind(i64::try_from(every_secs).unwrap_or(i64::MAX))
            .bind(ms(first_due))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Claims the run of job `name` that is due at `now`: its due time moves to `next`, in one
    /// conditional UPDATE, so of all the nodes asking only one gets each run.
    pub async fn claim_due_job(&self, name: &str, now: DateTime<Utc>, next: DateTime<Utc>) -> Result<bool> {
        let done = on_db!(self, |pool| {
            sqlx::query("UPDATE job_schedule SET next_due_at = $3 WHERE name = $1 AND next_due_at <= $2")
                .bind(name)
                .bind(ms(now))
                .bind(ms(next))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Every scheduled job, by name.
    pub async fn job_schedule(&self) -> Result<Vec<ScheduledJob>> {
        let rows: Vec<(String, i64, i64)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT name, every_secs, next_due_at FROM job_schedule ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(name, every, due)| {
                Ok(ScheduledJob {
                    name,
                    every_secs: u64::try_from(every).unwrap_or(0),
                    next_due_at: time(due)?,
                })
            })
            .collect()
    }
}
