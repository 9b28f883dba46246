//! File content: quota reservations for uploads in flight, and the one transaction that
//! turns stored blocks into a file version (conflict policy, reference counts, quota).

use chrono::{DateTime, Utc};
use stratus_core::{BlockHash, ConflictPolicy, Node, NodeId, NodeName, UserId, VersionId};

use crate::{
    Db, MetaError, Result,
    row::{decode_blocks, encode_blocks, ms, size},
};

/// Deletes a reservation and returns its bytes to the user, inside the caller's transaction.
macro_rules! release_in {
    ($tx:expr, $reservation:expr) => {{
        let row: Option<(String, i64)> =
            sqlx::query_as("DELETE FROM quota_reservations WHERE id = $1 RETURNING user_id, bytes")
                .bind($reservation.to_string())
                .fetch_optional(&mut *$tx)
                .await?;
        if let Some((user, bytes)) = row {
            sqlx::query("UPDATE users SET quota_reserved = quota_reserved - $1 WHERE id = $2")
                .bind(bytes)
                .bind(user)
                .execute(&mut *$tx)
                .await?;
        }
        Ok::<(), MetaError>(())
    }};
}

/// Inserts a version row for `$node` and makes it the node's current content.
macro_rules! make_current {
    ($tx:expr, $node:expr, $version:expr, $size:expr, $hash:expr, $blocks:expr, $now:expr) => {{
        sqlx::query(
            "INSERT INTO versions (id, node_id, size, content_hash, blocks, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($version.to_string())
        .bind($node.to_string())
        .bind($size)
        .bind($hash)
        .bind($blocks)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
        sqlx::query(
            "UPDATE nodes SET size = $2, content_hash = $3, version_id = $4, modified_at = $5 \
             WHERE id = $1",
        )
        .bind($node.to_string())
        .bind($size)
        .bind($hash)
        .bind($version.to_string())
        .bind($now)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// A version about to be committed: its blocks are already durable in the block store.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub id: VersionId,
    pub size: u64,
    pub content_hash: String,
    /// Every block in file order, with its length.
    pub blocks: Vec<(BlockHash, u32)>,
}

/// Where a committed version goes.
#[derive(Debug, Clone)]
pub enum CommitTarget<'a> {
    /// A file called `name` in `parent`, resolving a clash by `policy`.
    Named { parent: NodeId, name: &'a NodeName, policy: ConflictPolicy },
    /// A new version of this existing file.
    Existing(NodeId),
}

pub struct CommitFile<'a> {
    pub owner: UserId,
    pub target: CommitTarget<'a>,
    pub version: &'a NewVersion,
    /// The quota reservation the upload held while streaming (keyed by the version id).
    pub reserved: bool,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Committed {
    pub node: Node,
    /// True when a new file appeared; false for a new version of an existing file.
    pub created: bool,
}

/// What a download needs: the ordered blocks of one version.
#[derive(Debug, Clone)]
pub struct StoredContent {
    pub size: u64,
    pub content_hash: String,
    pub blocks: Vec<BlockHash>,
}

impl Db {
    /// Reserves `bytes` more of `user`'s quota for the upload `reservation`, atomically
    /// against every other upload and commit: the sum can never pass the limit. A reservation
    /// made for one request names its `node`, which gives it back if it dies; one that spans
    /// requests (a tus upload, a block session) names none and lives until it expires.
    pub async fn reserve_quota(
        &self,
        user: UserId,
        reservation: VersionId,
        bytes: u64,
        expires_at: DateTime<Utc>,
        node: Option<&str>,
    ) -> Result<()> {
        let bytes = i64::try_from(bytes).map_err(|_| MetaError::QuotaExceeded)?;
        in_tx!(self, |tx| {
            let granted = sqlx::query(
                "UPDATE users SET quota_reserved = quota_reserved + $1 WHERE id = $2 \
                 AND quota_used + quota_reserved + $1 <= quota_limit",
            )
            .bind(bytes)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if granted == 0 {
                return Err(MetaError::QuotaExceeded);
            }
            sqlx::query(
                "INSERT INTO quota_reservations (id, user_id, bytes, expires_at, node_id) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE \
                 SET bytes = quota_reservations.bytes + excluded.bytes",
            )
            .bind(reservation.to_string())
            .bind(user.to_string())
            .bind(bytes)
            .bind(ms(expires_at))
            .bind(node)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// Gives a reservation's bytes back. Releasing one that is gone is a no-op.
    pub async fn release_quota(&self, reservation: VersionId) -> Result<()> {
        in_tx!(self, |tx| release_in!(tx, reservation)?);
        Ok(())
    }

    /// Releases every reservation that expired before `now` (uploads whose process died).
    pub async fn expire_reservations(&self, now: DateTime<Utc>) -> Result<u64> {
        let expired: Vec<(String,)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT id FROM quota_reservations WHERE expires_at < $1")
                .bind(ms(now))
                .fetch_all(pool)
                .await?
        });
        for (id,) in &expired {
            let id: VersionId = crate::row::id(id)?;
            self.release_quota(id).await?;
        }
        Ok(expired.len() as u64)
    }

    /// Commits an uploaded version in one transaction: resolves the target and its name
    /// clash, counts the blocks' references, writes the version, and moves the bytes from the
    /// upload's reservation to the quota used.
    pub async fn commit_file(&self, c: &CommitFile<'_>) -> Result<Committed> {
        let owner = c.owner.to_string();
        let now = ms(c.now);
        let new_size = i64::try_from(c.version.size).map_err(|_| MetaError::QuotaExceeded)?;
        let (node_id, created) = in_tx!(self, |tx| {
            if c.reserved {
                release_in!(tx, c.version.id)?;
            }
            // Resolve the target: (node id, previous size, name to create it under).
            let (node_id, old_size, create_as) = match &c.target {
                CommitTarget::Existing(node) => {
                    let (old,): (i64,) = sqlx::query_as(
                        "SELECT size FROM nodes WHERE id = $1 AND owner_id = $2 \
                         AND kind = 'file' AND trashed_at IS NULL",
                    )
                    .bind(node.to_string())
                    .bind(&owner)
                    .fetch_one(&mut *tx)
                    .await?;
                    (*node, old, None)
                }
                CommitTarget::Named { parent, name, policy } => {
                    let parent_ok: Option<(i32,)> = sqlx::query_as(
                        "SELECT 1 FROM nodes WHERE id = $1 AND owner_id = $2 AND kind = 'folder' \
                         AND trashed_at IS NULL",
                    )
                    .bind(parent.to_string())
                    .bind(&owner)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if parent_ok.is_none() {
                        return Err(MetaError::NotFound);
                    }
                    let mut candidate = (*name).clone();
                    let mut n = 0;
                    loop {
                        let clash: Option<(String, String, i64)> = sqlx::query_as(
                            "SELECT id, kind, size FROM nodes WHERE parent_id = $1 AND name = $2 \
                             AND trashed_at IS NULL",
                        )
                        .bind(parent.to_string())
                        .bind(candidate.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                        match (clash, policy) {
                            (None, _) => break (NodeId::new(), 0, Some(candidate)),
                            (Some(_), ConflictPolicy::Fail) => return Err(MetaError::NameConflict),
                            (Some((id, kind, old)), ConflictPolicy::Replace) => {
                                if kind != "file" {
                                    return Err(MetaError::NameConflict);
                                }
                                break (crate::row::id(&id)?, old, None);
                            }
                            (Some(_), ConflictPolicy::KeepBoth) => {
                                n += 1;
                                candidate = name
                                    .numbered(n, true)
                                    .filter(|_| n < 10_000)
                                    .ok_or(MetaError::NameConflict)?;
                            }
                        }
                    }
                }
            };
            let delta = new_size - old_size;
            let granted = sqlx::query(
                "UPDATE users SET quota_used = quota_used + $1 WHERE id = $2 \
                 AND ($1 <= 0 OR quota_used + quota_reserved + $1 <= quota_limit)",
            )
            .bind(delta)
            .bind(&owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if granted == 0 {
                return Err(MetaError::QuotaExceeded);
            }
            if let (Some(name), CommitTarget::Named { parent, .. }) = (&create_as, &c.target) {
                sqlx::query(
                    "INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, size, \
                     created_at, modified_at) VALUES ($1, $2, $3, $4, $5, 'file', 0, $6, $6)",
                )
                .bind(node_id.to_string())
                .bind(&owner)
                .bind(parent.to_string())
                .bind(name.as_str())
                .bind(name.sort_key())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            // Block rows are always taken in hash order, so transactions never wait in a cycle.
            let mut ordered: Vec<&(BlockHash, u32)> = c.version.blocks.iter().collect();
            ordered.sort_by_key(|(hash, _)| *hash);
            for (hash, len) in ordered {
                sqlx::query(
                    "INSERT INTO blocks (hash, size, refcount, created_at) VALUES ($1, $2, 1, $3) \
                     ON CONFLICT (hash) DO UPDATE SET refcount = blocks.refcount + 1, \
                     unreferenced_since = NULL",
                )
                .bind(&hash.0[..])
                .bind(i64::from(*len))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO user_blocks (user_id, hash) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&owner)
                    .bind(&hash.0[..])
                    .execute(&mut *tx)
                    .await?;
            }
            let hashes: Vec<BlockHash> = c.version.blocks.iter().map(|(h, _)| *h).collect();
            make_current!(
                tx,
                node_id,
                c.version.id,
                new_size,
                &c.version.content_hash,
                encode_blocks(&hashes),
                now
            );
            (node_id, create_as.is_some())
        });
        Ok(Committed { node: self.live_node(node_id).await?, created })
    }

    /// The stored content of one version.
    pub async fn content(&self, version: VersionId) -> Result<StoredContent> {
        let (bytes, content_hash, blocks): (i64, String, Vec<u8>) = on_db!(self, |pool| {
            sqlx::query_as("SELECT size, content_hash, blocks FROM versions WHERE id = $1")
                .bind(version.to_string())
                .fetch_one(pool)
                .await?
        });
        Ok(StoredContent { size: size(bytes)?, content_hash, blocks: decode_blocks(&blocks)? })
    }

    /// One version of `node` (not necessarily the current one).
    pub async fn version_content(&self, node: NodeId, version: VersionId) -> Result<StoredContent> {
        let (bytes, content_hash, blocks): (i64, String, Vec<u8>) = on_db!(self, |pool| {
            sqlx::query_as("SELECT size, content_hash, blocks FROM versions WHERE id = $1 AND node_id = $2")
                .bind(version.to_string())
                .bind(node.to_string())
                .fetch_one(pool)
                .await?
        });
        Ok(StoredContent { size: size(bytes)?, content_hash, blocks: decode_blocks(&blocks)? })
    }

    /// Makes an older version of a file current again, as a new version (`new_version`) with
    /// the same blocks: the history is kept, block references go up, the quota follows the
    /// size.
    pub async fn restore_version(
        &self,
        node: &Node,
        old: VersionId,
        new_version: VersionId,
        now: DateTime<Utc>,
    ) -> Result<Node> {
        let now = ms(now);
        in_tx!(self, |tx| {
            let (bytes, hash, blocks): (i64, String, Vec<u8>) = sqlx::query_as(
                "SELECT size, content_hash, blocks FROM versions WHERE id = $1 AND node_id = $2",
            )
            .bind(old.to_string())
            .bind(node.id.to_string())
            .fetch_one(&mut *tx)
            .await?;
            let (current,): (i64,) =
                sqlx::query_as("SELECT size FROM nodes WHERE id = $1 AND trashed_at IS NULL")
                    .bind(node.id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
            let granted = sqlx::query(
                "UPDATE users SET quota_used = quota_used + $1 WHERE id = $2 \
                 AND ($1 <= 0 OR quota_used + quota_reserved + $1 <= quota_limit)",
            )
            .bind(bytes - current)
            .bind(node.owner_id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if granted == 0 {
                return Err(MetaError::QuotaExceeded);
            }
            let mut ordered = decode_blocks(&blocks)?;
            ordered.sort();
            for hash in ordered {
                sqlx::query(
                    "UPDATE blocks SET refcount = refcount + 1, unreferenced_since = NULL WHERE hash = $1",
                )
                .bind(&hash.0[..])
                .execute(&mut *tx)
                .await?;
            }
            make_current!(tx, node.id, new_version, bytes, &hash, &blocks, now);
        });
        self.live_node(node.id).await
    }

    /// The versions of a file, newest first.
    pub async fn versions(&self, node: NodeId) -> Result<Vec<stratus_core::Version>> {
        let rows: Vec<(String, i64, String, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, size, content_hash, created_at FROM versions WHERE node_id = $1 \
                 ORDER BY created_at DESC, id DESC",
            )
            .bind(node.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, bytes, content_hash, created)| {
                Ok(stratus_core::Version {
                    id: crate::row::id(&id)?,
                    size: size(bytes)?,
                    content_hash,
                    created_at: crate::row::time(created)?,
                })
            })
            .collect()
    }

    /// The blocks that must be kept, of one shard: those the versions reference and the parts
    /// tus uploads in progress hold, whose hash's first byte is `shard` (an index range on each
    /// table's key), so a sweep holds 1/256 of them at a time.
    pub async fn referenced_hashes_in(&self, shard: u8) -> Result<std::collections::HashSet<BlockHash>> {
        let (from, to) = crate::volumes::shard_keys(&(shard..=shard));
        let rows: Vec<(Vec<u8>,)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT hash FROM blocks WHERE refcount > 0 AND hash >= $1 AND hash < $2 \
                 UNION SELECT hash FROM tus_parts WHERE hash >= $1 AND hash < $2",
            )
            .bind(&from)
            .bind(&to)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.iter().filter_map(|(h,)| BlockHash::from_slice(h)).collect())
    }

    /// Forgets blocks that lost their last reference before `before`; returns their hashes.
    pub async fn forget_unreferenced(&self, before: DateTime<Utc>) -> Result<Vec<BlockHash>> {
        let rows: Vec<(Vec<u8>,)> = on_db!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM blocks WHERE refcount <= 0 AND unreferenced_since < $1 RETURNING hash",
            )
            .bind(ms(before))
            .fetch_all(pool)
            .await?
        });
        for (hash,) in &rows {
            on_db!(self, |pool| {
                sqlx::query("DELETE FROM user_blocks WHERE hash = $1").bind(hash).execute(pool).await?;
            });
        }
        Ok(rows.iter().filter_map(|(h,)| BlockHash::from_slice(h)).collect())
    }

    /// How many distinct blocks the store references, and their total bytes.
    pub async fn block_totals(&self) -> Result<(u64, u64)> {
        let (count, bytes): (i64, Option<i64>) = on_db!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*), CAST(SUM(size) AS BIGINT) FROM blocks WHERE refcount > 0")
                .fetch_one(pool)
                .await?
        });
        Ok((size(count)?, size(bytes.unwrap_or(0))?))
    }
}
