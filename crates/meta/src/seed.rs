//! Filling a drive fast, for the scale benchmark (`stratus-scale`): rows written straight into
//! the real schema, many per statement, so that a million files take seconds, not hours.

use chrono::{DateTime, Utc};
use stratus_core::{NodeId, UserId};

use crate::{Db, Result, row::ms};

/// Rows per INSERT (9 values each: far below both engines' limits on bound values).
const ROWS: usize = 1000;

impl Db {
    /// Adds the files named `{prefix}{i:08}.bin` for every i in `numbers`, of `size` bytes each, into
    /// `parent`, owned by `owner`: node rows only (no blocks, no versions), which is what
    /// listing, search, trash and the statistics read. For benchmarks, never for users.
    pub async fn seed_files(
        &self,
        owner: UserId,
        parent: NodeId,
        prefix: &str,
        numbers: std::ops::Range<u64>,
        size: u64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (owner, parent, at) = (owner.to_string(), parent.to_string(), ms(now));
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let mut i = numbers.start;
        while i < numbers.end {
            let batch: Vec<u64> = (i..(i + ROWS as u64).min(numbers.end)).collect();
            i += batch.len() as u64;
            let names: Vec<String> = batch.iter().map(|n| format!("{prefix}{n:08}.bin")).collect();
            let mut sql = String::from(
                "INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, size, created_at, modified_at) VALUES ",
            );
            for row in 0..batch.len() {
                let b = row * 7;
                if row > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, 'file', ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 7
                ));
            }
            in_tx!(self, |tx| {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for name in &names {
                    query = query
                        .bind(NodeId::new().to_string())
                        .bind(&owner)
                        .bind(&parent)
                        .bind(name)
                        .bind(name.to_lowercase())
                        .bind(size)
                        .bind(at);
                }
                query.execute(&mut *tx).await?;
            });
        }
        Ok(())
    }

    /// Vacuums PostgreSQL and refreshes its planner statistics, as its autovacuum does on its
    /// own a while after a bulk change (the benchmark measures that steady state at once,
    /// rather than racing the autovacuum of a freshly seeded table; it also merges the
    /// trigram index's pending list). SQLite keeps no statistics unless asked, and Stratus
    /// never asks, so it is left as users run it.
    pub async fn analyze(&self) -> Result<()> {
        if let Self::Postgres(pool) = self {
            sqlx::query("VACUUM (ANALYZE)").execute(pool).await?;
        }
        Ok(())
    }
}
