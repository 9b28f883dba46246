//! File content: streaming uploads (quota reserved as bytes arrive, blocks durable before the
//! metadata commit) and verified, pipelined downloads.

use std::fmt::Display;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use stratus_blob::BlockStore;
use stratus_core::{BLOCK_SIZE, BlockHash, ConflictPolicy, Node, NodeId, NodeName, UserId, VersionId};
use stratus_meta::{CommitFile, CommitTarget, NewVersion};

use crate::{
    Caller, Result, ServiceError, Stratus,
    access::{Drop, Grant, Read, Write},
};

/// Where an upload goes.
#[derive(Debug, Clone)]
pub enum UploadTarget {
    /// A file at `path` (a name, or a relative path such as `a/b/c.txt` whose folders are
    /// created) inside `parent`.
    Named { parent: NodeId, path: String, policy: ConflictPolicy },
    /// A new version of this file.
    Existing(NodeId),
}

/// The smallest step by which a streaming upload of unknown length grows its reservation.
const RESERVATION_STEP: u64 = 16 * BLOCK_SIZE as u64;

/// Blocks read ahead of the one being sent.
const READ_AHEAD: usize = 2;

/// A file ready to be streamed to a client.
#[derive(Debug, Clone)]
pub struct Download {
    pub node: Node,
    pub size: u64,
    pub content_hash: String,
    blocks: Vec<BlockHash>,
    store: BlockStore,
}

impl Download {
    /// The bytes `start..=end` (inclusive, within the file), each block verified as it is read.
    pub fn stream(&self, start: u64, end: u64) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        let block = BLOCK_SIZE as u64;
        let (first, last) = if self.size == 0 { (1, 0) } else { (start / block, end / block) };
        let wanted: Vec<(u64, BlockHash)> =
            (first..=last).filter_map(|i| self.blocks.get(i as usize).map(|h| (i, *h))).collect();
        let store = self.store.clone();
        stream::iter(wanted)
            .map(move |(i, hash)| {
                let store = store.clone();
                async move { store.get(hash).await.map(|data| (i, data)) }
            })
            .buffered(READ_AHEAD)
            .map(move |read| {
                let (i, data) = read?;
                let offset = i * block;
                let lo = start.saturating_sub(offset) as usize;
                let hi = ((end + 1 - offset) as usize).min(data.len());
                Ok(data.slice(lo.min(hi)..hi))
            })
    }
}

/// An upload's result.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub node: Node,
    /// A new file (`true`) or a new version of one (`false`).
    pub created: bool,
}

impl Stratus {
    /// Stores a file from a byte stream into a folder (or file) the caller may write to; it
    /// belongs to, and counts against the quota of, that folder's owner. With `declared` (a
    /// Content-Length), the quota is reserved before any byte is read; otherwise it is reserved as bytes arrive. Nothing is
    /// visible until every block is durable and the metadata commit succeeds; on any failure
    /// the reservation is released and no file appears.
    pub async fn upload<S, E>(
        &self,
        caller: Option<&Caller>,
        target: UploadTarget,
        declared: Option<u64>,
        body: S,
    ) -> Result<Uploaded>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        let plan = self.plan_upload(caller, &target).await?;
        self.upload_planned(plan, declared, body).await
    }

    /// Stores an upload whose target was already authorised.
    pub(crate) async fn upload_planned<S, E>(
        &self,
        plan: Plan,
        declared: Option<u64>,
        body: S,
    ) -> Result<Uploaded>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        self.upload_reserved(plan, declared, body, None).await
    }

    /// Stores an upload, under a reservation the caller already holds (`(id, bytes)`), or a
    /// new one.
    pub(crate) async fn upload_reserved<S, E>(
        &self,
        plan: Plan,
        declared: Option<u64>,
        body: S,
        held: Option<(VersionId, u64)>,
    ) -> Result<Uploaded>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        let owner = plan.owner();
        // A reservation made for this request alone is this node's: should the node die
        // mid-upload, the others give it back once its heartbeat stops.
        let node = held.is_none().then(|| self.node_name());
        let (reservation, mut reserved) = held.unwrap_or((VersionId::new(), 0));
        let quota = Reservation { owner, id: reservation, node };
        if let Some(size) = declared.filter(|&size| size > reserved) {
            self.reserve(&quota, size - reserved).await?;
            reserved = size;
        }
        let stored = self.receive(&quota, &mut reserved, declared, body).await;
        let result = match stored {
            Ok(written) => self.commit_upload(plan, reservation, reserved > 0, written).await,
            Err(err) => Err(err),
        };
        if result.is_err()
            && reserved > 0
            && let Err(err) = self.db().release_quota(reservation).await
        {
            tracing::error!(%err, "could not release an upload's quota reservation");
        }
        result
    }

    async fn reserve(&self, quota: &Reservation<'_>, bytes: u64) -> Result<()> {
        let expires = self.now() + self.0.settings.reservation_ttl;
        Ok(self.db().reserve_quota(quota.owner, quota.id, bytes, expires, quota.node).await?)
    }

    /// The folder a declared upload (session or tus) goes into and its file's name, checked
    /// before a byte is sent: the caller may write there, the name is valid, and under `fail`
    /// the name is free.
    pub(crate) async fn upload_target(
        &self,
        caller: &Caller,
        parent: NodeId,
        name: &str,
        policy: ConflictPolicy,
    ) -> Result<(Grant<Write>, NodeName)> {
        let parent = self.authorize_folder::<Write>(Some(caller), parent).await?;
        let name = NodeName::new(name)?;
        self.check_clash(Some(caller), parent.node(), &name, policy).await?;
        Ok((parent, name))
    }

    /// What an upload named `name` in `parent` meets there: under `fail` the name must be
    /// free; under `replace` the file it would replace must be writable (not locked).
    async fn check_clash(
        &self,
        caller: Option<&Caller>,
        parent: &Node,
        name: &NodeName,
        policy: ConflictPolicy,
    ) -> Result<()> {
        let existing = self.db().child_by_name(parent.id, name.as_str()).await?;
        match (existing, policy) {
            (Some(_), ConflictPolicy::Fail) => Err(ServiceError::NameConflict),
            (Some(file), ConflictPolicy::Replace) => self.authorize::<Write>(caller, file.id).await.map(drop),
            _ => Ok(()),
        }
    }

    /// Validates the target before a byte is read, so a bad request fails fast.
    async fn plan_upload(&self, caller: Option<&Caller>, target: &UploadTarget) -> Result<Plan> {
        match target {
            UploadTarget::Existing(node) => Plan::existing(self.authorize::<Write>(caller, *node).await?),
            UploadTarget::Named { parent, path, policy } => {
                let parent = self.authorize_folder::<Write>(caller, *parent).await?;
                let mut segments = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(NodeName::new)
                    .collect::<Result<Vec<_>, _>>()?;
                let name = segments.pop().ok_or(stratus_core::NameError::Empty)?;
                // The folders of the path that exist already are written into as well: the
                // deepest must be writable (not locked), and if the whole path exists, what
                // the file would replace there too.
                let mut deepest = parent.node().clone();
                let mut whole = true;
                for segment in &segments {
                    match self.db().child_by_name(deepest.id, segment.as_str()).await? {
                        Some(folder) if folder.is_folder() => deepest = folder,
                        Some(_) => return Err(ServiceError::NameConflict),
                        None => {
                            whole = false;
                            break;
                        }
                    }
                }
                if deepest.id != parent.node().id {
                    self.authorize_folder::<Write>(caller, deepest.id).await?;
                }
                if whole {
                    self.check_clash(caller, &deepest, &name, *policy).await?;
                }
                Ok(Plan::named(parent, segments, name, *policy))
            }
        }
    }

    async fn receive<S, E>(
        &self,
        quota: &Reservation<'_>,
        reserved: &mut u64,
        declared: Option<u64>,
        body: S,
    ) -> Result<stratus_blob::Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        let mut writer = self.blocks().writer(&self.pool_of(quota.owner).await?, declared);
        let mut body = std::pin::pin!(body);
        let idle = self.0.settings.body_idle_timeout;
        while let Some(chunk) =
            tokio::time::timeout(idle, body.next()).await.map_err(|_| ServiceError::Timeout)?
        {
            let chunk = chunk.map_err(|e| ServiceError::UploadIncomplete(e.to_string()))?;
            let total = writer.size() + chunk.len() as u64;
            if declared.is_some_and(|d| total > d) {
                return Err(ServiceError::BadRequest {
                    code: "length_mismatch",
                    message: "the body is longer than its declared length".into(),
                });
            }
            if total > *reserved {
                // Grow in large steps; near the limit, reserve exactly what arrived.
                let needed = total - *reserved;
                let step = RESERVATION_STEP.max(needed);
                *reserved += match self.reserve(quota, step).await {
                    Ok(()) => step,
                    Err(ServiceError::QuotaExceeded) if step > needed => {
                        self.reserve(quota, needed).await?;
                        needed
                    }
                    Err(err) => return Err(err),
                };
            }
            writer.write(&chunk).await?;
            self.0.counters.upload_bytes.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        if declared.is_some_and(|d| writer.size() != d) {
            return Err(ServiceError::UploadIncomplete(format!(
                "{} of {} bytes arrived",
                writer.size(),
                declared.unwrap_or_default()
            )));
        }
        Ok(writer.finish().await?)
    }

    async fn commit_upload(
        &self,
        plan: Plan,
        reservation: VersionId,
        reserved: bool,
        written: stratus_blob::Written,
    ) -> Result<Uploaded> {
        let version = NewVersion {
            id: reservation,
            size: written.size,
            content_hash: written.content_hash,
            blocks: written.blocks,
        };
        let owner = plan.owner();
        let (target, name);
        match plan.0 {
            Target::Existing(file) => target = CommitTarget::Existing(file.node().id),
            Target::Named { parent, folders, name: file, policy } => {
                let folder = self.ensure_folders(&parent, &folders).await?;
                name = file;
                target = CommitTarget::Named { parent: folder, name: &name, policy };
            }
            Target::Dropped { folder, name: file } => {
                name = file;
                target = CommitTarget::Named {
                    parent: folder.node().id,
                    name: &name,
                    policy: ConflictPolicy::KeepBoth,
                };
            }
        }
        let commit = CommitFile { owner, target, version: &version, reserved, now: self.now() };
        let done = self.db().commit_file(&commit).await?;
        self.0.counters.files_committed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Uploaded { node: done.node, created: done.created })
    }

    /// A file's stored versions, newest first.
    pub async fn versions(
        &self,
        caller: Option<&Caller>,
        node: NodeId,
    ) -> Result<Vec<stratus_core::Version>> {
        let node = self.authorize::<Read>(caller, node).await?.into_node();
        if node.is_folder() {
            return Err(ServiceError::invalid("not_a_file", "a folder has no versions"));
        }
        Ok(self.db().versions(node.id).await?)
    }

    /// One version of a file, ready to stream.
    pub async fn version_download(
        &self,
        caller: Option<&Caller>,
        node: NodeId,
        version: VersionId,
    ) -> Result<Download> {
        let node = self.authorize::<Read>(caller, node).await?.into_node();
        let content = self.db().version_content(node.id, version).await?;
        Ok(Download {
            node,
            size: content.size,
            content_hash: content.content_hash,
            blocks: content.blocks,
            store: self.blocks().clone(),
        })
    }

    /// Makes an older version current again (as a new version; the history is kept).
    pub async fn restore_version(&self, caller: &Caller, node: NodeId, version: VersionId) -> Result<Node> {
        let node = self.authorize::<Write>(Some(caller), node).await?.into_node();
        if node.is_folder() {
            return Err(ServiceError::invalid("not_a_file", "a folder has no versions"));
        }
        Ok(self.db().restore_version(&node, version, VersionId::new(), self.now()).await?)
    }

    /// A file's current content, ready to stream.
    pub async fn download(&self, caller: Option<&Caller>, node: NodeId) -> Result<Download> {
        let file = self.authorize::<Read>(caller, node).await?;
        self.content_of(&file).await
    }

    /// The content of a file the caller holds a grant to read.
    pub(crate) async fn content_of(&self, file: &Grant<Read>) -> Result<Download> {
        let node = file.node().clone();
        let version =
            node.version_id.ok_or_else(|| ServiceError::invalid("not_a_file", "a folder has no content"))?;
        let content = self.db().content(version).await?;
        Ok(Download {
            node,
            size: content.size,
            content_hash: content.content_hash,
            blocks: content.blocks,
            store: self.blocks().clone(),
        })
    }
}

/// The quota an upload holds: whose, under which id, and the node it dies with (none when
/// it spans requests).
struct Reservation<'a> {
    owner: UserId,
    id: VersionId,
    node: Option<&'a str>,
}

/// An authorised upload target: made only from a grant to write there.
pub(crate) struct Plan(Target);

enum Target {
    Existing(Grant<Write>),
    Named { parent: Grant<Write>, folders: Vec<NodeName>, name: NodeName, policy: ConflictPolicy },
    Dropped { folder: Grant<Drop>, name: NodeName },
}

impl Plan {
    /// A new version of the file.
    pub fn existing(file: Grant<Write>) -> Result<Self> {
        if file.node().is_folder() {
            return Err(ServiceError::invalid("not_a_file", "a folder has no content"));
        }
        Ok(Self(Target::Existing(file)))
    }

    /// A file `name` inside `folders` (created as needed) inside `parent`.
    pub fn named(
        parent: Grant<Write>,
        folders: Vec<NodeName>,
        name: NodeName,
        policy: ConflictPolicy,
    ) -> Self {
        Self(Target::Named { parent, folders, name, policy })
    }

    /// A file dropped through a link: a clash keeps both.
    pub fn dropped(folder: Grant<Drop>, name: NodeName) -> Self {
        Self(Target::Dropped { folder, name })
    }

    /// Whose drive, and quota, the file goes to.
    fn owner(&self) -> UserId {
        match &self.0 {
            Target::Existing(file) => file.node().owner_id,
            Target::Named { parent, .. } => parent.node().owner_id,
            Target::Dropped { folder, .. } => folder.node().owner_id,
        }
    }
}
