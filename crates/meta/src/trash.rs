//! The trash. Deleting marks a node and its live subtree with the deleted node's id
//! (`trash_id`); only that top node is listed, and restoring or purging it acts on all of it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use stratus_core::{BlockHash, Node, NodeId, NodeKind, NodeName, TrashItem, UserId};

use crate::{
    Db, MetaError, Result,
    row::{NodeRow, decode_blocks, id, ms, node_columns, size, time},
};

/// What purging freed.
#[derive(Debug, Default, Clone)]
pub struct Purged {
    /// Bytes no longer counted against the owner's quota.
    pub bytes: u64,
    /// Blocks whose last reference went away; the GC deletes them after its grace period.
    pub unreferenced: Vec<BlockHash>,
}

impl Db {
    /// Moves `node` and its live subtree to the trash, remembering where it lived.
    pub async fn trash_node(&self, node: &Node, original_path: &str, now: DateTime<Utc>) -> Result<()> {
        let target = node.id.to_string();
        in_tx!(self, |tx| {
            if trash_in_tx!(tx, &target, now, original_path) == 0 {
                return Err(MetaError::NotFound);
            }
        });
        Ok(())
    }

    /// The top-level items of `owner`'s trash, newest first.
    pub async fn trash(&self, owner: UserId) -> Result<Vec<TrashItem>> {
        type Row = (String, String, String, Option<String>, Option<i64>, i64);
        let rows: Vec<Row> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT n.id, n.name, n.kind, n.trash_path, n.trashed_at, \
                 CAST(COALESCE((SELECT SUM(x.size) FROM nodes x WHERE x.trash_id = n.id \
                 AND x.kind = 'file'), 0) AS BIGINT) FROM nodes n \
                 WHERE n.owner_id = $1 AND n.trashed_at IS NOT NULL AND n.trash_id = n.id \
                 ORDER BY n.trashed_at DESC, n.id",
            )
            .bind(owner.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(node, name, kind, path, trashed_at, bytes)| {
                Ok(TrashItem {
                    id: id(&node)?,
                    name,
                    kind: NodeKind::parse(&kind).ok_or_else(|| MetaError::corrupt(&kind))?,
                    size: size(bytes)?,
                    original_path: path.unwrap_or_else(|| "/".into()),
                    trashed_at: time(trashed_at.unwrap_or_default())?,
                })
            })
            .collect()
    }

    /// One top-level trash item of `owner`, with the path it was deleted from.
    pub async fn trash_item(&self, owner: UserId, item: NodeId) -> Result<(Node, String)> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            node: NodeRow,
            trash_path: Option<String>,
        }
        let row: Row = on_db!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                node_columns!(),
                ", trash_path FROM nodes ",
                "WHERE id = $1 AND owner_id = $2 AND trash_id = id"
            ))
            .bind(item.to_string())
            .bind(owner.to_string())
            .fetch_one(pool)
            .await?
        });
        Ok((row.node.try_into()?, row.trash_path.unwrap_or_else(|| "/".into())))
    }

    /// Brings a trash item and its subtree back, as `name` inside the live folder `parent`.
    pub async fn restore(&self, item: NodeId, parent: NodeId, name: &NodeName) -> Result<()> {
        let target = item.to_string();
        in_tx!(self, |tx| {
            // The drive's tree lock, as every tree change takes it.
            sqlx::query(
                "UPDATE users SET quota_used = quota_used WHERE id = (SELECT owner_id FROM nodes WHERE id = $1)",
            )
            .bind(&target)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE nodes SET parent_id = $2, name = $3, sort_name = $4 WHERE id = $1")
                .bind(&target)
                .bind(parent.to_string())
                .bind(name.as_str())
                .bind(name.sort_key())
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(
                "UPDATE nodes SET trashed_at = NULL, trash_id = NULL, trash_path = NULL \
                 WHERE trash_id = $1",
            )
            .bind(&target)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Err(MetaError::NotFound);
            }
        });
        Ok(())
    }

    /// Deletes a trash item and what was trashed with it for good: versions go, block
    /// references drop (blocks reaching zero are returned for the GC), and the quota is given
    /// back. Items inside it that were trashed on their own before stay in the trash, detached
    /// (they restore to their remembered path).
    pub async fn purge(&self, owner: UserId, item: NodeId, now: DateTime<Utc>) -> Result<Purged> {
        let target = item.to_string();
        let owner = owner.to_string();
        in_tx!(self, |tx| {
            let is_item: Option<(i32,)> =
                sqlx::query_as("SELECT 1 FROM nodes WHERE id = $1 AND owner_id = $2 AND trash_id = id")
                    .bind(&target)
                    .bind(&owner)
                    .fetch_optional(&mut *tx)
                    .await?;
            if is_item.is_none() {
                return Err(MetaError::NotFound);
            }
            let (bytes,): (i64,) = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM nodes \
                 WHERE kind = 'file' AND trash_id = $1",
            )
            .bind(&target)
            .fetch_one(&mut *tx)
            .await?;
            // The owner's row before any block row, in the order commits take them.
            sqlx::query("UPDATE users SET quota_used = quota_used - $1 WHERE id = $2")
                .bind(bytes)
                .bind(&owner)
                .execute(&mut *tx)
                .await?;
            let lists: Vec<(Vec<u8>,)> = sqlx::query_as(
                "SELECT blocks FROM versions WHERE node_id IN (SELECT id FROM nodes WHERE trash_id = $1)",
            )
            .bind(&target)
            .fetch_all(&mut *tx)
            .await?;
            // Block rows are always taken in hash order, so transactions never wait in a cycle.
            let mut drops: BTreeMap<BlockHash, i64> = BTreeMap::new();
            for (list,) in &lists {
                for hash in decode_blocks(list)? {
                    *drops.entry(hash).or_default() += 1;
                }
            }
            let mut unreferenced = Vec::new();
            for (hash, count) in drops {
                let left: Option<(i64,)> = sqlx::query_as(
                    "UPDATE blocks SET refcount = refcount - $2, unreferenced_since = \
                     CASE WHEN refcount - $2 <= 0 THEN $3 ELSE unreferenced_since END \
                     WHERE hash = $1 RETURNING refcount",
                )
                .bind(&hash.0[..])
                .bind(count)
                .bind(ms(now))
                .fetch_optional(&mut *tx)
                .await?;
                if matches!(left, Some((n,)) if n <= 0) {
                    unreferenced.push(hash);
                }
            }
            sqlx::query("DELETE FROM versions WHERE node_id IN (SELECT id FROM nodes WHERE trash_id = $1)")
                .bind(&target)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE nodes SET parent_id = NULL WHERE trash_id = id AND id <> $1 \
                 AND parent_id IN (SELECT id FROM nodes WHERE trash_id = $1)",
            )
            .bind(&target)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM nodes WHERE trash_id = $1").bind(&target).execute(&mut *tx).await?;
            Ok(Purged { bytes: size(bytes)?, unreferenced })
        })
    }
}
