//! File content: streaming uploads (quota reserved as bytes arrive, blocks durable before the
//! metadata commit) and verified, pipelined downloads.

use std::fmt::Display;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use stratus_blob::{BlockStore, Written};
use stratus_core::{
    BLOCK_SIZE, BlockCheck, BlockHash, ConflictPolicy, Node, NodeId, NodeName, UserId, VersionId,
};
use stratus_meta::{CommitFile, CommitTarget, NewVersion};

use crate::{
    Caller, Result, ServiceError, Stratus,
    access::{Drop, Grant, Read, Write},
    checksum::{DeclaredSha1, Sha1Tap},
};

/// What a client asks of an upload besides its bytes: that the body has the SHA-1 it declares
/// (`OC-Checksum`), that the file still holds the content it read (`If-Match`: the content's
/// hash, which is its ETag).
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub sha1: Option<DeclaredSha1>,
    pub over: Option<String>,
}

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

/// A declared upload up to this size reserves no quota: its commit checks the quota in the
/// same transaction that counts it, and a read beforehand refuses it early. It saves a write
/// transaction (and its fsync) per small file; at worst, concurrent small uploads of a full
/// drive store blocks that their commits then refuse (and the collector removes).
const UNRESERVED_UPLOAD: u64 = 1 << 20;

/// Blocks read ahead of the one being sent.
const READ_AHEAD: usize = 2;

/// A file ready to be streamed to a client.
#[derive(Debug, Clone)]
pub struct Download {
    pub node: Node,
    pub size: u64,
    pub content_hash: String,
    blocks: Vec<(BlockHash, Option<BlockCheck>)>,
    /// A small file's bytes, kept in the database and already verified.
    inline: Option<Bytes>,
    store: BlockStore,
}

impl Download {
    /// The bytes `start..=end` (inclusive, within the file), each block verified as it is read.
    pub fn stream(&self, start: u64, end: u64) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        if let Some(data) = &self.inline {
            let hi = usize::try_from(end.saturating_add(1)).unwrap_or(usize::MAX).min(data.len());
            let lo = usize::try_from(start).unwrap_or(usize::MAX).min(hi);
            return stream::iter(vec![Ok(data.slice(lo..hi))]).left_stream();
        }
        let block = BLOCK_SIZE as u64;
        let (first, last) = if self.size == 0 { (1, 0) } else { (start / block, end / block) };
        let wanted: Vec<(u64, (BlockHash, Option<BlockCheck>))> =
            (first..=last).filter_map(|i| self.blocks.get(i as usize).map(|b| (i, *b))).collect();
        let store = self.store.clone();
        stream::iter(wanted)
            .map(move |(i, (hash, check))| {
                let store = store.clone();
                async move { store.get_checked(hash, check).await.map(|data| (i, data)) }
            })
            .buffered(READ_AHEAD)
            .map(move |read| {
                let (i, data) = read?;
                let offset = i * block;
                let lo = start.saturating_sub(offset) as usize;
                let hi = ((end + 1 - offset) as usize).min(data.len());
                Ok(data.slice(lo.min(hi)..hi))
            })
            .right_stream()
    }

    fn new(node: Node, content: stratus_meta::StoredContent, store: &BlockStore) -> Result<Self> {
        let inline = verified_inline(store, &content)?;
        Ok(Self {
            node,
            size: content.size,
            content_hash: content.content_hash,
            blocks: content.blocks,
            inline,
            store: store.clone(),
        })
    }
}

/// The bytes of a version kept inline (`None` for one in blocks), checked against their block
/// hash, the version's content hash and its size.
pub(crate) fn verified_inline(
    store: &BlockStore,
    content: &stratus_meta::StoredContent,
) -> Result<Option<Bytes>> {
    let Some(kept) = &content.inline else { return Ok(None) };
    let (hash, plain) = store.open_inline(Bytes::copy_from_slice(kept))?;
    let mut whole = stratus_core::ContentHasher::default();
    whole.push(&hash);
    if whole.finish() != content.content_hash || plain.len() as u64 != content.size {
        return Err(stratus_blob::BlobError::Corrupt(hash).into());
    }
    Ok(Some(plain))
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

    /// [`Self::upload`] under a client's [`Conditions`]: refused, and nothing changed, when
    /// one does not hold.
    pub async fn upload_under<S, E>(
        &self,
        caller: Option<&Caller>,
        target: UploadTarget,
        declared: Option<u64>,
        body: S,
        conditions: Conditions,
    ) -> Result<Uploaded>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        let plan = self.plan_upload(caller, &target).await?.under(conditions)?;
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
        // A reservation made for this request alone is this node's: should the node die
        // mid-upload, the others give it back once its heartbeat stops.
        let node = held.is_none().then(|| self.node_name());
        let (reservation, reserved) = held.unwrap_or((VersionId::new(), 0));
        let mut budget = Budget::new(Reservation { owner: plan.owner(), id: reservation, node }, reserved);
        self.claim(&mut budget, declared, held.is_none()).await?;
        let tap = Sha1Tap::new(plan.sha1.as_ref());
        let stored = self.receive(&mut budget, declared, tap.tap(body), true).await;
        let result = match stored.and_then(|written| Ok((tap.verify(plan.sha1.as_ref())?, written))) {
            Ok((sha1, written)) => self.commit_upload(plan, reservation, budget.held(), written, sha1).await,
            Err(err) => Err(err),
        };
        if result.is_err() {
            self.release(&budget).await;
        }
        result
    }

    /// Makes room in `budget` for a body of `declared` bytes before it is read: reserved, or
    /// — for a small one when `small_unreserved` — only checked (its commit counts it).
    pub(crate) async fn claim(
        &self,
        budget: &mut Budget<'_>,
        declared: Option<u64>,
        small_unreserved: bool,
    ) -> Result<()> {
        match declared.filter(|&size| size > budget.reserved) {
            Some(size) if small_unreserved && size <= UNRESERVED_UPLOAD => {
                let limit = self.db().room_for(budget.quota.owner, size).await?;
                let limit = limit.ok_or(ServiceError::QuotaExceeded)?;
                budget.pool = Some(self.pool_for_limit(limit));
                budget.room = size;
            }
            Some(size) => {
                self.reserve(&budget.quota, size - budget.reserved).await?;
                (budget.reserved, budget.room) = (size, size);
            }
            None => {}
        }
        Ok(())
    }

    /// Gives back what `budget` reserved (after a failure; a commit releases it itself).
    pub(crate) async fn release(&self, budget: &Budget<'_>) {
        if budget.reserved > 0
            && let Err(err) = self.db().release_quota(budget.quota.id).await
        {
            tracing::error!(%err, "could not release an upload's quota reservation");
        }
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
    pub(crate) async fn plan_upload(&self, caller: Option<&Caller>, target: &UploadTarget) -> Result<Plan> {
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

    /// Reads a body into blocks (or, if `inline` allows and it is small, into bytes to keep
    /// with its version), drawing on `budget` as it arrives.
    pub(crate) async fn receive<S, E>(
        &self,
        budget: &mut Budget<'_>,
        declared: Option<u64>,
        body: S,
        inline: bool,
    ) -> Result<stratus_blob::Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        let pool = match &budget.pool {
            Some(pool) => pool.clone(),
            None => budget.pool.insert(self.pool_of(budget.quota.owner).await?).clone(),
        };
        let mut writer = self.blocks().writer(&pool, declared);
        if !inline {
            writer = writer.without_inline();
        }
        let mut body = std::pin::pin!(body);
        let idle = self.0.settings.body_idle_timeout;
        while let Some(chunk) =
            tokio::time::timeout(idle, body.next()).await.map_err(|_| ServiceError::Timeout)?
        {
            let chunk = chunk.map_err(|e| ServiceError::UploadIncomplete(e.to_string()))?;
            if declared.is_some_and(|d| writer.size() + chunk.len() as u64 > d) {
                return Err(ServiceError::BadRequest {
                    code: "length_mismatch",
                    message: "the body is longer than its declared length".into(),
                });
            }
            let total = budget.used + chunk.len() as u64;
            if total > budget.room {
                // Grow in large steps; near the limit, reserve exactly what arrived.
                let needed = total - budget.room;
                let step = RESERVATION_STEP.max(needed);
                let grown = match self.reserve(&budget.quota, step).await {
                    Ok(()) => step,
                    Err(ServiceError::QuotaExceeded) if step > needed => {
                        self.reserve(&budget.quota, needed).await?;
                        needed
                    }
                    Err(err) => return Err(err),
                };
                budget.room += grown;
                budget.reserved += grown;
            }
            writer.write(&chunk).await?;
            budget.used = total;
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

    /// Commits one upload as version `id`, releasing the reservation `release` in the same
    /// transaction.
    async fn commit_upload(
        &self,
        plan: Plan,
        id: VersionId,
        release: Option<VersionId>,
        written: Written,
        sha1: Option<String>,
    ) -> Result<Uploaded> {
        let version = new_version(id, written);
        let finished = crate::group::Finished { plan, version, release, now: self.now() };
        let mut done = self.commit_finished(finished).await?;
        self.0.counters.files_committed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Kept once the file is: a SHA-1 lost here is only one a client cannot check against.
        if let (Some(sha1), Some(content)) = (sha1, done.node.content_hash.as_deref()) {
            match self.db().record_sha1(done.node.owner_id, content, &sha1).await {
                Ok(()) => done.node.sha1 = Some(sha1),
                Err(err) => tracing::warn!(%err, "could not keep an upload's verified SHA-1"),
            }
        }
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
        Download::new(node, content, self.blocks())
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
        Download::new(node, content, self.blocks())
    }
}

/// The quota an upload holds: whose, under which id, and the node it dies with (none when
/// it spans requests).
pub(crate) struct Reservation<'a> {
    pub owner: UserId,
    pub id: VersionId,
    pub node: Option<&'a str>,
}

/// What an upload (or a batch of them) may write: bytes reserved under its reservation, and
/// bytes it may write before it must reserve more (more than reserved for a small upload that
/// reserves nothing).
pub(crate) struct Budget<'a> {
    quota: Reservation<'a>,
    room: u64,
    reserved: u64,
    /// Bytes received so far.
    used: u64,
    /// The pool the owner's blocks go to, once looked up.
    pool: Option<String>,
}

impl<'a> Budget<'a> {
    pub fn new(quota: Reservation<'a>, reserved: u64) -> Self {
        Self { quota, room: reserved, reserved, used: 0, pool: None }
    }

    /// The reservation a commit must release, if anything is reserved.
    pub fn held(&self) -> Option<VersionId> {
        (self.reserved > 0).then_some(self.quota.id)
    }
}

/// The version an upload's stored bytes become.
pub(crate) fn new_version(id: VersionId, written: Written) -> NewVersion {
    NewVersion {
        id,
        size: written.size,
        content_hash: written.content_hash,
        blocks: written.blocks,
        inline: written.inline,
    }
}

/// An authorised upload target: made only from a grant to write there.
pub(crate) struct Plan {
    target: Target,
    /// What the client says the whole file's SHA-1 is.
    sha1: Option<DeclaredSha1>,
    /// A new version only over the content of this hash (what the client read: `If-Match`).
    over: Option<String>,
}

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
        Ok(Self { target: Target::Existing(file), sha1: None, over: None })
    }

    /// A file `name` inside `folders` (created as needed) inside `parent`.
    pub fn named(
        parent: Grant<Write>,
        folders: Vec<NodeName>,
        name: NodeName,
        policy: ConflictPolicy,
    ) -> Self {
        Self { target: Target::Named { parent, folders, name, policy }, sha1: None, over: None }
    }

    /// A file dropped through a link: a clash keeps both.
    pub fn dropped(folder: Grant<Drop>, name: NodeName) -> Self {
        Self { target: Target::Dropped { folder, name }, sha1: None, over: None }
    }

    /// The same, under the client's conditions: the SHA-1 it declared (checked before the
    /// commit), the content it wrote over (checked in the commit).
    pub fn under(self, conditions: Conditions) -> Result<Self> {
        if let (Some(over), Target::Existing(file)) = (&conditions.over, &self.target)
            && file.node().content_hash.as_ref() != Some(over)
        {
            return Err(ServiceError::Changed);
        }
        Ok(Self { sha1: conditions.sha1, over: conditions.over, ..self })
    }

    /// The commit of `version` here, releasing the reservation `release`.
    pub fn commit<'a>(
        &'a self,
        version: &'a NewVersion,
        release: Option<VersionId>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> CommitFile<'a> {
        let target = match &self.target {
            Target::Existing(file) => {
                CommitTarget::Existing { node: file.node().id, over: self.over.as_deref() }
            }
            Target::Named { parent, folders, name, policy } => {
                CommitTarget::Named { parent: parent.node().id, folders, name, policy: *policy }
            }
            Target::Dropped { folder, name } => CommitTarget::Named {
                parent: folder.node().id,
                folders: &[],
                name,
                policy: ConflictPolicy::KeepBoth,
            },
        };
        CommitFile { owner: self.owner(), target, version, release, now }
    }

    /// Whose drive, and quota, the file goes to.
    pub(crate) fn owner(&self) -> UserId {
        match &self.target {
            Target::Existing(file) => file.node().owner_id,
            Target::Named { parent, .. } => parent.node().owner_id,
            Target::Dropped { folder, .. } => folder.node().owner_id,
        }
    }
}
