//! Folder tags (migration 0021): each folder's count of the changes below it, its ETag. The
//! triggers keep them; on PostgreSQL they append to `tree_deltas`, which every node read adds
//! to the folder's own `tree_tag`, and this fold moves into it.

use crate::{Db, Result};

/// Folders taken per round of the fold, the oldest pending first.
const FOLD_FOLDERS: i64 = 500;

/// Rounds per fold at most: a backlog left is folded with the next heartbeat.
const FOLD_ROUNDS: usize = 20;

impl Db {
    /// Moves pending tree deltas into their folders' tags (PostgreSQL; SQLite's triggers
    /// update the tags at once), the folders whose deltas are oldest first. Returns the deltas
    /// folded.
    pub async fn fold_tree_tags(&self) -> Result<u64> {
        if !matches!(self, Db::Postgres(_)) {
            return Ok(0);
        }
        let mut folded = 0;
        for _ in 0..FOLD_ROUNDS {
            let folders: Vec<(String,)> = on_db!(self, |pool| {
                sqlx::query_as(
                    "SELECT tag_folder FROM tree_deltas GROUP BY tag_folder ORDER BY MIN(seq) LIMIT $1",
                )
                .bind(FOLD_FOLDERS)
                .fetch_all(pool)
                .await?
            });
            let mut moved = 0;
            for (folder,) in &folders {
                moved += self.fold_tree_tag(folder).await?;
            }
            folded += moved;
            if folders.len() < FOLD_FOLDERS as usize || moved == 0 {
                break;
            }
        }
        Ok(folded)
    }

    /// One folder's fold, in a transaction of its own. A folder row another transaction holds
    /// (a rename) is skipped until the next fold; `FOR NO KEY UPDATE` does not conflict with
    /// the key-share lock each insert of a child takes, so no writer waits for this.
    async fn fold_tree_tag(&self, folder: &str) -> Result<u64> {
        Ok(in_tx!(self, |tx| {
            let (exists,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM nodes WHERE id = $1)")
                .bind(folder)
                .fetch_one(&mut *tx)
                .await?;
            let locked: Option<(String,)> = if exists {
                sqlx::query_as("SELECT id FROM nodes WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED")
                    .bind(folder)
                    .fetch_optional(&mut *tx)
                    .await?
            } else {
                // The folder was purged: its deltas count for nothing.
                sqlx::query("DELETE FROM tree_deltas WHERE tag_folder = $1")
                    .bind(folder)
                    .execute(&mut *tx)
                    .await?;
                None
            };
            match locked {
                // Exactly the rows deleted are added, so a read sees the same sum before and after.
                Some(_) => {
                    let (moved,): (i64,) = sqlx::query_as(
                        "WITH gone AS (DELETE FROM tree_deltas WHERE tag_folder = $1 RETURNING 1), \
                         counted AS (SELECT COUNT(*) AS n FROM gone), \
                         bumped AS (UPDATE nodes SET tree_tag = tree_tag + (SELECT n FROM counted) \
                         WHERE id = $1) SELECT n FROM counted",
                    )
                    .bind(folder)
                    .fetch_one(&mut *tx)
                    .await?;
                    u64::try_from(moved).unwrap_or(0)
                }
                None => 0,
            }
        }))
    }
}
