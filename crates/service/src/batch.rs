//! Many files in one request, committed together: every file's bytes are stored as they
//! arrive (small ones kept in memory, to be inlined), then one transaction commits them all —
//! one durability barrier for the lot, and on any refusal none of them.

use std::fmt::Display;

use bytes::Bytes;
use futures_util::Stream;
use stratus_blob::{INLINE_MAX, Written};
use stratus_core::{ConflictPolicy, Node, NodeId, NodeName, VersionId};

use crate::{
    Caller, Result, ServiceError, Stratus,
    access::{Grant, Write},
    files::{Budget, Plan, Reservation, UploadTarget, new_version},
};

/// Files one batch may hold: its commit is one transaction, during which (on SQLite) no
/// other write runs, so its work is bounded.
pub const MAX_BATCH_FILES: usize = 5_000;

/// Bytes of small files a batch keeps in memory until its commit; the files after that are
/// stored as blocks, so a batch's memory stays bounded whatever it holds.
const INLINE_HELD: u64 = 16 << 20;

/// A batch of uploads into one folder, open until [`Batch::commit`] or [`Batch::abort`].
pub struct Batch<'a> {
    stratus: &'a Stratus,
    caller: Option<&'a Caller>,
    parent: Grant<Write>,
    policy: ConflictPolicy,
    budget: Budget<'a>,
    files: Vec<(Plan, Written)>,
    inline_held: u64,
}

impl Stratus {
    /// Opens a batch of uploads into the folder `parent`, which the caller must be able to
    /// write to. With `declared` (the whole request's length), its quota is reserved at once.
    pub async fn batch<'a>(
        &'a self,
        caller: Option<&'a Caller>,
        parent: NodeId,
        policy: ConflictPolicy,
        declared: Option<u64>,
    ) -> Result<Batch<'a>> {
        let parent = self.authorize_folder::<Write>(caller, parent).await?;
        let quota =
            Reservation { owner: parent.node().owner_id, id: VersionId::new(), node: Some(self.node_name()) };
        let mut budget = Budget::new(quota, 0);
        self.claim(&mut budget, declared, false).await?;
        Ok(Batch { stratus: self, caller, parent, policy, budget, files: Vec::new(), inline_held: 0 })
    }
}

impl Batch<'_> {
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Reads one file, at `path` (a name, or a relative path whose folders are created) in
    /// the batch's folder. It is stored, not yet visible. On an error the batch should be
    /// aborted.
    pub async fn add<S, E>(&mut self, path: &str, body: S) -> Result<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Display,
    {
        if self.files.len() >= MAX_BATCH_FILES {
            return Err(ServiceError::invalid(
                "too_many_files",
                format!("a batch holds at most {MAX_BATCH_FILES} files"),
            ));
        }
        let plan = if path.contains('/') || self.policy == ConflictPolicy::Replace {
            // Folders to walk, or a file to replace: each has its own rights (and locks).
            let target = UploadTarget::Named {
                parent: self.parent.node().id,
                path: path.to_string(),
                policy: self.policy,
            };
            self.stratus.plan_upload(self.caller, &target).await?
        } else {
            // A new name in the folder already authorised; the commit resolves clashes.
            Plan::named(self.parent.clone(), Vec::new(), NodeName::new(path)?, self.policy)
        };
        let inline = self.inline_held + INLINE_MAX <= INLINE_HELD;
        let written = self.stratus.receive(&mut self.budget, None, body, inline).await?;
        self.inline_held += written.inline.as_ref().map_or(0, |kept| kept.len() as u64);
        self.files.push((plan, written));
        Ok(())
    }

    /// Commits every file in one transaction, in the order added: all of them appear, or —
    /// when one is refused (a name taken under `fail`, the quota) — none.
    pub async fn commit(self) -> Result<Vec<Node>> {
        let Batch { stratus, caller, parent, budget, files, .. } = self;
        let (plans, versions): (Vec<Plan>, Vec<_>) =
            files.into_iter().map(|(plan, written)| (plan, new_version(VersionId::new(), written))).unzip();
        let result = async {
            // The caller may have lost access to the folder while the bytes arrived.
            stratus.authorize_folder::<Write>(caller, parent.node().id).await?;
            let now = stratus.now();
            let commits: Vec<_> = plans
                .iter()
                .zip(&versions)
                .enumerate()
                .map(|(i, (plan, version))| plan.commit(version, budget.held().filter(|_| i == 0), now))
                .collect();
            let done = stratus.db().commit_files(&commits).await?;
            stratus
                .0
                .counters
                .files_committed
                .fetch_add(done.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(done.into_iter().map(|c| c.node).collect())
        }
        .await;
        if result.is_err() {
            stratus.release(&budget).await;
        }
        result
    }

    /// Gives up: nothing is committed and the reservation is released (stored blocks are
    /// left to the collector).
    pub async fn abort(self) {
        self.stratus.release(&self.budget).await;
    }
}
