//! Group commit: uploads whose bytes are stored while another commit is running queue up,
//! and the next commit takes the whole queue into one transaction — one durability barrier
//! (fsync) and, for new small files in one folder, a few multi-row statements for all of
//! them. A lone upload commits at once, so nothing waits for company.
//!
//! A group is all or nothing in the database; should it be refused (a name taken under
//! `fail`, the quota, a deadlock with another node), each of its uploads is committed again on
//! its own, so every upload gets the answer it would have had alone.

use std::sync::{Mutex, atomic::Ordering};

use chrono::{DateTime, Utc};
use stratus_core::VersionId;
use stratus_meta::{Committed, NewVersion};
use tokio::sync::oneshot;

use crate::{Result, ServiceError, Stratus, files::Plan};

/// The most uploads one transaction commits; the rest wait for the next.
const MOST: usize = 256;

/// An upload whose bytes are durable, waiting for its metadata commit.
pub(crate) struct Finished {
    pub plan: Plan,
    pub version: NewVersion,
    /// The quota reservation the commit releases.
    pub release: Option<VersionId>,
    pub now: DateTime<Utc>,
}

struct Queued {
    upload: Finished,
    done: oneshot::Sender<Result<Committed>>,
}

/// The queue of finished uploads and the turn to commit them.
#[derive(Default)]
pub(crate) struct Commits {
    queue: Mutex<Vec<Queued>>,
    turn: tokio::sync::Mutex<()>,
}

impl Stratus {
    /// Commits a finished upload, together with any others finishing meanwhile.
    pub(crate) async fn commit_finished(&self, upload: Finished) -> Result<Committed> {
        let (done, answer) = oneshot::channel();
        self.0.commits.queue.lock().unwrap_or_else(|p| p.into_inner()).push(Queued { upload, done });
        // Spawned, so that a client going away mid-commit cannot cancel the others' commits
        // (nor its own, once its bytes are durable: the commit runs to its end either way).
        let this = self.clone();
        let lead = tokio::spawn(async move { this.commit_queued().await });
        if let Err(err) = lead.await {
            tracing::error!(%err, "a group commit failed to run");
        }
        answer.await.map_err(|_| ServiceError::Internal("an upload's commit was dropped".into()))?
    }

    /// Waits for the turn, then commits what is queued (nothing, if an earlier turn took it).
    async fn commit_queued(&self) {
        let _turn = self.0.commits.turn.lock().await;
        let group: Vec<Queued> = {
            let mut queue = self.0.commits.queue.lock().unwrap_or_else(|p| p.into_inner());
            let n = queue.len().min(MOST);
            queue.drain(..n).collect()
        };
        if group.is_empty() {
            return;
        }
        let commits: Vec<_> = group
            .iter()
            .map(|q| q.upload.plan.commit(&q.upload.version, q.upload.release, q.upload.now))
            .collect();
        let outcome = self.db().commit_files(&commits).await;
        match outcome {
            Ok(done) => {
                self.0.counters.upload_commits.fetch_add(1, Ordering::Relaxed);
                for (q, committed) in group.into_iter().zip(done) {
                    let _ = q.done.send(Ok(committed));
                }
            }
            Err(err) if group.len() == 1 => {
                if let Some(q) = group.into_iter().next() {
                    let _ = q.done.send(Err(err.into()));
                }
            }
            Err(_) => {
                let mut alone = Vec::with_capacity(commits.len());
                for commit in &commits {
                    let answer = self.db().commit_file(commit).await.map_err(ServiceError::from);
                    if answer.is_ok() {
                        self.0.counters.upload_commits.fetch_add(1, Ordering::Relaxed);
                    }
                    alone.push(answer);
                }
                drop(commits);
                for (q, answer) in group.into_iter().zip(alone) {
                    let _ = q.done.send(answer);
                }
            }
        }
    }
}
