//! Shares: grants of a node to another user, and the grants that apply along a node's path.

use chrono::{DateTime, Utc};
use stratus_core::{Node, NodeId, Role, Share, ShareId, SharedItem, UserId};

use crate::{
    Db, MetaError, Result,
    row::{NodeRow, id, ms, time},
};

#[derive(sqlx::FromRow)]
struct ShareRow {
    id: String,
    node_id: String,
    owner_id: String,
    grantee_id: String,
    username: String,
    role: String,
    created_at: i64,
}

impl TryFrom<ShareRow> for Share {
    type Error = MetaError;

    fn try_from(r: ShareRow) -> Result<Self> {
        Ok(Share {
            id: id(&r.id)?,
            node_id: id(&r.node_id)?,
            owner_id: id(&r.owner_id)?,
            user_id: id(&r.grantee_id)?,
            username: r.username,
            role: Role::parse(&r.role).ok_or_else(|| MetaError::corrupt(&r.role))?,
            created_at: time(r.created_at)?,
        })
    }
}

const SHARE_SELECT: &str = "SELECT s.id, s.node_id, s.owner_id, s.grantee_id, u.username, s.role, \
     s.created_at FROM shares s JOIN users u ON u.id = s.grantee_id";

impl Db {
    /// Shares `node` with `grantee` as `role`; sharing again changes the role (one share per
    /// node and user).
    pub async fn upsert_share(
        &self,
        node: &Node,
        grantee: UserId,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<Share> {
        let (share_id,): (String,) = on_db!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO shares (id, node_id, owner_id, grantee_id, role, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node_id, grantee_id) \
                 DO UPDATE SET role = excluded.role RETURNING id",
            )
            .bind(ShareId::new().to_string())
            .bind(node.id.to_string())
            .bind(node.owner_id.to_string())
            .bind(grantee.to_string())
            .bind(role.as_str())
            .bind(ms(now))
            .fetch_one(pool)
            .await?
        });
        self.share(id(&share_id)?).await
    }

    pub async fn share(&self, share: ShareId) -> Result<Share> {
        let sql = format!("{SHARE_SELECT} WHERE s.id = $1");
        let row: ShareRow = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(share.to_string()).fetch_one(pool).await?
        });
        row.try_into()
    }

    /// The shares of one node, oldest first.
    pub async fn shares_of(&self, node: NodeId) -> Result<Vec<Share>> {
        let sql = format!("{SHARE_SELECT} WHERE s.node_id = $1 ORDER BY s.created_at, s.id");
        let rows: Vec<ShareRow> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(node.to_string()).fetch_all(pool).await?
        });
        rows.into_iter().map(Share::try_from).collect()
    }

    pub async fn set_share_role(&self, share: ShareId, role: Role) -> Result<()> {
        let done = on_db!(self, |pool| {
            sqlx::query("UPDATE shares SET role = $2 WHERE id = $1")
                .bind(share.to_string())
                .bind(role.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 { Err(MetaError::NotFound) } else { Ok(()) }
    }

    pub async fn delete_share(&self, share: ShareId) -> Result<()> {
        let done = on_db!(self, |pool| {
            sqlx::query("DELETE FROM shares WHERE id = $1")
                .bind(share.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 { Err(MetaError::NotFound) } else { Ok(()) }
    }

    /// Live items shared with `grantee`, newest share first.
    pub async fn shared_with(&self, grantee: UserId) -> Result<Vec<SharedItem>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            node: NodeRow,
            share_id: String,
            role: String,
            owner_username: String,
        }
        let rows: Vec<Row> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT n.id, n.owner_id, n.parent_id, n.name, n.kind, n.size, n.content_hash, \
                 n.version_id, n.public_access, n.created_at, n.modified_at, n.tree_tag + CASE WHEN \
                 n.kind = 'folder' THEN (SELECT COUNT(*) FROM tree_deltas WHERE tag_folder = n.id) \
                 ELSE 0 END AS tree_tag, n.file_no, (SELECT sha1 FROM content_checksums c \
                 WHERE c.owner_id = n.owner_id AND c.content_hash = n.content_hash) AS sha1, s.id AS share_id, \
                 s.role, u.username AS owner_username FROM shares s \
                 JOIN nodes n ON n.id = s.node_id JOIN users u ON u.id = s.owner_id \
                 WHERE s.grantee_id = $1 AND n.trashed_at IS NULL ORDER BY s.created_at DESC, s.id",
            )
            .bind(grantee.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(SharedItem {
                    share_id: id(&r.share_id)?,
                    role: Role::parse(&r.role).ok_or_else(|| MetaError::corrupt(&r.role))?,
                    owner_username: r.owner_username,
                    node: r.node.try_into()?,
                })
            })
            .collect()
    }

    /// The grants `grantee` holds on `node` or any folder above it: (granted node, role).
    pub async fn grants_on_path(&self, node: NodeId, grantee: UserId) -> Result<Vec<(NodeId, Role)>> {
        let rows: Vec<(String, String)> = on_db!(self, |pool| {
            sqlx::query_as(
                "WITH RECURSIVE up(node_id) AS (SELECT id FROM nodes WHERE id = $1 UNION ALL \
                 SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.node_id \
                 WHERE n.parent_id IS NOT NULL) \
                 SELECT s.node_id, s.role FROM up JOIN shares s ON s.node_id = up.node_id \
                 WHERE s.grantee_id = $2",
            )
            .bind(node.to_string())
            .bind(grantee.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(n, r)| Ok((id(&n)?, Role::parse(&r).ok_or_else(|| MetaError::corrupt(&r))?)))
            .collect()
    }
}
