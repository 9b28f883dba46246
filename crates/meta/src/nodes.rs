//! The tree: lookups, keyset-paginated listings, folders, rename/move and server-side copy.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use stratus_core::{Node, NodeId, NodeKind, PublicAccess, SortKey, SortOrder, UserId, VersionId};

use crate::{
    Db, MetaError, Result,
    row::{NodeRow, ms, node_columns, nodes},
};

/// Where the next page of a listing starts: just after this entry in the listing's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildCursor {
    pub kind: NodeKind,
    pub key: CursorKey,
    pub id: NodeId,
}

/// The sort key's value of the cursor's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorKey {
    Text(String),
    Int(i64),
}

impl ChildCursor {
    /// The cursor just after `node` when listing by `key`.
    pub fn after(node: &Node, key: SortKey) -> Self {
        let key = match key {
            SortKey::Name => CursorKey::Text(node.name.to_lowercase()),
            SortKey::Modified => CursorKey::Int(node.modified_at.timestamp_millis()),
            SortKey::Size => CursorKey::Int(i64::try_from(node.size).unwrap_or(i64::MAX)),
        };
        Self { kind: node.kind, key, id: node.id }
    }
}

pub struct NewFolder<'a> {
    pub id: NodeId,
    pub owner: UserId,
    pub parent: NodeId,
    pub name: &'a str,
    pub now: DateTime<Utc>,
    /// A node the folder takes the place of, trashed in the same transaction.
    pub replacing: Option<Replacing<'a>>,
}

/// A rename, move and/or public-access change of one node.
#[derive(Debug, Default)]
pub struct NodeChange<'a> {
    pub name: Option<&'a str>,
    pub parent: Option<NodeId>,
    pub public_access: Option<PublicAccess>,
    /// The modification time a client keeps (a sync client's file time).
    pub modified_at: Option<DateTime<Utc>>,
    /// A node the change takes the place of, trashed in the same transaction.
    pub replacing: Option<Replacing<'a>>,
}

/// A live node that a move or copy replaces (WebDAV's `Overwrite: T`): it goes to the trash in
/// the transaction that puts the new one in its place, so either both happen or neither.
#[derive(Debug, Clone, Copy)]
pub struct Replacing<'a> {
    pub node: &'a Node,
    /// The path of the folder it lives in, for restoring it.
    pub original_path: &'a str,
    pub now: DateTime<Utc>,
}

impl Replacing<'_> {
    fn id(&self) -> String {
        self.node.id.to_string()
    }
}

/// One listing query per sort key and direction. Folders come first (`kind DESC`); the
/// keyset condition continues strictly after the cursor `($2 kind, $3 key, $4 id)`.
/// One page of a folder in one listing order, as two index ranges (never a filter over the
/// folder): `same` continues the cursor's kind after its `(key, id)` with a row-value
/// comparison; `later` takes the kinds after it (folders come first); `first` is the first
/// page. Each reads exactly the rows it returns from the listing's index, wherever the page is
/// in the folder.
macro_rules! listing {
    ($key:literal, $cmp:literal, $dir:literal) => {
        (
            concat!(
                "SELECT ",
                node_columns!(),
                " FROM nodes WHERE parent_id = $1 AND trashed_at IS NULL AND kind = $2 AND (",
                $key,
                ", id) ",
                $cmp,
                " ($3, $4) ORDER BY ",
                $key,
                " ",
                $dir,
                ", id ",
                $dir,
                " LIMIT $5"
            ),
            concat!(
                "SELECT ",
                node_columns!(),
                " FROM nodes WHERE parent_id = $1 AND trashed_at IS NULL AND kind < $2 ORDER BY kind DESC, ",
                $key,
                " ",
                $dir,
                ", id ",
                $dir,
                " LIMIT $3"
            ),
            concat!(
                "SELECT ",
                node_columns!(),
                " FROM nodes WHERE parent_id = $1 AND trashed_at IS NULL ORDER BY kind DESC, ",
                $key,
                " ",
                $dir,
                ", id ",
                $dir,
                " LIMIT $2"
            ),
        )
    };
}

impl Db {
    /// A live (not trashed) node.
    pub async fn live_node(&self, node: NodeId) -> Result<Node> {
        let row: NodeRow = on_db!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                node_columns!(),
                " FROM nodes WHERE id = $1 AND trashed_at IS NULL"
            ))
            .bind(node.to_string())
            .fetch_one(pool)
            .await?
        });
        row.try_into()
    }

    /// The root folder of `user`'s drive.
    pub async fn root_node(&self, user: UserId) -> Result<Node> {
        let row: NodeRow = on_db!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                node_columns!(),
                " FROM nodes WHERE id = (SELECT root_id FROM users WHERE id = $1) AND trashed_at IS NULL"
            ))
            .bind(user.to_string())
            .fetch_one(pool)
            .await?
        });
        row.try_into()
    }

    /// The live child of `parent` called `name`, if any.
    pub async fn child_by_name(&self, parent: NodeId, name: &str) -> Result<Option<Node>> {
        let row: Option<NodeRow> = on_db!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                node_columns!(),
                " FROM nodes WHERE parent_id = $1 AND name = $2 AND trashed_at IS NULL"
            ))
            .bind(parent.to_string())
            .bind(name)
            .fetch_optional(pool)
            .await?
        });
        row.map(Node::try_from).transpose()
    }

    /// Every live child of `parent`, by name (WebDAV's Depth 1 and COPY).
    pub async fn all_children(&self, parent: NodeId) -> Result<Vec<Node>> {
        let rows: Vec<NodeRow> = on_db!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                node_columns!(),
                " FROM nodes WHERE parent_id = $1 AND trashed_at IS NULL ORDER BY sort_name, id"
            ))
            .bind(parent.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(Node::try_from).collect()
    }

    /// How many live items a folder holds (counted on its listing's index).
    pub async fn count_children(&self, parent: NodeId) -> Result<u64> {
        let n: i64 = on_db!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM nodes WHERE parent_id = $1 AND trashed_at IS NULL")
                .bind(parent.to_string())
                .fetch_one(pool)
                .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// One page of a folder's live children, in one query whatever the folder's size.
    pub async fn children(
        &self,
        parent: NodeId,
        key: SortKey,
        order: SortOrder,
        after: Option<&ChildCursor>,
        limit: u32,
    ) -> Result<Vec<Node>> {
        let (same, later, first) = match (key, order) {
            (SortKey::Name, SortOrder::Asc) => listing!("sort_name", ">", "ASC"),
            (SortKey::Name, SortOrder::Desc) => listing!("sort_name", "<", "DESC"),
            (SortKey::Modified, SortOrder::Asc) => listing!("modified_at", ">", "ASC"),
            (SortKey::Modified, SortOrder::Desc) => listing!("modified_at", "<", "DESC"),
            (SortKey::Size, SortOrder::Asc) => listing!("size", ">", "ASC"),
            (SortKey::Size, SortOrder::Desc) => listing!("size", "<", "DESC"),
        };
        let parent = parent.to_string();
        let Some(c) = after else {
            let rows: Vec<NodeRow> = on_db!(self, |pool| {
                sqlx::query_as(first).bind(&parent).bind(i64::from(limit)).fetch_all(pool).await?
            });
            return nodes(rows);
        };
        let mut rows: Vec<NodeRow> = {
            on_db!(self, |pool| {
                let query = sqlx::query_as(same).bind(&parent).bind(c.kind.as_str());
                let query = match &c.key {
                    CursorKey::Text(s) => query.bind(s.clone()),
                    CursorKey::Int(n) => query.bind(*n),
                };
                query.bind(c.id.to_string()).bind(i64::from(limit)).fetch_all(pool).await?
            })
        };
        let missing = i64::from(limit) - rows.len() as i64;
        if missing > 0 {
            let more: Vec<NodeRow> = on_db!(self, |pool| {
                sqlx::query_as(later)
                    .bind(&parent)
                    .bind(c.kind.as_str())
                    .bind(missing)
                    .fetch_all(pool)
                    .await?
            });
            rows.extend(more);
        }
        nodes(rows)
    }

    /// The chain of live folders from the owner's root down to `node`, both included.
    pub async fn ancestry(&self, node: NodeId) -> Result<Vec<Node>> {
        let rows: Vec<NodeRow> = on_db!(self, |pool| {
            sqlx::query_as(concat!(
                "WITH RECURSIVE up(node_id, depth) AS (SELECT id, CAST(0 AS BIGINT) FROM nodes WHERE id = $1 ",
                "UNION ALL SELECT n.parent_id, up.depth + 1 FROM nodes n JOIN up ON n.id = up.node_id ",
                "WHERE n.parent_id IS NOT NULL) SELECT ", node_columns!(),
                " FROM nodes JOIN up ON nodes.id = up.node_id ORDER BY up.depth DESC"
            ))
            .bind(node.to_string())
            .fetch_all(pool)
            .await?
        });
        if rows.is_empty() {
            return Err(MetaError::NotFound);
        }
        nodes(rows)
    }

    pub async fn create_folder(&self, f: &NewFolder<'_>) -> Result<Node> {
        let inserted = in_tx!(self, |tx| {
            // The drive's tree lock, as every tree change takes it (the folder tags' triggers
            // read the ancestors, which a concurrent move must not change under them).
            sqlx::query("UPDATE users SET quota_used = quota_used WHERE id = $1")
                .bind(f.owner.to_string())
                .execute(&mut *tx)
                .await?;
            if let Some(r) = f.replacing
                && trash_in_tx!(tx, r.id(), r.now, r.original_path) == 0
            {
                return Err(MetaError::NotFound);
            }
            sqlx::query(
                "INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, created_at, \
                 modified_at) SELECT $1, $2, $3, $4, $5, 'folder', $6, $6 WHERE EXISTS (SELECT 1 \
                 FROM nodes WHERE id = $3 AND owner_id = $2 AND kind = 'folder' AND trashed_at IS NULL)",
            )
            .bind(f.id.to_string())
            .bind(f.owner.to_string())
            .bind(f.parent.to_string())
            .bind(f.name)
            .bind(f.name.to_lowercase())
            .bind(ms(f.now))
            .execute(&mut *tx)
            .await?
            .rows_affected()
        });
        if inserted == 0 {
            return Err(MetaError::NotFound);
        }
        self.live_node(f.id).await
    }

    /// Renames, moves and/or sets public access of a live node. A move into the node itself
    /// or one of its descendants is refused, checked in the same transaction as the move.
    pub async fn change_node(&self, node: &Node, change: &NodeChange<'_>) -> Result<Node> {
        let target = node.id.to_string();
        in_tx!(self, |tx| {
            // Serialise tree changes per owner, so two crossing moves cannot make a cycle.
            sqlx::query("UPDATE users SET quota_used = quota_used WHERE id = $1")
                .bind(node.owner_id.to_string())
                .execute(&mut *tx)
                .await?;
            if let Some(parent) = change.parent {
                let parent_ok: Option<(i32,)> = sqlx::query_as(
                    "SELECT 1 FROM nodes WHERE id = $1 AND owner_id = $2 AND kind = 'folder' \
                     AND trashed_at IS NULL",
                )
                .bind(parent.to_string())
                .bind(node.owner_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                if parent_ok.is_none() {
                    return Err(MetaError::NotFound);
                }
                let cycle: Option<(i32,)> = sqlx::query_as(
                    "WITH RECURSIVE up(node_id) AS (SELECT id FROM nodes WHERE id = $1 UNION ALL \
                     SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.node_id \
                     WHERE n.parent_id IS NOT NULL) SELECT 1 FROM up WHERE node_id = $2 LIMIT 1",
                )
                .bind(parent.to_string())
                .bind(&target)
                .fetch_optional(&mut *tx)
                .await?;
                if cycle.is_some() {
                    return Err(MetaError::Cycle);
                }
            }
            if let Some(r) = change.replacing
                && trash_in_tx!(tx, r.id(), r.now, r.original_path) == 0
            {
                return Err(MetaError::NotFound);
            }
            let changed = sqlx::query(
                "UPDATE nodes SET name = COALESCE($2, name), sort_name = COALESCE($3, sort_name), \
                 parent_id = COALESCE($4, parent_id), public_access = COALESCE($5, public_access), \
                 modified_at = COALESCE($6, modified_at) WHERE id = $1 AND trashed_at IS NULL",
            )
            .bind(&target)
            .bind(change.name)
            .bind(change.name.map(str::to_lowercase))
            .bind(change.parent.map(|p| p.to_string()))
            .bind(change.public_access.map(PublicAccess::as_str))
            .bind(change.modified_at.map(ms))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(MetaError::NotFound);
            }
        });
        self.live_node(node.id).await
    }

    /// Copies the live subtree at `source` under the folder `parent` as `name`, sharing every
    /// block (reference counts go up; no byte is copied). The copy belongs to, and counts
    /// against the quota of, the parent's owner.
    pub async fn copy_subtree(
        &self,
        source: &Node,
        parent: &Node,
        name: &str,
        now: DateTime<Utc>,
        replacing: Option<Replacing<'_>>,
    ) -> Result<Node> {
        #[derive(sqlx::FromRow)]
        struct CopyRow {
            #[sqlx(flatten)]
            node: NodeRow,
            depth: i64,
            blocks: Option<Vec<u8>>,
        }
        let owner = parent.owner_id.to_string();
        let now = ms(now);
        let new_root = NodeId::new();
        in_tx!(self, |tx| {
            let rows: Vec<CopyRow> = sqlx::query_as(concat!(
                "WITH RECURSIVE sub(id, depth) AS (SELECT id, CAST(0 AS BIGINT) FROM nodes WHERE id = $1 ",
                "AND trashed_at IS NULL UNION ALL SELECT n.id, sub.depth + 1 FROM nodes n ",
                "JOIN sub ON n.parent_id = sub.id WHERE n.trashed_at IS NULL) ",
                "SELECT n.id, n.owner_id, n.parent_id, n.name, n.kind, n.size, n.content_hash, ",
                "n.version_id, n.public_access, n.created_at, n.modified_at, n.tree_tag, n.file_no, ",
                "NULL AS sha1, sub.depth, v.blocks ",
                "FROM sub JOIN nodes n ON n.id = sub.id LEFT JOIN versions v ON v.id = n.version_id ",
                "ORDER BY sub.depth"
            ))
            .bind(source.id.to_string())
            .fetch_all(&mut *tx)
            .await?;
            let total: i64 = rows.iter().map(|r| r.node.size).sum();
            let granted = sqlx::query(
                "UPDATE users SET quota_used = quota_used + $1 WHERE id = $2 \
                 AND quota_used + quota_reserved + $1 <= quota_limit",
            )
            .bind(total)
            .bind(&owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if granted == 0 {
                return Err(MetaError::QuotaExceeded);
            }
            if let Some(r) = replacing
                && trash_in_tx!(tx, r.id(), r.now, r.original_path) == 0
            {
                return Err(MetaError::NotFound);
            }
            let mut new_ids: HashMap<String, String> = HashMap::new();
            let mut references: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
            for row in &rows {
                let node = Node::try_from(row.node.clone())?;
                let copy_id = if row.depth == 0 { new_root } else { NodeId::new() };
                let (copy_parent, copy_name) = match node.parent_id {
                    Some(p) if row.depth > 0 => (
                        new_ids
                            .get(&p.to_string())
                            .cloned()
                            .ok_or_else(|| MetaError::corrupt("copy: child listed before its parent"))?,
                        node.name.clone(),
                    ),
                    _ => (parent.id.to_string(), name.to_string()),
                };
                let version = node.version_id.map(|_| VersionId::new().to_string());
                sqlx::query(
                    "INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, size, \
                     content_hash, version_id, created_at, modified_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(copy_id.to_string())
                .bind(&owner)
                .bind(&copy_parent)
                .bind(&copy_name)
                .bind(copy_name.to_lowercase())
                .bind(node.kind.as_str())
                .bind(row.node.size)
                .bind(&node.content_hash)
                .bind(&version)
                .bind(now)
                .bind(ms(node.modified_at))
                .execute(&mut *tx)
                .await?;
                if let (Some(version), Some(blocks)) = (&version, &row.blocks) {
                    sqlx::query(
                        "INSERT INTO versions (id, node_id, size, content_hash, blocks, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(version)
                    .bind(copy_id.to_string())
                    .bind(row.node.size)
                    .bind(node.content_hash.as_deref().unwrap_or_default())
                    .bind(blocks)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if let Some(from) = node.version_id {
                        crate::content::copy_inline!(tx, from, version);
                    }
                    for hash in blocks.chunks_exact(32) {
                        *references.entry(hash.to_vec()).or_default() += 1;
                    }
                }
                new_ids.insert(node.id.to_string(), copy_id.to_string());
            }
            // Block rows are always taken in hash order, so transactions never wait in a cycle.
            for (hash, count) in &references {
                sqlx::query(
                    "UPDATE blocks SET refcount = refcount + $2, unreferenced_since = NULL WHERE hash = $1",
                )
                .bind(hash)
                .bind(*count)
                .execute(&mut *tx)
                .await?;
            }
        });
        self.live_node(new_root).await
    }

    /// The live subtree under `folder` (excluded), parents before children, each with its path
    /// relative to `folder` (`a`, `a/b.txt`, …), in name order within a folder.
    pub async fn subtree(&self, folder: NodeId) -> Result<Vec<(String, Node)>> {
        let rows: Vec<NodeRow> = on_db!(self, |pool| {
            sqlx::query_as(concat!(
                "WITH RECURSIVE sub(node_id) AS (SELECT id FROM nodes WHERE parent_id = $1 ",
                "AND trashed_at IS NULL UNION ALL SELECT n.id FROM nodes n JOIN sub ",
                "ON n.parent_id = sub.node_id WHERE n.trashed_at IS NULL) SELECT ",
                node_columns!(),
                " FROM nodes WHERE id IN (SELECT node_id FROM sub) ORDER BY sort_name, id"
            ))
            .bind(folder.to_string())
            .fetch_all(pool)
            .await?
        });
        let all = nodes(rows)?;
        let by_id: HashMap<NodeId, &Node> = all.iter().map(|n| (n.id, n)).collect();
        let path_of = |node: &Node| -> Option<String> {
            let mut parts = vec![node.name.as_str()];
            let mut at = node.parent_id?;
            while at != folder {
                let parent = by_id.get(&at)?;
                parts.push(parent.name.as_str());
                at = parent.parent_id?;
            }
            parts.reverse();
            Some(parts.join("/"))
        };
        let mut out: Vec<(String, Node)> =
            all.iter().filter_map(|n| path_of(n).map(|p| (p, n.clone()))).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Whether `node` lies inside the subtree rooted at `ancestor` (or is it).
    pub async fn is_within(&self, node: NodeId, ancestor: NodeId) -> Result<bool> {
        Ok(self.ancestry(node).await?.iter().any(|n| n.id == ancestor))
    }
}
