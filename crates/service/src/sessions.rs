//! Block-negotiation uploads: the client declares a file's size and the SHA-256 of each of its
//! 4 MiB blocks; the server reserves the quota and answers which blocks it lacks; the client
//! sends only those, in any order and in parallel, each verified on arrival; the commit creates
//! the file atomically. A file the server already holds transfers no block at all.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use stratus_core::{
    BLOCK_SIZE, BlockHash, BlockRef, ConflictPolicy, ContentHasher, NodeId, NodeName, VersionId,
};
use stratus_meta::{CommitFile, CommitTarget, NewVersion, UploadSession};

use crate::{
    Caller, Result, ServiceError, Stratus, Uploaded,
    access::{Grant, Write},
};

/// A new session's declaration.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub parent: NodeId,
    pub name: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of each block, in order.
    pub blocks: Vec<String>,
    pub policy: ConflictPolicy,
}

/// Where a session stands: what the server still lacks.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub upload_id: VersionId,
    /// Indices of the blocks to send.
    pub missing: Vec<u64>,
    pub expires_at: DateTime<Utc>,
}

fn block_len(size: u64, index: usize) -> u64 {
    let block = BLOCK_SIZE as u64;
    (size - index as u64 * block).min(block)
}

impl Stratus {
    /// Opens a session: checks the target, reserves the quota, and answers the missing blocks.
    pub async fn start_upload(&self, caller: &Caller, n: NewUpload) -> Result<SessionState> {
        let (parent, name) = self.upload_target(caller, n.parent, &n.name, n.policy).await?;
        let parent = parent.node();
        let blocks = n
            .blocks
            .iter()
            .map(|h| h.parse::<BlockHash>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ServiceError::invalid("invalid_blocks", "blocks are hex SHA-256 digests"))?;
        let expected = n.size.div_ceil(BLOCK_SIZE as u64);
        if blocks.len() as u64 != expected {
            return Err(ServiceError::invalid(
                "block_count_mismatch",
                format!("a file of {} bytes has {expected} blocks of 4 MiB", n.size),
            ));
        }
        let id = VersionId::new();
        let expires_at = self.now() + self.0.settings.reservation_ttl;
        if n.size > 0 {
            self.db().reserve_quota(parent.owner_id, id, n.size, expires_at, None).await?;
        }
        let session = UploadSession {
            id,
            owner: parent.owner_id,
            created_by: caller.user(),
            parent: parent.id,
            name: name.as_str().to_string(),
            policy: n.policy,
            size: n.size,
            blocks,
            expires_at,
        };
        if let Err(err) = self.db().insert_session(&session, self.now()).await {
            let _ = self.db().release_quota(id).await;
            return Err(err.into());
        }
        self.session_state(caller, &session).await
    }

    /// Which blocks the session still lacks. A block counts as present only when the caller
    /// has shown to hold it (sent it, here or in an earlier upload, or has it in their drive)
    /// and the store still has it: the answer never tells whether *someone else* stores a
    /// block, so a declared hash is no oracle for others' content. Identical bytes from two
    /// users are still stored once: the second user sends them, the store keeps one copy.
    async fn session_state(&self, caller: &Caller, s: &UploadSession) -> Result<SessionState> {
        let known = self.db().known_blocks(caller.user(), &s.blocks).await?;
        let mut missing = Vec::new();
        for (i, hash) in s.blocks.iter().enumerate() {
            if !known.contains(hash) || !self.blocks().touch(*hash).await? {
                missing.push(i as u64);
            }
        }
        Ok(SessionState { upload_id: s.id, missing, expires_at: s.expires_at })
    }

    /// The caller's live session, if they may still write where it goes: checked at every
    /// step (each block, the commit), so a share revoked mid-upload stops it.
    async fn own_session(&self, caller: &Caller, id: VersionId) -> Result<(UploadSession, Grant<Write>)> {
        let session = self.db().session(id).await?;
        if session.created_by != caller.user() || session.expires_at <= self.now() {
            return Err(ServiceError::NotFound);
        }
        let (parent, _) = self.upload_target(caller, session.parent, &session.name, session.policy).await?;
        Ok((session, parent))
    }

    /// What a session still lacks (to resume after an interruption).
    pub async fn upload_state(&self, caller: &Caller, id: VersionId) -> Result<SessionState> {
        let (session, _) = self.own_session(caller, id).await?;
        self.session_state(caller, &session).await
    }

    /// Receives block `index`: it must be the declared length and hash to the declared digest.
    pub async fn put_block(&self, caller: &Caller, id: VersionId, index: u64, data: Bytes) -> Result<()> {
        let (session, _) = self.own_session(caller, id).await?;
        let Some(hash) = usize::try_from(index).ok().and_then(|i| session.blocks.get(i)) else {
            return Err(ServiceError::NotFound);
        };
        let expected = block_len(session.size, index as usize);
        if data.len() as u64 != expected {
            return Err(ServiceError::invalid(
                "block_length_mismatch",
                format!("block {index} is {expected} bytes, not {}", data.len()),
            ));
        }
        // Counted as received: it crossed the network, whether or not storing it completes.
        self.0.counters.block_bytes.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let pool = self.pool_of(session.owner).await?;
        self.blocks().put_checked(&pool, data, *hash).await?;
        Ok(self.db().add_known_block(caller.user(), *hash).await?)
    }

    /// Creates the file (or its new version) from the session's blocks, atomically.
    pub async fn commit_session(&self, caller: &Caller, id: VersionId) -> Result<Uploaded> {
        let (session, parent) = self.own_session(caller, id).await?;
        let state = self.session_state(caller, &session).await?;
        if !state.missing.is_empty() {
            return Err(ServiceError::Conflict {
                code: "blocks_missing",
                message: format!("blocks still missing: {:?}", state.missing),
            });
        }
        let mut hasher = ContentHasher::default();
        let mut blocks = Vec::with_capacity(session.blocks.len());
        for (i, hash) in session.blocks.iter().enumerate() {
            hasher.push(hash);
            // Its check is not known here (the block may have come in an earlier upload): a
            // download verifies it by its address unless an upload stored the check.
            blocks.push(BlockRef { hash: *hash, len: block_len(session.size, i) as u32, check: None });
        }
        let version =
            NewVersion { id, size: session.size, content_hash: hasher.finish(), blocks, inline: None };
        let name = NodeName::new(&session.name)?;
        let commit = CommitFile {
            owner: session.owner,
            target: CommitTarget::Named {
                parent: parent.node().id,
                folders: &[],
                name: &name,
                policy: session.policy,
            },
            version: &version,
            release: (session.size > 0).then_some(id),
            now: self.now(),
        };
        let done = self.db().commit_file(&commit).await?;
        self.0.counters.files_committed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.db().delete_session(id).await?;
        Ok(Uploaded { node: done.node, created: done.created })
    }

    /// Abandons a session and gives its quota back (also after the caller lost access).
    pub async fn abort_upload(&self, caller: &Caller, id: VersionId) -> Result<()> {
        if self.db().session(id).await?.created_by != caller.user() {
            return Err(ServiceError::NotFound);
        }
        self.db().delete_session(id).await?;
        Ok(self.db().release_quota(id).await?)
    }
}
