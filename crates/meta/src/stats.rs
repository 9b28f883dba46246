//! Usage statistics: the counters triggers keep (migration 0017), a recount of them from the
//! data itself for `fsck`, and the daily usage snapshots behind the series.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use stratus_core::{CATEGORIES, CategoryUsage, DailyUsage, UserId};

use crate::{Db, Result, row::size};

/// `CASE … END` mapping a lowercased name to its category, from `stratus_core::CATEGORIES`:
/// the recount's own classification, independent of the triggers' `usage_categories` table.
fn category_case() -> String {
    let mut sql = String::from("CASE");
    for (category, exts) in CATEGORIES {
        let tests: Vec<String> = exts.iter().map(|e| format!("lower(name) LIKE '%.{e}'")).collect();
        sql.push_str(&format!(" WHEN {} THEN '{category}'", tests.join(" OR ")));
    }
    sql.push_str(" ELSE 'other' END");
    sql
}

/// The raw figures of one user.
#[derive(Debug, Clone, Default)]
pub struct UsageFigures {
    pub by_category: Vec<CategoryUsage>,
    pub folders: u64,
    pub trash_files: u64,
    pub trash_bytes: u64,
    pub versions: u64,
    pub version_bytes: u64,
}

/// One user's counters: bucket → (files, bytes).
type Counters = BTreeMap<String, (i64, i64)>;

impl UsageFigures {
    fn from_counters(counters: &Counters) -> Result<Self> {
        let get = |bucket: &str| counters.get(bucket).copied().unwrap_or_default();
        let by_category = CATEGORIES
            .iter()
            .map(|(c, _)| *c)
            .chain(["other"])
            .map(|c| {
                let (files, bytes) = get(c);
                Ok(CategoryUsage { category: c.to_string(), files: size(files)?, bytes: size(bytes)? })
            })
            .collect::<Result<_>>()?;
        let (all, all_bytes) = get("versions");
        let (current, current_bytes) = get("current");
        let (trash_files, trash_bytes) = get("trash");
        Ok(UsageFigures {
            by_category,
            folders: size(get("folders").0)?,
            trash_files: size(trash_files)?,
            trash_bytes: size(trash_bytes)?,
            // Never below zero, even if the counters drifted (fsck finds and fixes that).
            versions: size((all - current).max(0))?,
            version_bytes: size((all_bytes - current_bytes).max(0))?,
        })
    }
}

/// What a recount of the usage counters found.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageRecount {
    pub users: u64,
    /// Users whose counters differ from the recount (set right when repairing).
    pub mismatched: u64,
}

/// Users recounted per transaction.
const RECOUNT_BATCH: i64 = 50;

/// Deltas folded per transaction.
const FOLD_BATCH: i64 = 10_000;

/// The advisory lock of the fold on PostgreSQL (any constant no other code uses).
const FOLD_LOCK: i64 = 0x5354_5241_5455_5301;

/// A user's counters with the deltas not folded yet: (bucket, files, bytes). One statement, so
/// a fold committing meanwhile is seen whole or not at all.
const COUNTERS_OF_USER: &str = "SELECT bucket, CAST(SUM(files) AS BIGINT), CAST(SUM(bytes) AS BIGINT) FROM \
     (SELECT bucket, files, bytes FROM usage_counters WHERE user_id = $1 \
     UNION ALL SELECT bucket, files, bytes FROM usage_deltas WHERE user_id = $1) AS c GROUP BY bucket";

impl Db {
    /// A user's usage, read from the counters: a few rows, whatever the size of the drive.
    pub async fn usage(&self, user: UserId) -> Result<UsageFigures> {
        let rows: Vec<(String, i64, i64)> = on_db!(self, |pool| {
            sqlx::query_as(COUNTERS_OF_USER).bind(user.to_string()).fetch_all(pool).await?
        });
        let counters = rows.into_iter().map(|(b, f, n)| (b, (f, n))).collect();
        UsageFigures::from_counters(&counters)
    }

    /// Moves pending deltas into the counters, a batch at a time, one node at a time (on
    /// PostgreSQL others skip while one folds); returns the deltas folded.
    pub async fn fold_usage(&self) -> Result<u64> {
        let mut folded = 0;
        loop {
            let done = self.fold_usage_batch().await?;
            folded += done;
            if done < FOLD_BATCH as u64 {
                return Ok(folded);
            }
        }
    }

    async fn fold_usage_batch(&self) -> Result<u64> {
        Ok(in_tx!(self, |tx| {
            if matches!(self, Db::Postgres(_)) {
                let (mine,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(FOLD_LOCK)
                    .fetch_one(&mut *tx)
                    .await?;
                if !mine {
                    return Ok(0);
                }
            }
            // Exactly the rows deleted are added: a delta committed meanwhile waits its turn.
            let moved: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "DELETE FROM usage_deltas WHERE seq IN (SELECT seq FROM usage_deltas ORDER BY seq LIMIT $1) \
                 RETURNING user_id, bucket, files, bytes",
            )
            .bind(FOLD_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            let mut sums: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
            for (user, bucket, files, bytes) in &moved {
                let sum = sums.entry((user.clone(), bucket.clone())).or_default();
                *sum = (sum.0 + files, sum.1 + bytes);
            }
            for ((user, bucket), (files, bytes)) in &sums {
                // A deleted user's deltas (its deletion cascaded through its nodes) are dropped.
                sqlx::query(
                    "INSERT INTO usage_counters (user_id, bucket, files, bytes) \
                     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) \
                     ON CONFLICT (user_id, bucket) DO UPDATE SET files = usage_counters.files + excluded.files, \
                     bytes = usage_counters.bytes + excluded.bytes",
                )
                .bind(user)
                .bind(bucket)
                .bind(files)
                .bind(bytes)
                .execute(&mut *tx)
                .await?;
            }
            moved.len() as u64
        }))
    }

    /// Recounts every user's usage counters from the nodes and versions, in batches of users
    /// (each batch one consistent snapshot); with `repair`, adds to mismatched counters the
    /// difference to the recount.
    pub async fn recount_usage(&self, repair: bool) -> Result<UsageRecount> {
        let mut report = UsageRecount::default();
        let mut after = String::new();
        loop {
            let (users, mismatched) = self.recount_usage_batch(&after, repair).await?;
            let Some(last) = users.last() else { break };
            after = last.clone();
            report.users += users.len() as u64;
            report.mismatched += mismatched;
        }
        Ok(report)
    }

    async fn recount_usage_batch(&self, after: &str, repair: bool) -> Result<(Vec<String>, u64)> {
        let by_category = format!(
            "SELECT owner_id, {} AS bucket, COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM nodes \
             WHERE owner_id IN (SELECT value FROM batch) AND kind = 'file' AND trashed_at IS NULL \
             GROUP BY owner_id, bucket",
            category_case()
        );
        let others = [
            "SELECT owner_id, 'folders', COUNT(*), CAST(0 AS BIGINT) FROM nodes WHERE owner_id IN (SELECT value FROM batch) \
             AND kind = 'folder' AND trashed_at IS NULL AND parent_id IS NOT NULL GROUP BY owner_id",
            "SELECT owner_id, 'trash', COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM nodes \
             WHERE owner_id IN (SELECT value FROM batch) AND kind = 'file' AND trashed_at IS NOT NULL \
             GROUP BY owner_id",
            "SELECT owner_id, 'current', COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM nodes \
             WHERE owner_id IN (SELECT value FROM batch) AND kind = 'file' AND version_id IS NOT NULL \
             GROUP BY owner_id",
            "SELECT n.owner_id, 'versions', COUNT(*), CAST(COALESCE(SUM(v.size), 0) AS BIGINT) \
             FROM versions v JOIN nodes n ON n.id = v.node_id \
             WHERE n.owner_id IN (SELECT value FROM batch) GROUP BY n.owner_id",
        ];
        let recount_sql = std::iter::once(by_category.as_str())
            .chain(others)
            .map(|q| format!("WITH batch (value) AS (SELECT id FROM users WHERE id >= $1 AND id <= $2) {q}"))
            .collect::<Vec<_>>();
        let correction = if matches!(self, Db::Postgres(_)) {
            "INSERT INTO usage_deltas (user_id, bucket, files, bytes) VALUES ($1, $2, $3, $4)"
        } else {
            "INSERT INTO usage_deltas (seq, user_id, bucket, files, bytes) \
             SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4 FROM usage_deltas"
        };
        Ok(in_tx!(self, |tx| {
            // One snapshot for the whole batch: the nodes, the counters and the deltas their
            // changes appended agree (SQLite holds its write lock; PostgreSQL reads a repeatable
            // snapshot and takes no lock, so writers are never held up).
            if matches!(self, Db::Postgres(_)) {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
            }
            let users: Vec<(String,)> =
                sqlx::query_as("SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(RECOUNT_BATCH)
                    .fetch_all(&mut *tx)
                    .await?;
            let users: Vec<String> = users.into_iter().map(|(id,)| id).collect();
            let (Some(first), Some(last)) = (users.first(), users.last()) else {
                return Ok((users, 0));
            };
            let mut stored: BTreeMap<String, Counters> = BTreeMap::new();
            let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "SELECT user_id, bucket, CAST(SUM(files) AS BIGINT), CAST(SUM(bytes) AS BIGINT) FROM \
                 (SELECT user_id, bucket, files, bytes FROM usage_counters WHERE user_id >= $1 AND user_id <= $2 \
                 UNION ALL SELECT user_id, bucket, files, bytes FROM usage_deltas \
                 WHERE user_id >= $1 AND user_id <= $2) AS c GROUP BY user_id, bucket",
            )
            .bind(first)
            .bind(last)
            .fetch_all(&mut *tx)
            .await?;
            for (user, bucket, files, bytes) in rows {
                stored.entry(user).or_default().insert(bucket, (files, bytes));
            }
            let mut counted: BTreeMap<String, Counters> = BTreeMap::new();
            for sql in &recount_sql {
                let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(first)
                    .bind(last)
                    .fetch_all(&mut *tx)
                    .await?;
                for (user, bucket, files, bytes) in rows {
                    counted.entry(user).or_default().insert(bucket, (files, bytes));
                }
            }
            let mut mismatched = 0;
            for user in &users {
                let empty = Counters::new();
                let have = stored.get(user).unwrap_or(&empty);
                let want = counted.get(user).unwrap_or(&empty);
                // Buckets present in either, a missing one counting as zero.
                let buckets: std::collections::BTreeSet<&String> = have.keys().chain(want.keys()).collect();
                let wrong: Vec<(&String, (i64, i64))> = buckets
                    .into_iter()
                    .filter_map(|b| {
                        let (h, w) = (
                            have.get(b).copied().unwrap_or_default(),
                            want.get(b).copied().unwrap_or_default(),
                        );
                        (h != w).then_some((b, (w.0 - h.0, w.1 - h.1)))
                    })
                    .collect();
                if wrong.is_empty() {
                    continue;
                }
                mismatched += 1;
                if repair {
                    // Every bucket's row, in case some went missing; then the difference, as a
                    // delta: added to whatever the counters hold by then, never overwriting it.
                    sqlx::query(
                        "INSERT INTO usage_counters (user_id, bucket) SELECT $1, bucket FROM usage_buckets \
                         WHERE true ON CONFLICT (user_id, bucket) DO NOTHING",
                    )
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                    for (bucket, (files, bytes)) in wrong {
                        sqlx::query(correction)
                            .bind(user)
                            .bind(bucket)
                            .bind(files)
                            .bind(bytes)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            (users, mismatched)
        }))
    }

    /// Records every user's usage (quota used, live files) for `day`, replacing that day's.
    /// (`WHERE true` resolves SQLite's parsing ambiguity of `INSERT … SELECT … ON CONFLICT`.)
    pub async fn snapshot_usage(&self, day: NaiveDate) -> Result<u64> {
        let day = day.format("%Y-%m-%d").to_string();
        Ok(on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO usage_daily (user_id, day, bytes, files) \
                 SELECT u.id, $1, u.quota_used, (SELECT COALESCE(SUM(c.files), 0) FROM (SELECT user_id, bucket, files \
                 FROM usage_counters UNION ALL SELECT user_id, bucket, files FROM usage_deltas) AS c \
                 WHERE c.user_id = u.id AND c.bucket IN (SELECT category FROM usage_categories \
                 UNION SELECT 'other')) FROM users u \
                 WHERE true ON CONFLICT (user_id, day) DO UPDATE SET bytes = excluded.bytes, files = excluded.files",
            )
            .bind(&day)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// A user's daily snapshots from `since` on, oldest first.
    pub async fn daily_usage(&self, user: UserId, since: DateTime<Utc>) -> Result<Vec<DailyUsage>> {
        let rows: Vec<(String, i64, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT day, bytes, files FROM usage_daily WHERE user_id = $1 AND day >= $2 ORDER BY day",
            )
            .bind(user.to_string())
            .bind(since.format("%Y-%m-%d").to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(day, bytes, files)| Ok(DailyUsage { day, bytes: size(bytes)?, files: size(files)? }))
            .collect()
    }

    /// System totals: users, logical bytes (every version), distinct referenced blocks, their
    /// bytes, and the bytes of the versions kept inline.
    pub async fn system_totals(&self) -> Result<(u64, u64, u64, u64, u64)> {
        let (users, logical, blocks, stored, inline): (i64, i64, i64, i64, i64) = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM users), \
                 (SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM (SELECT bucket, bytes FROM usage_counters \
                 UNION ALL SELECT bucket, bytes FROM usage_deltas) AS c WHERE bucket = 'versions'), \
                 (SELECT COUNT(*) FROM blocks WHERE refcount > 0), \
                 (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blocks WHERE refcount > 0), \
                 (SELECT CAST(COALESCE(SUM(v.size), 0) AS BIGINT) FROM version_data d \
                  JOIN versions v ON v.id = d.version_id)",
            )
            .fetch_one(pool)
            .await?
        });
        Ok((size(users)?, size(logical)?, size(blocks)?, size(stored)?, size(inline)?))
    }
}
