//! File content: quota reservations for uploads in flight, and the one transaction that
//! turns stored blocks into a file version (conflict policy, reference counts, quota).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use stratus_core::{
    BlockCheck, BlockHash, BlockRef, ConflictPolicy, Node, NodeId, NodeName, UserId, VersionId,
};

use crate::{
    Db, MetaError, Result,
    row::{NodeRow, decode_blocks, encode_blocks, ms, node_columns, size},
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

/// Inserts an empty node of `$kind` called `$name` (a `NodeName`) into `$parent`.
macro_rules! insert_node {
    ($tx:expr, $id:expr, $owner:expr, $parent:expr, $name:expr, $kind:literal, $now:expr) => {{
        sqlx::query(
            "INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind($id.to_string())
        .bind($owner)
        .bind($parent.to_string())
        .bind($name.as_str())
        .bind($name.sort_key())
        .bind($kind)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Gives version `$to` the inlined bytes of version `$from`, if it has any.
macro_rules! copy_inline {
    ($tx:expr, $from:expr, $to:expr) => {{
        sqlx::query("INSERT INTO version_data (version_id, data) SELECT $1, data FROM version_data WHERE version_id = $2")
            .bind($to.to_string())
            .bind($from.to_string())
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use copy_inline;

/// A version about to be committed: its blocks are already durable in the block store.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub id: VersionId,
    pub size: u64,
    pub content_hash: String,
    /// Every block in file order, with its length and check (none when `inline`).
    pub blocks: Vec<BlockRef>,
    /// The stored bytes of a small file kept in the database instead of in blocks.
    pub inline: Option<Vec<u8>>,
}

/// Where a committed version goes.
#[derive(Debug, Clone)]
pub enum CommitTarget<'a> {
    /// A file called `name` in the folder path `folders` (each found or created, in this
    /// transaction) inside `parent`, resolving a clash by `policy`.
    Named { parent: NodeId, folders: &'a [NodeName], name: &'a NodeName, policy: ConflictPolicy },
    /// A new version of this existing file; with `over`, only while its content is still the
    /// one of that hash (what the writer read), else [`MetaError::Changed`].
    Existing { node: NodeId, over: Option<&'a str> },
}

pub struct CommitFile<'a> {
    pub owner: UserId,
    pub target: CommitTarget<'a>,
    pub version: &'a NewVersion,
    /// The quota reservation the upload held while streaming, released by this commit.
    pub release: Option<VersionId>,
    pub now: DateTime<Utc>,
}

impl CommitFile<'_> {
    /// The name a new file is created under.
    fn name(&self) -> Option<&NodeName> {
        match &self.target {
            CommitTarget::Named { name, .. } => Some(name),
            CommitTarget::Existing { .. } => None,
        }
    }
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
    /// Every block in file order, with its check where known.
    pub blocks: Vec<(BlockHash, Option<BlockCheck>)>,
    /// The stored bytes of a small file kept in the database (then `blocks` is empty).
    pub inline: Option<Vec<u8>>,
}

type ContentRow = (i64, String, Vec<u8>, Option<Vec<u8>>);

impl TryFrom<ContentRow> for StoredContent {
    type Error = MetaError;

    fn try_from((bytes, content_hash, blocks, inline): ContentRow) -> Result<Self> {
        let blocks = decode_blocks(&blocks)?.into_iter().map(|h| (h, None)).collect();
        Ok(Self { size: size(bytes)?, content_hash, blocks, inline })
    }
}

impl Db {
    /// `user`'s quota limit, if `bytes` more would fit in it now next to what is used and
    /// reserved (a read: the commit that counts them checks again); `None` if they would not.
    pub async fn room_for(&self, user: UserId, bytes: u64) -> Result<Option<u64>> {
        let bytes = i64::try_from(bytes).map_err(|_| MetaError::QuotaExceeded)?;
        let limit: Option<(i64,)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT quota_limit FROM users WHERE id = $1 AND quota_used + quota_reserved + $2 <= quota_limit",
            )
            .bind(user.to_string())
            .bind(bytes)
            .fetch_optional(pool)
            .await?
        });
        limit.map(|(l,)| crate::row::size(l)).transpose()
    }

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
        let mut done = self.commit_files(std::slice::from_ref(c)).await?;
        done.pop().ok_or_else(|| MetaError::corrupt("a commit returned no file"))
    }

    /// Commits many uploaded versions in one transaction (one durability barrier for all),
    /// each as [`Db::commit_file`] does, in order: all of them, or — on the first refusal
    /// (a name taken, the quota) — none.
    pub async fn commit_files(&self, commits: &[CommitFile<'_>]) -> Result<Vec<Committed>> {
        let mut done: Vec<Option<Committed>> = vec![None; commits.len()];
        // New files by name whose bytes are inline (or none) are written together, folder by
        // folder; the others one by one.
        let mut bulk: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
        for (i, c) in commits.iter().enumerate() {
            if let CommitTarget::Named { parent, folders: [], policy, .. } = &c.target
                && *policy != ConflictPolicy::Replace
                && c.version.blocks.is_empty()
            {
                bulk.entry(*parent).or_default().push(i);
            }
        }
        in_tx!(self, |tx| {
            for reservation in commits.iter().filter_map(|c| c.release) {
                release_in!(tx, reservation)?;
            }
            for (parent, files) in &bulk {
                let owner = commits[files[0]].owner.to_string();
                let now = ms(commits[files[0]].now);
                // The folder must be the owner's and live; the same statement serialises with
                // the drive's other name changes before reading which names are taken
                // (PostgreSQL; SQLite has one writer anyway).
                let parent_ok = sqlx::query(
                    "UPDATE users SET quota_used = quota_used WHERE id = $2 AND EXISTS (SELECT 1 \
                     FROM nodes WHERE id = $1 AND owner_id = $2 AND kind = 'folder' AND trashed_at IS NULL)",
                )
                .bind(parent.to_string())
                .bind(&owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if parent_ok == 0 {
                    return Err(MetaError::NotFound);
                }
                let wanted: Vec<String> =
                    files.iter().filter_map(|&i| commits[i].name().map(|n| n.as_str().to_string())).collect();
                let mut taken = crate::bulk::taken_names!(tx, parent, wanted);
                let mut rows = Vec::with_capacity(files.len());
                let mut total: i64 = 0;
                for &i in files {
                    let c = &commits[i];
                    let (Some(name), CommitTarget::Named { policy, .. }) = (c.name(), &c.target) else {
                        continue;
                    };
                    let mut candidate = name.clone();
                    let mut n = 0;
                    while taken.contains(candidate.as_str()) {
                        if *policy == ConflictPolicy::Fail {
                            return Err(MetaError::NameConflict);
                        }
                        n += 1;
                        candidate =
                            name.numbered(n, true).filter(|_| n < 10_000).ok_or(MetaError::NameConflict)?;
                        if !taken.contains(candidate.as_str()) {
                            // A numbered name may be taken by a file outside the batch.
                            let more =
                                crate::bulk::taken_names!(tx, parent, [candidate.as_str().to_string()]);
                            taken.extend(more);
                        }
                    }
                    taken.insert(candidate.as_str().to_string());
                    total = total
                        .saturating_add(i64::try_from(c.version.size).map_err(|_| MetaError::QuotaExceeded)?);
                    rows.push((i, NodeId::new(), candidate));
                }
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
                let new: Vec<_> = rows.iter().map(|(i, id, name)| (*id, name, commits[*i].version)).collect();
                crate::bulk::insert_new_files!(tx, &owner, parent, new, now);
                let at = crate::row::time(now)?;
                let numbers =
                    crate::bulk::file_numbers!(tx, rows.iter().map(|(_, id, _)| *id).collect::<Vec<_>>());
                for (i, id, name) in rows {
                    let version = commits[i].version;
                    let file_no = numbers
                        .get(&id.to_string())
                        .copied()
                        .ok_or_else(|| MetaError::corrupt("a new file has no number"))?;
                    let node = Node {
                        id,
                        name: name.as_str().to_string(),
                        kind: stratus_core::NodeKind::File,
                        size: version.size,
                        content_hash: Some(version.content_hash.clone()),
                        parent_id: Some(*parent),
                        owner_id: commits[i].owner,
                        public_access: stratus_core::PublicAccess::None,
                        created_at: at,
                        modified_at: at,
                        version_id: Some(version.id),
                        tree_tag: 0,
                        file_no,
                        sha1: None,
                    };
                    done[i] = Some(Committed { node, created: true });
                }
            }
            // The block references of the files committed one by one: (length, count, time,
            // check).
            let mut references: BTreeMap<BlockHash, (u32, i64, i64, Option<BlockCheck>)> = BTreeMap::new();
            let mut holders: std::collections::BTreeSet<(BlockHash, String)> = Default::default();
            let mut numbered: std::collections::HashMap<(NodeId, String), u32> = Default::default();
            for (i, c) in commits.iter().enumerate() {
                if done[i].is_some() {
                    continue;
                }
                let owner = c.owner.to_string();
                let now = ms(c.now);
                let new_size = i64::try_from(c.version.size).map_err(|_| MetaError::QuotaExceeded)?;
                // The drive's lock first (every writer of a drive takes it before its nodes),
                // so what is read below is what this commit replaces: a commit racing this one
                // on the same file is seen here, or waits (sizes and `over` stay right).
                sqlx::query("UPDATE users SET quota_used = quota_used WHERE id = $1")
                    .bind(&owner)
                    .execute(&mut *tx)
                    .await?;
                // Resolve the target: (node id, previous size, name to create it under).
                let (node_id, old_size, create_as) = match &c.target {
                    CommitTarget::Existing { node, over } => {
                        let (old, hash): (i64, Option<String>) = sqlx::query_as(
                            "SELECT size, content_hash FROM nodes WHERE id = $1 AND owner_id = $2 \
                         AND kind = 'file' AND trashed_at IS NULL",
                        )
                        .bind(node.to_string())
                        .bind(&owner)
                        .fetch_one(&mut *tx)
                        .await?;
                        if over.is_some_and(|over| hash.as_deref() != Some(over)) {
                            return Err(MetaError::Changed);
                        }
                        (*node, old, None)
                    }
                    CommitTarget::Named { parent, folders, name, policy } => {
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
                        // (The drive's lock, taken above, also makes two commits that need
                        // the same new folder agree on one.)
                        let mut parent = *parent;
                        for folder in *folders {
                            let found: Option<(String, String)> = sqlx::query_as(
                                "SELECT id, kind FROM nodes WHERE parent_id = $1 AND name = $2 \
                                 AND trashed_at IS NULL",
                            )
                            .bind(parent.to_string())
                            .bind(folder.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                            parent = match found {
                                Some((id, kind)) if kind == "folder" => crate::row::id(&id)?,
                                Some(_) => return Err(MetaError::NameConflict),
                                None => {
                                    let id = NodeId::new();
                                    insert_node!(tx, id, &owner, parent, folder, "folder", now);
                                    id
                                }
                            };
                        }
                        // Under keep_both, the numbering goes on from where an earlier file of
                        // this transaction with the same name stopped (one query each, not n).
                        let key = (parent, name.as_str().to_string());
                        let mut n = numbered.get(&key).copied().unwrap_or(0);
                        let mut candidate = match n {
                            0 => (*name).clone(),
                            _ => name.numbered(n, true).ok_or(MetaError::NameConflict)?,
                        };
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
                                (None, _) => {
                                    numbered.insert(key, n);
                                    break (NodeId::new(), 0, Some((parent, candidate)));
                                }
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
                if let Some((parent, name)) = &create_as {
                    insert_node!(tx, node_id, &owner, parent, name, "file", now);
                }
                // Counted after every file, all in hash order (see below).
                for b in &c.version.blocks {
                    let counted = references.entry(b.hash).or_insert((b.len, 0, now, b.check));
                    counted.1 += 1;
                    counted.3 = counted.3.or(b.check);
                    holders.insert((b.hash, owner.clone()));
                }
                let hashes: Vec<BlockHash> = c.version.blocks.iter().map(|b| b.hash).collect();
                make_current!(
                    tx,
                    node_id,
                    c.version.id,
                    new_size,
                    &c.version.content_hash,
                    encode_blocks(&hashes),
                    now
                );
                if let Some(data) = &c.version.inline {
                    sqlx::query("INSERT INTO version_data (version_id, data) VALUES ($1, $2)")
                        .bind(c.version.id.to_string())
                        .bind(&data[..])
                        .execute(&mut *tx)
                        .await?;
                }
                let row: NodeRow =
                    sqlx::query_as(concat!("SELECT ", node_columns!(), " FROM nodes WHERE id = $1"))
                        .bind(node_id.to_string())
                        .fetch_one(&mut *tx)
                        .await?;
                done[i] = Some(Committed { node: row.try_into()?, created: create_as.is_some() });
            }
            // Block rows are taken in hash order across the whole transaction (however many
            // files it commits), so two transactions never wait for each other in a cycle.
            for (hash, (len, count, at, check)) in &references {
                sqlx::query(
                    "INSERT INTO blocks (hash, size, refcount, created_at, check_hash) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (hash) DO UPDATE SET refcount = blocks.refcount + $3, \
                     unreferenced_since = NULL, check_hash = COALESCE(blocks.check_hash, $5)",
                )
                .bind(&hash.0[..])
                .bind(i64::from(*len))
                .bind(*count)
                .bind(*at)
                .bind(check.map(|c| c.0.to_vec()))
                .execute(&mut *tx)
                .await?;
            }
            for (hash, owner) in &holders {
                sqlx::query("INSERT INTO user_blocks (user_id, hash) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(owner)
                    .bind(&hash.0[..])
                    .execute(&mut *tx)
                    .await?;
            }
        });
        done.into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| MetaError::corrupt("a commit left a file out"))
    }

    /// The stored content of one version.
    pub async fn content(&self, version: VersionId) -> Result<StoredContent> {
        let row: ContentRow = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT v.size, v.content_hash, v.blocks, d.data FROM versions v \
                 LEFT JOIN version_data d ON d.version_id = v.id WHERE v.id = $1",
            )
            .bind(version.to_string())
            .fetch_one(pool)
            .await?
        });
        self.with_checks(StoredContent::try_from(row)?).await
    }

    /// One version of `node` (not necessarily the current one).
    pub async fn version_content(&self, node: NodeId, version: VersionId) -> Result<StoredContent> {
        let row: ContentRow = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT v.size, v.content_hash, v.blocks, d.data FROM versions v \
                 LEFT JOIN version_data d ON d.version_id = v.id WHERE v.id = $1 AND v.node_id = $2",
            )
            .bind(version.to_string())
            .bind(node.to_string())
            .fetch_one(pool)
            .await?
        });
        self.with_checks(StoredContent::try_from(row)?).await
    }

    /// Fills in the checks the block rows know, a few hundred blocks to a query.
    async fn with_checks(&self, mut content: StoredContent) -> Result<StoredContent> {
        let mut known = std::collections::HashMap::new();
        let hashes: Vec<BlockHash> = content.blocks.iter().map(|(h, _)| *h).collect();
        for chunk in hashes.chunks(500) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 1)).collect();
            let sql = format!(
                "SELECT hash, check_hash FROM blocks WHERE check_hash IS NOT NULL AND hash IN ({})",
                marks.join(", ")
            );
            let rows: Vec<(Vec<u8>, Vec<u8>)> = on_db!(self, |pool| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for hash in chunk {
                    q = q.bind(hash.0.to_vec());
                }
                q.fetch_all(pool).await?
            });
            for (hash, check) in rows {
                if let (Some(hash), Some(check)) =
                    (BlockHash::from_slice(&hash), BlockCheck::from_slice(&check))
                {
                    known.insert(hash, check);
                }
            }
        }
        for (hash, check) in &mut content.blocks {
            *check = known.get(hash).copied();
        }
        Ok(content)
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
            // The drive's lock first, so the size replaced is the one counted.
            sqlx::query("UPDATE users SET quota_used = quota_used WHERE id = $1")
                .bind(node.owner_id.to_string())
                .execute(&mut *tx)
                .await?;
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
            copy_inline!(tx, old, new_version);
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

    /// Up to `limit` inlined versions after version id `after`, in id order (for fsck, page
    /// by page): their id and stored content.
    pub async fn inline_contents_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, StoredContent)>> {
        type Row = (String, i64, String, Vec<u8>, Vec<u8>);
        let rows: Vec<Row> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT v.id, v.size, v.content_hash, v.blocks, d.data FROM version_data d \
                 JOIN versions v ON v.id = d.version_id WHERE d.version_id > $1 \
                 ORDER BY d.version_id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, bytes, hash, blocks, data)| {
                Ok((id, StoredContent::try_from((bytes, hash, blocks, Some(data)))?))
            })
            .collect()
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
