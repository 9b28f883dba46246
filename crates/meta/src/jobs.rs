//! Job leases and run records, and the sweeps the jobs perform.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use stratus_core::{BlockHash, JobRun, NodeId, UserId, VersionId};

use crate::{
    Db, Result,
    row::{decode_blocks, id, ms, size, time},
};

type RunRow = (String, String, String, i64, Option<i64>, String, i64, Option<String>);

fn run((run, name, holder, started, finished, outcome, items, detail): RunRow) -> Result<JobRun> {
    Ok(JobRun {
        id: id(&run)?,
        name,
        holder,
        started_at: time(started)?,
        finished_at: finished.map(time).transpose()?,
        outcome,
        items: size(items)?,
        detail,
    })
}

impl Db {
    /// Takes (or renews) the lease on job `name` for `holder` until `until`, unless another
    /// holder has an unexpired one. True when `holder` now holds it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE job_leases.expires_at < $4 OR job_leases.holder = excluded.holder",
            )
            .bind(name)
            .bind(holder)
            .bind(ms(until))
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("DELETE FROM job_leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn start_run(
        &self,
        run: VersionId,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO job_runs (id, name, holder, started_at, outcome) VALUES ($1, $2, $3, $4, 'running')",
            )
            .bind(run.to_string())
            .bind(name)
            .bind(holder)
            .bind(ms(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn finish_run(
        &self,
        run: VersionId,
        now: DateTime<Utc>,
        ok: bool,
        items: u64,
        detail: Option<&str>,
    ) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "UPDATE job_runs SET finished_at = $2, outcome = $3, items = $4, detail = $5 WHERE id = $1",
            )
            .bind(run.to_string())
            .bind(ms(now))
            .bind(if ok { "ok" } else { "failed" })
            .bind(i64::try_from(items).unwrap_or(i64::MAX))
            .bind(detail)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records how far a running job has got.
    pub async fn progress_run(&self, run: VersionId, items: u64, detail: &str) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE job_runs SET items = $2, detail = $3 WHERE id = $1 AND outcome = 'running'")
                .bind(run.to_string())
                .bind(i64::try_from(items).unwrap_or(i64::MAX))
                .bind(detail)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The most recent runs, newest first.
    pub async fn job_runs(&self, limit: u32) -> Result<Vec<JobRun>> {
        let rows: Vec<RunRow> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, holder, started_at, finished_at, outcome, items, detail FROM job_runs \
                 ORDER BY started_at DESC, id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(run).collect()
    }

    /// The latest run of job `name`, if it ever ran.
    pub async fn last_job_run(&self, name: &str) -> Result<Option<JobRun>> {
        let row: Option<RunRow> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, holder, started_at, finished_at, outcome, items, detail FROM job_runs \
                 WHERE name = $1 ORDER BY started_at DESC, id DESC LIMIT 1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await?
        });
        row.map(run).transpose()
    }

    /// Top-level trash items, of every user, trashed before `before`.
    pub async fn trash_older_than(&self, before: DateTime<Utc>) -> Result<Vec<(UserId, NodeId)>> {
        let rows: Vec<(String, String)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT owner_id, id FROM nodes WHERE trash_id = id AND trashed_at < $1")
                .bind(ms(before))
                .fetch_all(pool)
                .await?
        });
        rows.iter().map(|(u, n)| Ok((id(u)?, id(n)?))).collect()
    }

    /// Deletes links that expired before `now`.
    pub async fn delete_expired_links(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(on_db!(self, |pool| {
            sqlx::query("DELETE FROM links WHERE expires_at IS NOT NULL AND expires_at < $1")
                .bind(ms(now))
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// Deletes old versions: beyond the `keep` newest of each file, or created before
    /// `before`; never a file's current version. Their blocks lose a reference each. Works
    /// through the files with older versions in batches, in id order, one transaction each:
    /// memory and transaction size stay bounded however many versions the drive holds.
    pub async fn prune_versions(&self, keep: u32, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64> {
        let mut after = String::new();
        let mut pruned = 0;
        loop {
            let (last, deleted) = self.prune_versions_batch(&after, keep, before, now).await?;
            pruned += deleted;
            match last {
                Some(last) => after = last,
                None => return Ok(pruned),
            }
        }
    }

    /// One batch of `prune_versions`: the files after `after` that have more than one version.
    /// Returns the last file looked at (`None` when there are no more) and the versions deleted.
    async fn prune_versions_batch(
        &self,
        after: &str,
        keep: u32,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Option<String>, u64)> {
        Ok(in_tx!(self, |tx| {
            let files: Vec<(String,)> = sqlx::query_as(
                "SELECT node_id FROM versions WHERE node_id > $1 GROUP BY node_id HAVING COUNT(*) > 1 \
                 ORDER BY node_id LIMIT $2",
            )
            .bind(after)
            .bind(PRUNE_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            let (Some((first,)), Some((last,))) = (files.first(), files.last()) else {
                return Ok((None, 0));
            };
            let gone: Vec<(Vec<u8>,)> = sqlx::query_as(
                "DELETE FROM versions WHERE id IN (SELECT v.id FROM (SELECT id, node_id, created_at, \
                 ROW_NUMBER() OVER (PARTITION BY node_id ORDER BY created_at DESC, id DESC) AS rank \
                 FROM versions WHERE node_id >= $1 AND node_id <= $2) v JOIN nodes n ON n.id = v.node_id \
                 WHERE v.id <> n.version_id AND (v.rank > $3 OR v.created_at < $4)) RETURNING blocks",
            )
            .bind(first)
            .bind(last)
            .bind(i64::from(keep))
            .bind(ms(before))
            .fetch_all(&mut *tx)
            .await?;
            // Every reference the deleted versions held, dropped in hash order: block rows are
            // always taken in hash order, so transactions never wait in a cycle.
            let mut drops: BTreeMap<BlockHash, i64> = BTreeMap::new();
            for (blocks,) in &gone {
                for hash in decode_blocks(blocks)? {
                    *drops.entry(hash).or_default() += 1;
                }
            }
            for (hash, count) in &drops {
                sqlx::query(
                    "UPDATE blocks SET refcount = refcount - $2, unreferenced_since = \
                     CASE WHEN refcount - $2 <= 0 THEN $3 ELSE unreferenced_since END WHERE hash = $1",
                )
                .bind(&hash.0[..])
                .bind(*count)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            }
            (Some(last.clone()), gone.len() as u64)
        }))
    }
}

/// Files per transaction of the version-retention sweep.
const PRUNE_BATCH: i64 = 500;
