//! WebDAV's state: dead properties per node, and locks on nodes (a path kept for the answers).

use chrono::{DateTime, Utc};
use stratus_core::{NodeId, UserId};

use crate::{
    Db, Result,
    row::{ms, time},
};

/// A WebDAV lock on a node (at a path of the locking user's drive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavLock {
    pub token: String,
    pub user: UserId,
    /// The locked node (`None` for locks taken before locks had nodes).
    pub node: Option<NodeId>,
    /// The lock root, `/a/b` (no trailing slash; `/` for the drive).
    pub path: String,
    /// Depth infinity: the lock covers everything below `path`.
    pub deep: bool,
    pub exclusive: bool,
    /// The `<owner>` the client sent, as XML.
    pub owner_xml: String,
    pub timeout_secs: i64,
    pub expires_at: DateTime<Utc>,
}

/// A live lock as writes see it: on which node, whether it reaches below, its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLock {
    pub node: NodeId,
    pub token: String,
    pub deep: bool,
    pub exclusive: bool,
}

type NodeLockRow = (String, String, i64, i64);

fn node_locks(rows: Vec<NodeLockRow>) -> Result<Vec<NodeLock>> {
    rows.into_iter()
        .map(|(node, token, deep, exclusive)| {
            Ok(NodeLock { node: crate::row::id(&node)?, token, deep: deep != 0, exclusive: exclusive != 0 })
        })
        .collect()
}

/// The live locks on `$nodes` (a slice of ids) inside `$tx`, or on `$pool`.
macro_rules! locks_on {
    ($exec:expr, $nodes:expr, $now:expr) => {{
        let marks: Vec<String> = (0..$nodes.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT node_id, token, deep, exclusive FROM dav_locks WHERE expires_at > $1 AND node_id IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query_as::<_, NodeLockRow>(sqlx::AssertSqlSafe(sql)).bind(ms($now));
        for node in $nodes {
            q = q.bind(node.to_string());
        }
        if $nodes.is_empty() { Vec::new() } else { q.fetch_all($exec).await? }
    }};
}

/// The live locks on `$node` or anything below it.
macro_rules! locks_below {
    ($exec:expr, $node:expr, $now:expr) => {{
        sqlx::query_as::<_, NodeLockRow>(
            "WITH RECURSIVE sub(id) AS (SELECT CAST($1 AS TEXT) UNION ALL SELECT n.id FROM nodes n \
             JOIN sub ON n.parent_id = sub.id WHERE n.trashed_at IS NULL) \
             SELECT l.node_id, l.token, l.deep, l.exclusive FROM dav_locks l JOIN sub ON l.node_id = sub.id \
             WHERE l.expires_at > $2",
        )
        .bind($node.to_string())
        .bind(ms($now))
        .fetch_all($exec)
        .await?
    }};
}

impl Db {
    /// The live locks on any of `nodes` (a node and its ancestors, for a write's check).
    pub async fn locks_on(&self, nodes: &[NodeId], now: DateTime<Utc>) -> Result<Vec<NodeLock>> {
        let rows = on_db!(self, |pool| locks_on!(pool, nodes, now));
        node_locks(rows)
    }

    /// The live locks on `node` or on any folder above it, found by one walk up the tree
    /// (a write's check when the caller's authorisation needed no walk of its own).
    pub async fn locks_above(&self, node: NodeId, now: DateTime<Utc>) -> Result<Vec<NodeLock>> {
        let rows: Vec<NodeLockRow> = on_db!(self, |pool| {
            sqlx::query_as(
                "WITH RECURSIVE up(id) AS (SELECT CAST($1 AS TEXT) UNION ALL SELECT n.parent_id FROM nodes n \
                 JOIN up ON n.id = up.id WHERE n.parent_id IS NOT NULL) \
                 SELECT l.node_id, l.token, l.deep, l.exclusive FROM dav_locks l JOIN up ON l.node_id = up.id \
                 WHERE l.expires_at > $2",
            )
            .bind(node.to_string())
            .bind(ms(now))
            .fetch_all(pool)
            .await?
        });
        node_locks(rows)
    }

    /// The live locks on `node` or below it (before a folder is deleted or moved).
    pub async fn locks_below(&self, node: NodeId, now: DateTime<Utc>) -> Result<Vec<NodeLock>> {
        let rows = on_db!(self, |pool| locks_below!(pool, node, now));
        node_locks(rows)
    }

    /// Takes `lock` on its node unless a live lock conflicts: one on the node, a deep one on
    /// any of `ancestors`, or (for a deep lock) one below it — exclusive on either side.
    /// Checked and taken in one transaction, serialised per drive (`owner`), so two LOCKs,
    /// on one server or two, never both win. False on a conflict.
    pub async fn take_dav_lock(
        &self,
        lock: &DavLock,
        owner: UserId,
        ancestors: &[NodeId],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let node = lock.node.ok_or(crate::MetaError::Invalid("a lock needs its node"))?;
        in_tx!(self, |tx| {
            sqlx::query("UPDATE users SET quota_used = quota_used WHERE id = $1")
                .bind(owner.to_string())
                .execute(&mut *tx)
                .await?;
            let mut nearby: Vec<NodeId> = ancestors.to_vec();
            nearby.push(node);
            let mut held = node_locks(locks_on!(&mut *tx, &nearby, now))?;
            held.retain(|l| l.node == node || l.deep);
            if lock.deep {
                held.extend(node_locks(locks_below!(&mut *tx, node, now))?);
            }
            if held.iter().any(|l| l.exclusive || lock.exclusive) {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO dav_locks (token, user_id, path, deep, exclusive, owner_xml, timeout_secs, expires_at, node_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&lock.token)
            .bind(lock.user.to_string())
            .bind(&lock.path)
            .bind(i64::from(lock.deep))
            .bind(i64::from(lock.exclusive))
            .bind(&lock.owner_xml)
            .bind(lock.timeout_secs)
            .bind(ms(lock.expires_at))
            .bind(node.to_string())
            .execute(&mut *tx)
            .await?;
        });
        Ok(true)
    }

    /// A node's dead properties: (`{namespace}name`, value XML).
    pub async fn dav_props(&self, node: NodeId) -> Result<Vec<(String, String)>> {
        Ok(on_db!(self, |pool| {
            sqlx::query_as("SELECT name, value FROM dav_props WHERE node_id = $1 ORDER BY name")
                .bind(node.to_string())
                .fetch_all(pool)
                .await?
        }))
    }

    /// The dead properties of the nodes `ids` (a page of a PROPFIND Depth 1), in one query.
    pub async fn dav_props_of(&self, ids: &[NodeId]) -> Result<Vec<(NodeId, String, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT node_id, name, value FROM dav_props WHERE node_id IN ({}) ORDER BY node_id, name",
            marks.join(", ")
        );
        let rows: Vec<(String, String, String)> = on_db!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in ids {
                query = query.bind(id.to_string());
            }
            query.fetch_all(pool).await?
        });
        rows.into_iter().map(|(node, name, value)| Ok((crate::row::id(&node)?, name, value))).collect()
    }

    /// Sets (`Some`) and removes (`None`) dead properties, all or none.
    pub async fn patch_dav_props(&self, node: NodeId, changes: &[(String, Option<String>)]) -> Result<()> {
        in_tx!(self, |tx| {
            for (name, value) in changes {
                match value {
                    Some(value) => {
                        sqlx::query(
                            "INSERT INTO dav_props (node_id, name, value) VALUES ($1, $2, $3) \
                             ON CONFLICT (node_id, name) DO UPDATE SET value = excluded.value",
                        )
                        .bind(node.to_string())
                        .bind(name)
                        .bind(value)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM dav_props WHERE node_id = $1 AND name = $2")
                            .bind(node.to_string())
                            .bind(name)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Copies one node's dead properties onto another (COPY).
    pub async fn copy_dav_props(&self, from: NodeId, to: NodeId) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO dav_props (node_id, name, value) SELECT $2, name, value FROM dav_props \
                 WHERE node_id = $1 ON CONFLICT (node_id, name) DO UPDATE SET value = excluded.value",
            )
            .bind(from.to_string())
            .bind(to.to_string())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The user's locks that have not expired at `now`.
    pub async fn dav_locks(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<DavLock>> {
        type Row = (String, String, i64, i64, String, i64, i64, Option<String>);
        let rows: Vec<Row> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT token, path, deep, exclusive, owner_xml, timeout_secs, expires_at, node_id FROM dav_locks \
                 WHERE user_id = $1 AND expires_at > $2 ORDER BY path",
            )
            .bind(user.to_string())
            .bind(ms(now))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(token, path, deep, exclusive, owner_xml, timeout_secs, expires, node)| {
                Ok(DavLock {
                    token,
                    user,
                    node: node.as_deref().map(crate::row::id).transpose()?,
                    path,
                    deep: deep != 0,
                    exclusive: exclusive != 0,
                    owner_xml,
                    timeout_secs,
                    expires_at: time(expires)?,
                })
            })
            .collect()
    }

    /// Extends a lock; false if it is not the user's or has expired.
    pub async fn refresh_dav_lock(
        &self,
        user: UserId,
        token: &str,
        timeout_secs: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_db!(self, |pool| {
            sqlx::query(
                "UPDATE dav_locks SET timeout_secs = $3, expires_at = $4 WHERE token = $1 AND user_id = $2",
            )
            .bind(token)
            .bind(user.to_string())
            .bind(timeout_secs)
            .bind(ms(expires_at))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// Removes a lock; false if the user holds no such lock.
    pub async fn delete_dav_lock(&self, user: UserId, token: &str) -> Result<bool> {
        let done = on_db!(self, |pool| {
            sqlx::query("DELETE FROM dav_locks WHERE token = $1 AND user_id = $2")
                .bind(token)
                .bind(user.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Removes the locks on `path` and below (the resource was deleted or moved away).
    pub async fn delete_dav_locks_under(&self, user: UserId, path: &str) -> Result<()> {
        let below = format!("{}/", path.trim_end_matches('/'));
        on_db!(self, |pool| {
            sqlx::query(
                "DELETE FROM dav_locks WHERE user_id = $1 AND (path = $2 OR substr(path, 1, length(CAST($3 AS TEXT))) = CAST($3 AS TEXT))",
            )
                .bind(user.to_string())
                .bind(path)
                .bind(below)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
