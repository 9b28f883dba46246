//! Usage statistics, computed from the data itself (so they always equal a recount), and the
//! daily usage snapshots behind the series.

use chrono::{DateTime, NaiveDate, Utc};
use stratus_core::{CATEGORIES, CategoryUsage, DailyUsage, UserId};

use crate::{Db, Result, row::size};

/// `CASE … END` mapping a lowercased name to its category, from `stratus_core::CATEGORIES`.
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

/// Rows of the usage queries: by category, folders, trash (count, bytes), versions (count, bytes).
type Figures = (Vec<(String, i64, i64)>, (i64,), (i64, i64), (i64, i64));

impl Db {
    pub async fn usage(&self, user: UserId) -> Result<UsageFigures> {
        let owner = user.to_string();
        let by_category_sql = format!(
            "SELECT {} AS category, COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM nodes \
             WHERE owner_id = $1 AND kind = 'file' AND trashed_at IS NULL GROUP BY 1",
            category_case()
        );
        let (rows, folders, trash, versions): Figures = on_db!(self, |pool| {
            let rows =
                sqlx::query_as(sqlx::AssertSqlSafe(by_category_sql)).bind(&owner).fetch_all(pool).await?;
            let folders = sqlx::query_as(
                "SELECT COUNT(*) FROM nodes WHERE owner_id = $1 AND kind = 'folder' AND trashed_at IS NULL \
                 AND parent_id IS NOT NULL",
            )
            .bind(&owner)
            .fetch_one(pool)
            .await?;
            let trash = sqlx::query_as(
                "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM nodes \
                 WHERE owner_id = $1 AND kind = 'file' AND trashed_at IS NOT NULL",
            )
            .bind(&owner)
            .fetch_one(pool)
            .await?;
            let versions = sqlx::query_as(
                "SELECT COUNT(*), CAST(COALESCE(SUM(v.size), 0) AS BIGINT) FROM versions v \
                 JOIN nodes n ON n.id = v.node_id WHERE n.owner_id = $1 AND v.id <> n.version_id",
            )
            .bind(&owner)
            .fetch_one(pool)
            .await?;
            (rows, folders, trash, versions)
        });
        let mut by_category: Vec<CategoryUsage> = CATEGORIES
            .iter()
            .map(|(c, _)| *c)
            .chain(["other"])
            .map(|c| CategoryUsage { category: c.to_string(), files: 0, bytes: 0 })
            .collect();
        for (category, files, bytes) in rows {
            if let Some(entry) = by_category.iter_mut().find(|e| e.category == category) {
                entry.files = size(files)?;
                entry.bytes = size(bytes)?;
            }
        }
        Ok(UsageFigures {
            by_category,
            folders: size(folders.0)?,
            trash_files: size(trash.0)?,
            trash_bytes: size(trash.1)?,
            versions: size(versions.0)?,
            version_bytes: size(versions.1)?,
        })
    }

    /// Records every user's usage (quota used, live files) for `day`, replacing that day's.
    /// (`WHERE true` resolves SQLite's parsing ambiguity of `INSERT … SELECT … ON CONFLICT`.)
    pub async fn snapshot_usage(&self, day: NaiveDate) -> Result<u64> {
        let day = day.format("%Y-%m-%d").to_string();
        Ok(on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO usage_daily (user_id, day, bytes, files) \
                 SELECT u.id, $1, u.quota_used, (SELECT COUNT(*) FROM nodes n WHERE n.owner_id = u.id \
                 AND n.kind = 'file' AND n.trashed_at IS NULL) FROM users u \
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

    /// System totals: users, logical bytes (every version), distinct referenced blocks and
    /// their bytes.
    pub async fn system_totals(&self) -> Result<(u64, u64, u64, u64)> {
        let (users, logical, blocks, stored): (i64, i64, i64, i64) = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM users), \
                 (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM versions), \
                 (SELECT COUNT(*) FROM blocks WHERE refcount > 0), \
                 (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blocks WHERE refcount > 0)",
            )
            .fetch_one(pool)
            .await?
        });
        Ok((size(users)?, size(logical)?, size(blocks)?, size(stored)?))
    }
}
