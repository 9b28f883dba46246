//! tus 1.0 resumable uploads (core, creation, creation-with-upload, creation-defer-length,
//! termination, checksum, expiration).
//!
//! Bytes accepted so far live in the block store, where every node sees them: a PATCH first
//! claims its upload in the database at its offset (a compare-and-set, so two PATCHes never
//! write at once), then stores what arrives as parts of up to 4 MiB, each durable before the
//! transaction that records it and moves the offset. An offset therefore always has its bytes
//! behind it; nothing is ever filled in. A client that disconnects keeps what arrived (without
//! a checksum); a checksummed chunk is all or nothing. At the last byte the parts are read back,
//! verified, and stored and committed like any upload, under the quota the upload reserved as
//! it went. Nothing is visible before that. The caller's right to write there is checked again
//! at every PATCH, so a revoked share stops an upload in flight.

use std::fmt::Display;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use sha1::Digest as _;
use stratus_core::{BLOCK_SIZE, ConflictPolicy, Node, NodeId, VersionId};
use stratus_meta::TusUpload;

use crate::{Caller, Result, ServiceError, Stratus, files::Plan};

/// What a tus creation request carries.
#[derive(Debug, Clone)]
pub struct TusCreate {
    /// `None` for a deferred length.
    pub length: Option<u64>,
    pub filename: String,
    /// The caller's root folder when absent.
    pub parent: Option<NodeId>,
    pub policy: ConflictPolicy,
}

#[derive(Debug, Clone)]
pub struct TusState {
    pub id: VersionId,
    pub offset: u64,
    pub length: Option<u64>,
    pub expires_at: DateTime<Utc>,
    /// The file, once the last byte arrived.
    pub node: Option<Node>,
}

/// An `Upload-Checksum`: the algorithm and the expected digest of the chunk.
#[derive(Debug, Clone)]
pub enum TusChecksum {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => sha2::Digest::update(h, data),
        }
    }

    fn matches(self, checksum: &TusChecksum) -> bool {
        match (self, checksum) {
            (Hasher::Sha1(h), TusChecksum::Sha1(want)) => h.finalize().as_slice() == want.as_slice(),
            (Hasher::Sha256(h), TusChecksum::Sha256(want)) => {
                sha2::Digest::finalize(h).as_slice() == want.as_slice()
            }
            _ => false,
        }
    }
}

/// How long a PATCH waits for another one to let go of its upload.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// One PATCH in progress: its claim, the offset recorded so far, the parts stored but not yet
/// recorded, and what the upload's row will say.
struct Patch {
    id: VersionId,
    claim: String,
    recorded: u64,
    pending: Vec<(u64, u64, stratus_core::BlockHash)>,
    length: Option<u64>,
    reserved: u64,
}

fn lost(at: u64) -> ServiceError {
    ServiceError::Gone {
        code: "upload_data_lost",
        message: format!("bytes from offset {at} are not stored; start the upload again"),
    }
}

fn state(t: &TusUpload, node: Option<Node>) -> TusState {
    TusState { id: t.id, offset: t.offset, length: t.length, expires_at: t.expires_at, node }
}

impl Stratus {
    pub async fn tus_create(&self, caller: &Caller, c: TusCreate) -> Result<TusState> {
        let parent = match c.parent {
            Some(p) => p,
            None => self.db().user(caller.user()).await?.root_id,
        };
        let (parent, name) = self.upload_target(caller, parent, &c.filename, c.policy).await?;
        let parent = parent.node();
        let id = VersionId::new();
        let expires_at = self.now() + self.0.settings.reservation_ttl;
        let reserved = c.length.unwrap_or(0);
        if reserved > 0 {
            self.db().reserve_quota(parent.owner_id, id, reserved, expires_at, None).await?;
        }
        let upload = TusUpload {
            id,
            owner: parent.owner_id,
            created_by: caller.user(),
            parent: parent.id,
            name: name.as_str().to_string(),
            policy: c.policy,
            length: c.length,
            offset: 0,
            reserved,
            expires_at,
        };
        if let Err(err) = self.db().insert_tus(&upload, self.now()).await {
            let _ = self.db().release_quota(id).await;
            return Err(err.into());
        }
        Ok(state(&upload, None))
    }

    /// The caller's live upload, if they may still write where it goes.
    pub(crate) async fn own_tus(&self, caller: &Caller, id: VersionId) -> Result<TusUpload> {
        let upload = self.db().tus(id).await?;
        if upload.created_by != caller.user() || upload.expires_at <= self.now() {
            return Err(ServiceError::NotFound);
        }
        self.upload_target(caller, upload.parent, &upload.name, upload.policy).await?;
        Ok(upload)
    }

    pub async fn tus_state(&self, caller: &Caller, id: VersionId) -> Result<TusState> {
        Ok(state(&self.own_tus(caller, id).await?, None))
    }

    /// How long a PATCH holds its upload without recording anything (a dead node's claim runs
    /// out after this).
    pub(crate) fn claim_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.0.settings.body_idle_timeout * 2)
            .unwrap_or(chrono::Duration::minutes(2))
    }

    /// Appends a chunk at `offset`. With a checksum the chunk is all or nothing; without one,
    /// what arrived before a disconnect is kept. The last byte creates the file.
    pub async fn tus_append<S, E>(
        &self,
        caller: &Caller,
        id: VersionId,
        offset: u64,
        length: Option<u64>,
        checksum: Option<TusChecksum>,
        body: S,
    ) -> Result<TusState>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Display + 'static,
    {
        let upload = self.own_tus(caller, id).await?;
        let moved = |at: u64| ServiceError::Conflict {
            code: "offset_mismatch",
            message: format!("the upload is at offset {at}"),
        };
        if offset != upload.offset {
            return Err(moved(upload.offset));
        }
        let length = match (upload.length, length) {
            (Some(known), Some(given)) if known != given => {
                return Err(ServiceError::BadRequest {
                    code: "length_mismatch",
                    message: "Upload-Length cannot change".into(),
                });
            }
            (known, given) => known.or(given),
        };
        if length.is_some_and(|l| l < offset) {
            return Err(ServiceError::BadRequest {
                code: "length_mismatch",
                message: "Upload-Length is below the offset".into(),
            });
        }
        let claim = uuid::Uuid::new_v4().to_string();
        // A client that resumes right after its connection broke may find the old PATCH still
        // holding the upload (the server has not seen the break yet): wait a little for it.
        let waited_until = tokio::time::Instant::now() + CLAIM_WAIT;
        while !self.db().claim_tus(id, offset, &claim, self.now() + self.claim_ttl(), self.now()).await? {
            let now = self.db().tus(id).await?;
            if now.offset != offset {
                return Err(moved(now.offset));
            }
            if tokio::time::Instant::now() >= waited_until {
                return Err(ServiceError::Conflict {
                    code: "upload_busy",
                    message: "another request is writing this upload; ask for its offset and resume".into(),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut patch =
            Patch { id, claim, recorded: offset, pending: Vec::new(), length, reserved: upload.reserved };
        // The body is read in a task of its own: when the client goes away, the server drops
        // this request's future, but the task still sees the body end and lets go of the claim.
        let me = self.clone();
        let caller = caller.clone();
        tokio::spawn(async move {
            let outcome = me.receive_patch(&upload, &mut patch, checksum, body).await;
            let kept = match outcome {
                Ok(()) => std::mem::take(&mut patch.pending),
                Err(_) => Vec::new(),
            };
            let (length, reserved) = (patch.length, patch.reserved);
            // Record what was kept, still holding the claim, so that the last byte's PATCH
            // completes the upload alone (a second PATCH at the end waits, then finds it gone).
            let until = me.now() + me.claim_ttl();
            let recorded = me
                .db()
                .add_tus_parts(id, &patch.claim, patch.recorded, &kept, length, reserved, false, until)
                .await;
            let recorded = recorded.map_err(ServiceError::from);
            let done = match (outcome, recorded) {
                (Err(err), _) | (Ok(()), Err(err)) => Err(err),
                (Ok(()), Ok(false)) => Err(moved(me.db().tus(id).await?.offset)),
                (Ok(()), Ok(true)) => {
                    let upload = me.db().tus(id).await?;
                    if upload.length == Some(upload.offset) {
                        // The row goes with the commit; the claim with it.
                        return match me.tus_finish(&caller, &upload).await {
                            Ok(node) => Ok(state(&upload, Some(node))),
                            Err(err) => {
                                me.release_tus(id, &patch.claim).await;
                                Err(err)
                            }
                        };
                    }
                    Ok(state(&upload, None))
                }
            };
            me.release_tus(id, &patch.claim).await;
            done
        })
        .await
        .map_err(ServiceError::internal)?
    }

    /// Lets go of a PATCH's claim (best effort: it expires on its own).
    pub(crate) async fn release_tus(&self, id: VersionId, claim: &str) {
        if let Ok(upload) = self.db().tus(id).await {
            let (offset, length, reserved, now) = (upload.offset, upload.length, upload.reserved, self.now());
            let released = self.db().add_tus_parts(id, claim, offset, &[], length, reserved, true, now).await;
            if let Err(err) = released {
                tracing::warn!(error = %err, upload = %id, "could not release a tus claim");
            }
        }
    }

    /// Reads one PATCH's body into parts of the block store. Without a checksum, each full
    /// part is recorded as it is stored (a disconnect keeps it); the rest is left in
    /// `patch.pending` for the caller to record when the claim ends.
    async fn receive_patch<S, E>(
        &self,
        upload: &TusUpload,
        patch: &mut Patch,
        checksum: Option<TusChecksum>,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        let mut hasher = checksum.as_ref().map(|c| match c {
            TusChecksum::Sha1(_) => Hasher::Sha1(sha1::Sha1::new()),
            TusChecksum::Sha256(_) => Hasher::Sha256(sha2::Sha256::default()),
        });
        let pool = self.pool_of(upload.owner).await?;
        let mut buffer = bytes::BytesMut::new();
        let mut received = patch.recorded;
        let mut body = std::pin::pin!(body);
        let idle = self.0.settings.body_idle_timeout;
        let mut cut_short = false;
        loop {
            let chunk = match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(Ok(chunk))) => chunk,
                Ok(None) => break,
                Ok(Some(Err(_))) | Err(_) => {
                    cut_short = true;
                    break;
                }
            };
            received += chunk.len() as u64;
            if patch.length.is_some_and(|l| received > l) {
                patch.pending.clear();
                return Err(ServiceError::BadRequest {
                    code: "length_exceeded",
                    message: "more bytes than Upload-Length".into(),
                });
            }
            if received > patch.reserved {
                let more = patch.length.map_or(received, |l| l.max(received)) - patch.reserved;
                self.db().reserve_quota(upload.owner, upload.id, more, upload.expires_at, None).await?;
                patch.reserved += more;
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            buffer.extend_from_slice(&chunk);
            while buffer.len() >= BLOCK_SIZE {
                let part = buffer.split_to(BLOCK_SIZE).freeze();
                self.store_part(&pool, patch, part).await?;
                if hasher.is_none() {
                    self.record_parts(patch).await?;
                }
            }
        }
        if let (Some(h), Some(c)) = (hasher, &checksum)
            && (cut_short || !h.matches(c))
        {
            patch.pending.clear();
            return Err(ServiceError::ChecksumMismatch);
        }
        if !buffer.is_empty() {
            self.store_part(&pool, patch, buffer.freeze()).await?;
        }
        Ok(())
    }

    /// Stores a part durably (on every replica) and queues it to be recorded.
    async fn store_part(&self, pool: &str, patch: &mut Patch, data: Bytes) -> Result<()> {
        let start = patch.recorded + patch.pending.iter().map(|(_, len, _)| len).sum::<u64>();
        let len = data.len() as u64;
        let (hash, _) = self.blocks().put(pool, data).await?;
        patch.pending.push((start, len, hash));
        Ok(())
    }

    /// Records the queued parts and moves the offset past them, keeping the claim.
    async fn record_parts(&self, patch: &mut Patch) -> Result<()> {
        let until = self.now() + self.claim_ttl();
        let (id, claim, from) = (patch.id, patch.claim.as_str(), patch.recorded);
        if !self
            .db()
            .add_tus_parts(id, claim, from, &patch.pending, patch.length, patch.reserved, false, until)
            .await?
        {
            patch.pending.clear();
            return Err(ServiceError::Conflict {
                code: "upload_busy",
                message: "this upload was taken over by another request".into(),
            });
        }
        patch.recorded += patch.pending.drain(..).map(|(_, len, _)| len).sum::<u64>();
        Ok(())
    }

    /// Reads a complete upload's parts back (each verified) and stores and commits the file.
    /// A part that cannot be read fails the upload's completion; no byte is ever made up.
    async fn tus_finish(&self, caller: &Caller, upload: &TusUpload) -> Result<Node> {
        let (parent, name) = self.upload_target(caller, upload.parent, &upload.name, upload.policy).await?;
        let (length, stream) = self.tus_bytes(upload).await?;
        if Some(length) != upload.length {
            return Err(lost(length));
        }
        let plan = Plan::named(parent, Vec::new(), name, upload.policy);
        let done =
            self.upload_reserved(plan, upload.length, stream, Some((upload.id, upload.reserved))).await?;
        self.db().delete_tus(upload.id).await?;
        Ok(done.node)
    }

    /// An upload's bytes as stored: their length, and the parts read back in order (each
    /// verified). A gap between parts fails; no byte is ever made up.
    pub(crate) async fn tus_bytes(
        &self,
        upload: &TusUpload,
    ) -> Result<(u64, impl Stream<Item = Result<Bytes, String>> + Send + 'static)> {
        let parts = self.db().tus_parts(upload.id).await?;
        let mut at = 0;
        for (start, len, _) in &parts {
            if *start != at {
                return Err(lost(at));
            }
            at += len;
        }
        let store = self.blocks().clone();
        let stream = futures_util::stream::iter(parts).then(move |(_, _, hash)| {
            let store = store.clone();
            async move { store.get(hash).await.map_err(|e| e.to_string()) }
        });
        Ok((at, stream))
    }

    /// Termination: the upload, its bytes and its reservation go.
    pub async fn tus_terminate(&self, caller: &Caller, id: VersionId) -> Result<()> {
        if self.db().tus(id).await?.created_by != caller.user() {
            return Err(ServiceError::NotFound);
        }
        self.drop_tus(id).await
    }

    /// Forgets an upload: its parts become garbage for the GC; its reservation is released.
    pub(crate) async fn drop_tus(&self, id: VersionId) -> Result<()> {
        self.db().delete_tus(id).await?;
        Ok(self.db().release_quota(id).await?)
    }

    /// Removes tus uploads past their expiry (for the expire-uploads job).
    pub(crate) async fn expire_tus(&self) -> Result<u64> {
        let expired = self.db().expired_tus(self.now()).await?;
        for id in &expired {
            self.drop_tus(*id).await?;
        }
        Ok(expired.len() as u64)
    }
}
