//! tus 1.0 resumable uploads (core, creation, creation-with-upload, creation-defer-length,
//! termination, checksum, expiration). Bytes accepted so far live in a staging file and are
//! fsynced before their offset is acknowledged; a client that disconnects keeps what arrived.
//! At the last byte, the staging file is stored as blocks and committed like any upload, under
//! the quota the upload reserved as it went. Nothing is visible before that.

use std::fmt::Display;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use sha1::Digest as _;
use stratus_core::{ConflictPolicy, Node, NodeId, NodeName, VersionId};
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

fn state(t: &TusUpload, node: Option<Node>) -> TusState {
    TusState { id: t.id, offset: t.offset, length: t.length, expires_at: t.expires_at, node }
}

impl Stratus {
    pub async fn tus_create(&self, caller: &Caller, c: TusCreate) -> Result<TusState> {
        let parent = match c.parent {
            Some(p) => p,
            None => self.db().user(caller.user).await?.root_id,
        };
        let (parent, name) = self.upload_target(caller, parent, &c.filename, c.policy).await?;
        let id = VersionId::new();
        let expires_at = self.now() + self.0.settings.reservation_ttl;
        let reserved = c.length.unwrap_or(0);
        if reserved > 0 {
            self.db().reserve_quota(parent.owner_id, id, reserved, expires_at).await?;
        }
        let upload = TusUpload {
            id,
            owner: parent.owner_id,
            created_by: caller.user,
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

    async fn own_tus(&self, caller: &Caller, id: VersionId) -> Result<TusUpload> {
        let upload = self.db().tus(id).await?;
        if upload.created_by != caller.user || upload.expires_at <= self.now() {
            return Err(ServiceError::NotFound);
        }
        Ok(upload)
    }

    pub async fn tus_state(&self, caller: &Caller, id: VersionId) -> Result<TusState> {
        Ok(state(&self.own_tus(caller, id).await?, None))
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
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        let upload = self.own_tus(caller, id).await?;
        if offset != upload.offset {
            return Err(ServiceError::Conflict {
                code: "offset_mismatch",
                message: format!("the upload is at offset {}", upload.offset),
            });
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
        let mut hasher = checksum.as_ref().map(|c| match c {
            TusChecksum::Sha1(_) => Hasher::Sha1(sha1::Sha1::new()),
            TusChecksum::Sha256(_) => Hasher::Sha256(sha2::Sha256::default()),
        });
        let mut appender = self.0.staging.appender(&id.to_string(), offset).await?;
        let mut reserved = upload.reserved;
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
            let total = offset + appender.written() + chunk.len() as u64;
            if length.is_some_and(|l| total > l) {
                appender.rollback().await?;
                return Err(ServiceError::BadRequest {
                    code: "length_exceeded",
                    message: "more bytes than Upload-Length".into(),
                });
            }
            if total > reserved {
                let more = length.map_or(total, |l| l.max(total)) - reserved;
                let expires = upload.expires_at;
                if let Err(err) = self.db().reserve_quota(upload.owner, id, more, expires).await {
                    appender.rollback().await?;
                    return Err(err.into());
                }
                reserved += more;
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            appender.write(chunk).await?;
        }
        let verified = match (hasher, &checksum) {
            (Some(h), Some(c)) => !cut_short && h.matches(c),
            _ => true,
        };
        if !verified {
            appender.rollback().await?;
            self.db().advance_tus(id, offset, offset, length, reserved).await?;
            return Err(ServiceError::ChecksumMismatch);
        }
        let new_offset = offset + appender.written();
        appender.commit().await?;
        if !self.db().advance_tus(id, offset, new_offset, length, reserved).await? {
            return Err(ServiceError::Conflict {
                code: "offset_mismatch",
                message: "another request moved the offset".into(),
            });
        }
        let upload = self.db().tus(id).await?;
        if upload.length == Some(new_offset) {
            let node = self.tus_finish(&upload).await?;
            return Ok(state(&upload, Some(node)));
        }
        Ok(state(&upload, None))
    }

    /// Stores a complete upload's staging file as blocks and commits the file.
    async fn tus_finish(&self, upload: &TusUpload) -> Result<Node> {
        let path = self.0.staging.path(&upload.id.to_string());
        let file = tokio::fs::File::open(&path).await.map_err(ServiceError::internal)?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        let plan = Plan::Named {
            parent: upload.parent,
            owner: upload.owner,
            folders: Vec::new(),
            name: NodeName::new(&upload.name)?,
            policy: upload.policy,
        };
        let done =
            self.upload_reserved(plan, upload.length, stream, Some((upload.id, upload.reserved))).await?;
        self.db().delete_tus(upload.id).await?;
        self.0.staging.remove(&upload.id.to_string()).await?;
        Ok(done.node)
    }

    /// Termination: the upload, its bytes and its reservation go.
    pub async fn tus_terminate(&self, caller: &Caller, id: VersionId) -> Result<()> {
        self.own_tus(caller, id).await?;
        self.drop_tus(id).await
    }

    async fn drop_tus(&self, id: VersionId) -> Result<()> {
        self.db().delete_tus(id).await?;
        self.0.staging.remove(&id.to_string()).await?;
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
