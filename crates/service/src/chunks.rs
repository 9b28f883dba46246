//! Chunked uploads as Nextcloud and ownCloud clients send them: a folder per transfer that the
//! client names, chunks PUT one after another, and a MOVE of the folder's `.file` that puts
//! the whole file in place. Each transfer is a tus upload of deferred length underneath, so it
//! has everything tus has: bytes stored as parts in the block store as they arrive, quota
//! reserved as they grow, claims that keep two requests (on any nodes) from writing it at once,
//! and expiry. Its destination is known only at the MOVE, when the parts are read back
//! (each verified), committed like any upload, and the transfer goes.

use std::fmt::Display;

use bytes::Bytes;
use futures_util::Stream;
use stratus_core::{ConflictPolicy, Node, NodeId, VersionId};

use crate::{Caller, Conditions, Result, ServiceError, Stratus, TusCreate, access::Write, files::Plan};

/// Where a chunked upload goes: a new version of a file, or a new file in a folder.
#[derive(Debug, Clone)]
pub enum ChunkTarget {
    Existing(NodeId),
    Named { parent: NodeId, name: String },
}

/// What the tus upload behind a transfer is named until the MOVE gives it its place.
const UNPLACED: &str = "chunked upload";

fn no_transfer() -> ServiceError {
    ServiceError::NotFound
}

impl Stratus {
    /// Starts the caller's transfer `transfer` (MKCOL). A name already in use is a conflict.
    pub async fn chunks_begin(&self, caller: &Caller, transfer: &str) -> Result<()> {
        if transfer.is_empty() || transfer.len() > 200 {
            return Err(ServiceError::invalid("invalid_transfer", "a transfer name is 1 to 200 bytes"));
        }
        if self.chunk_upload(caller, transfer).await.is_ok() {
            return Err(ServiceError::Conflict {
                code: "transfer_exists",
                message: "this transfer exists".into(),
            });
        }
        let create = TusCreate {
            length: None,
            filename: UNPLACED.into(),
            parent: None,
            policy: ConflictPolicy::KeepBoth,
        };
        let upload = self.tus_create(caller, create).await?;
        if !self.db().insert_chunk_transfer(caller.user(), transfer, upload.id).await? {
            self.drop_tus(upload.id).await?;
            return Err(ServiceError::Conflict {
                code: "transfer_exists",
                message: "this transfer exists".into(),
            });
        }
        Ok(())
    }

    /// The tus upload of a live transfer of the caller's.
    async fn chunk_upload(&self, caller: &Caller, transfer: &str) -> Result<VersionId> {
        let id = self.db().chunk_transfer(caller.user(), transfer).await?.ok_or_else(no_transfer)?;
        self.own_tus(caller, id).await?;
        Ok(id)
    }

    /// The bytes a transfer holds so far.
    pub async fn chunks_received(&self, caller: &Caller, transfer: &str) -> Result<u64> {
        let id = self.chunk_upload(caller, transfer).await?;
        Ok(self.tus_state(caller, id).await?.offset)
    }

    /// Appends a chunk: at `offset` when the client names it, after what is there when `None`
    /// (chunks numbered in order). A chunk cut short keeps what arrived, and the client,
    /// asking what the transfer holds, resumes there.
    pub async fn chunks_put<S, E>(
        &self,
        caller: &Caller,
        transfer: &str,
        offset: Option<u64>,
        body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Display + 'static,
    {
        let id = self.chunk_upload(caller, transfer).await?;
        let at = match offset {
            Some(at) => at,
            None => self.tus_state(caller, id).await?.offset,
        };
        Ok(self.tus_append(caller, id, at, None, None, body).await?.offset)
    }

    /// Puts the transfer's bytes in place (a new version of `target`'s file, or a new file),
    /// after checking the client's total length, under the client's conditions. Exactly one
    /// MOVE takes a transfer, however many arrive, and the transfer ends with it: should the
    /// commit fail, the client starts the upload again (no half-used reservation is left
    /// behind).
    pub async fn chunks_finish(
        &self,
        caller: &Caller,
        transfer: &str,
        target: ChunkTarget,
        total: Option<u64>,
        conditions: Conditions,
    ) -> Result<Node> {
        let id = self.chunk_upload(caller, transfer).await?;
        let upload = self.own_tus(caller, id).await?;
        if total.is_some_and(|t| t != upload.offset) {
            return Err(ServiceError::BadRequest {
                code: "chunks_incomplete",
                message: format!("the transfer holds {} bytes, not the total announced", upload.offset),
            });
        }
        // A chunk still being written, here or on another node, holds the claim.
        let claim = uuid::Uuid::new_v4().to_string();
        let until = self.now() + self.claim_ttl();
        if !self.db().claim_tus(id, upload.offset, &claim, until, self.now()).await? {
            return Err(ServiceError::Conflict {
                code: "upload_busy",
                message: "a chunk of this transfer is still being written".into(),
            });
        }
        if !self.db().take_chunk_transfer(caller.user(), transfer, id).await? {
            self.release_tus(id, &claim).await;
            return Err(no_transfer());
        }
        let done = self.place_chunks(caller, &upload, target, conditions).await;
        if let Err(err) = self.drop_tus(id).await {
            tracing::warn!(error = %err, upload = %id, "could not drop a finished chunked transfer");
        }
        done
    }

    async fn place_chunks(
        &self,
        caller: &Caller,
        upload: &stratus_meta::TusUpload,
        target: ChunkTarget,
        conditions: Conditions,
    ) -> Result<Node> {
        let plan = match target {
            ChunkTarget::Existing(file) => {
                Plan::existing(self.authorize::<Write>(Some(caller), file).await?)?
            }
            ChunkTarget::Named { parent, name } => {
                let (parent, name) =
                    self.upload_target(caller, parent, &name, ConflictPolicy::Replace).await?;
                Plan::named(parent, Vec::new(), name, ConflictPolicy::Replace)
            }
        };
        let plan = plan.under(conditions)?;
        let (at, stream) = self.tus_bytes(upload).await?;
        // The reservation made as the chunks came is the uploader's: it carries over when the
        // file lands in their own drive; in a drive shared with them, its owner's is made.
        let held = (plan.owner() == upload.owner).then_some((upload.id, upload.reserved));
        Ok(self.upload_reserved(plan, Some(at), stream, held).await?.node)
    }

    /// Abandons a transfer (DELETE of its folder): its bytes and reservation go.
    pub async fn chunks_abort(&self, caller: &Caller, transfer: &str) -> Result<()> {
        let id = self.db().chunk_transfer(caller.user(), transfer).await?.ok_or_else(no_transfer)?;
        self.tus_terminate(caller, id).await
    }
}
