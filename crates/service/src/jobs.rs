//! Background jobs as use cases: each job is one sweep; `run_job` takes the job's lease (so
//! one server process runs it at a time when several share a database), runs it and records
//! the run. The schedule is in the database: the server's runtime asks `claim_job` on every
//! tick, and only the node whose conditional UPDATE moves the job's due time runs it, so a job
//! runs once per interval across the cluster. Admins can run one on demand.

use std::time::Duration;

use stratus_core::{JobRun, VersionId};

use crate::{Caller, Result, ServiceError, Stratus};

/// The periodic jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Purge trash items older than the retention (30 days).
    PurgeTrash,
    /// Delete expired public links.
    ExpireLinks,
    /// Release the quota of uploads abandoned for 24 h.
    ExpireUploads,
    /// Keep at most N versions per file, none older than D days (never the current one).
    VersionRetention,
    /// Delete blocks nothing references, after the grace period.
    CollectGarbage,
    /// Record each user's usage of the day, for the usage series.
    RefreshStats,
    /// Re-hash every copy of every block, repairing corrupt copies from good ones.
    Scrub,
    /// Restore every block's replica count (after a volume was lost).
    Repair,
    /// Move every block off draining volumes.
    Drain,
    /// Move users whose paid month ran out back to the free plan.
    ExpirePlans,
}

impl Job {
    pub const ALL: [Job; 10] = [
        Job::PurgeTrash,
        Job::ExpireLinks,
        Job::ExpireUploads,
        Job::VersionRetention,
        Job::CollectGarbage,
        Job::RefreshStats,
        Job::Scrub,
        Job::Repair,
        Job::Drain,
        Job::ExpirePlans,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Job::PurgeTrash => "purge-trash",
            Job::ExpireLinks => "expire-links",
            Job::ExpireUploads => "expire-uploads",
            Job::VersionRetention => "version-retention",
            Job::CollectGarbage => "gc",
            Job::RefreshStats => "refresh-stats",
            Job::Scrub => "scrub",
            Job::Repair => "repair",
            Job::Drain => "drain",
            Job::ExpirePlans => "expire-plans",
        }
    }

    pub fn parse(name: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|j| j.name() == name)
    }

    /// How often the runtime runs it.
    pub fn every(self) -> Duration {
        match self {
            Job::PurgeTrash => Duration::from_secs(3600),
            Job::ExpireLinks => Duration::from_secs(120),
            Job::ExpireUploads => Duration::from_secs(600),
            Job::VersionRetention => Duration::from_secs(3600),
            Job::CollectGarbage => Duration::from_secs(900),
            Job::RefreshStats => Duration::from_secs(3600),
            Job::Scrub => Duration::from_secs(7 * 24 * 3600),
            Job::Repair => Duration::from_secs(3600),
            Job::Drain => Duration::from_secs(300),
            Job::ExpirePlans => Duration::from_secs(3600),
        }
    }
}

/// How long a run's lease lasts unless renewed: a run renews it every `LEASE_RENEWAL` while
/// it works, so the lease of a node that died is free again within this.
const LEASE: chrono::Duration = chrono::Duration::minutes(2);
const LEASE_RENEWAL: Duration = Duration::from_secs(30);

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A job, its place in the schedule and its latest run.
#[derive(Debug, Clone)]
pub struct JobStatus {
    pub job: Job,
    /// When a node will next run it (none before any server scheduled it).
    pub next_due_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_run: Option<JobRun>,
}

impl Stratus {
    /// Runs `job` now on behalf of the process `holder`, unless another process holds its
    /// lease (then `None`). The run is recorded, whatever its outcome.
    pub async fn run_job(&self, job: Job, holder: &str) -> Result<Option<JobRun>> {
        let now = self.now();
        let run = VersionId::new();
        // The lease is held by this run, not by the process: two runs of one process exclude
        // each other as well.
        let lease = format!("{holder}/{run}");
        if !self.db().acquire_lease(job.name(), &lease, now, now + LEASE).await? {
            return Ok(None);
        }
        // Started once the lease is ours (acquiring may have waited on a lock).
        self.db().start_run(run, job.name(), holder, self.now()).await?;
        // Stops when the run ends, however it ends (a dropped request future included).
        let _renewal = AbortOnDrop(self.renew_lease(job, lease.clone()));
        let outcome = self.job_body(job, run).await;
        let (ok, items, detail) = match outcome {
            Ok((items, report)) => (true, items, report),
            Err(ref err) => (false, 0, Some(err.to_string())),
        };
        if !ok {
            tracing::error!(job = job.name(), error = detail.as_deref().unwrap_or(""), "job failed");
        }
        self.db().finish_run(run, self.now(), ok, items, detail.as_deref()).await?;
        self.db().release_lease(job.name(), &lease).await?;
        let runs = self.db().job_runs(50).await?;
        Ok(runs.into_iter().find(|r| r.id == run))
    }

    /// Keeps a running job's lease alive until aborted.
    fn renew_lease(&self, job: Job, lease: String) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_RENEWAL).await;
                let now = this.now();
                match this.db().acquire_lease(job.name(), &lease, now, now + LEASE).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!(
                            job = job.name(),
                            "a running job lost its lease; another run may start"
                        )
                    }
                    Err(err) => {
                        tracing::warn!(job = job.name(), error = %err, "could not renew a job's lease")
                    }
                }
            }
        })
    }

    /// Puts every job in the cluster's schedule (idempotent: every node does it at start-up;
    /// a job already scheduled keeps its due time).
    pub async fn schedule_jobs(&self) -> Result<()> {
        let now = self.now();
        for job in Job::ALL {
            let every = job.every();
            let first = now + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::hours(1));
            self.db().schedule_job(job.name(), every.as_secs(), first).await?;
        }
        Ok(())
    }

    /// Whether this node gets the run of `job` that is due now (at most one node does).
    pub async fn claim_job(&self, job: Job) -> Result<bool> {
        let now = self.now();
        let next = now + chrono::Duration::from_std(job.every()).unwrap_or(chrono::Duration::hours(1));
        Ok(self.db().claim_due_job(job.name(), now, next).await?)
    }

    /// Every job with its interval, next due time and latest run (administrators only).
    pub async fn job_statuses_for(&self, caller: &Caller) -> Result<Vec<JobStatus>> {
        self.require_admin(caller).await?;
        self.job_statuses().await
    }

    /// Every job with its interval, next due time and latest run, for the command line.
    pub async fn job_statuses(&self) -> Result<Vec<JobStatus>> {
        let schedule = self.db().job_schedule().await?;
        let mut statuses = Vec::with_capacity(Job::ALL.len());
        for job in Job::ALL {
            let next_due_at = schedule.iter().find(|s| s.name == job.name()).map(|s| s.next_due_at);
            let last_run = self.db().last_job_run(job.name()).await?;
            statuses.push(JobStatus { job, next_due_at, last_run });
        }
        Ok(statuses)
    }

    /// Runs one job; returns how many items it handled and, for the storage sweeps, its
    /// report (JSON), which the run record keeps.
    async fn job_body(&self, job: Job, run: VersionId) -> Result<(u64, Option<String>)> {
        let counted = match job {
            Job::Scrub => {
                let (tx, rx) = tokio::sync::watch::channel(None);
                let progress = self.record_progress(run, rx);
                let done = self
                    .scrub(|r| {
                        tx.send_replace(Some((r.copies_checked, json(r))));
                    })
                    .await;
                drop(tx);
                let _ = progress.await;
                let done = done?;
                return Ok((done.copies_checked, Some(json(&done))));
            }
            Job::Repair | Job::Drain => {
                let done = self.repair(job == Job::Drain).await?;
                return Ok((done.copies_made + done.moved_off_draining, Some(json(&done))));
            }
            _ => self.sweep(job).await?,
        };
        Ok((counted, None))
    }

    /// Writes a long run's latest progress to its record, at most once a second.
    fn record_progress(
        &self,
        run: VersionId,
        mut rx: tokio::sync::watch::Receiver<Option<(u64, String)>>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let latest = rx.borrow_and_update().clone();
                if let Some((items, detail)) = latest
                    && let Err(err) = this.db().progress_run(run, items, &detail).await
                {
                    tracing::warn!(error = %err, "could not record job progress");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }

    async fn sweep(&self, job: Job) -> Result<u64> {
        let settings = &self.0.settings;
        let now = self.now();
        match job {
            Job::PurgeTrash => {
                let mut purged = 0;
                for (owner, item) in self.db().trash_older_than(now - settings.trash_retention).await? {
                    match self.db().purge(owner, item, now).await {
                        Ok(_) => purged += 1,
                        // Restored or purged meanwhile.
                        Err(stratus_meta::MetaError::NotFound) => {}
                        Err(err) => return Err(err.into()),
                    }
                }
                Ok(purged)
            }
            Job::ExpirePlans => {
                let expired = self.db().expire_plans(now, self.0.settings.default_quota).await?;
                for user in &expired {
                    let who = crate::Who { id: Some(*user), name: None, ip: None };
                    self.audit(&who, "plan_expired", Some(user.to_string()), true, None).await;
                }
                Ok(expired.len() as u64)
            }
            Job::ExpireLinks => {
                let urls = self.db().delete_expired_download_urls(now).await?;
                Ok(self.db().delete_expired_links(now).await? + urls)
            }
            Job::ExpireUploads => {
                let sessions = self.db().delete_expired_sessions(now).await?;
                let tus = self.expire_tus().await?;
                // Throttling counters a day old go too (not counted: they are not uploads).
                self.prune_throttle().await?;
                Ok(sessions + tus + self.expire_reservations().await?)
            }
            Job::VersionRetention => Ok(self
                .db()
                .prune_versions(settings.versions_kept, now - settings.version_max_age, now)
                .await?),
            Job::CollectGarbage => Ok(self.collect_garbage(settings.gc_grace).await?.blocks),
            Job::RefreshStats => self.snapshot_usage().await,
            Job::Scrub | Job::Repair | Job::Drain => Ok(0),
        }
    }

    /// The most recent job runs (administrators only).
    pub async fn job_runs(&self, caller: &Caller) -> Result<Vec<JobRun>> {
        self.require_admin(caller).await?;
        Ok(self.db().job_runs(200).await?)
    }

    /// Runs a job now for an administrator; `Conflict` when another process is running it.
    pub async fn run_job_for(&self, caller: &Caller, name: &str) -> Result<JobRun> {
        self.require_admin(caller).await?;
        let job = Job::parse(name).ok_or(ServiceError::NotFound)?;
        self.audit(&caller.into(), "admin_job_run", Some(name.to_string()), true, None).await;
        self.run_job(job, self.node_name()).await?.ok_or(ServiceError::Conflict {
            code: "job_busy",
            message: "another server is running this job right now".into(),
        })
    }

    pub(crate) async fn require_admin(&self, caller: &Caller) -> Result<()> {
        if !self.db().user(caller.user()).await?.is_admin {
            return Err(ServiceError::Forbidden("administrators only"));
        }
        Ok(())
    }
}

fn json(report: &impl serde::Serialize) -> String {
    serde_json::to_string(report).unwrap_or_default()
}
