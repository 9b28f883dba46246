//! The jobs runtime: every `stratus_service::Job` runs on its interval in this process. Each
//! run takes the job's lease in the database, so when several processes share one database a
//! job runs on one of them at a time. On shutdown the loops stop after their current run.

use std::time::Duration;

use stratus_service::{Job, Stratus};
use tokio::{sync::watch, task::JoinSet};

/// Starts one loop per job; they end when `shutdown` turns true.
pub fn spawn(stratus: Stratus, refresh: Duration, shutdown: watch::Receiver<bool>) -> JoinSet<()> {
    let mut set = JoinSet::new();
    // Not a job: every process keeps its own view of the volumes current (new volumes, dead
    // disks, state changes made by `stratus admin volume` or another node).
    let (volumes, mut stop) = (stratus.clone(), shutdown.clone());
    set.spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(refresh) => {}
                _ = stop.changed() => break,
            }
            if let Err(err) = volumes.sync_volumes().await {
                tracing::error!(error = %err, "could not re-read the volume registry");
            }
        }
    });
    for job in Job::ALL {
        let stratus = stratus.clone();
        let mut shutdown = shutdown.clone();
        set.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(job.every()) => {}
                    _ = shutdown.changed() => break,
                }
                match stratus.run_job(job, stratus.node_name()).await {
                    Ok(Some(run)) => {
                        tracing::info!(job = job.name(), items = run.items, outcome = %run.outcome, "job ran")
                    }
                    Ok(None) => tracing::debug!(job = job.name(), "another process holds the lease"),
                    Err(err) => tracing::error!(job = job.name(), error = %err, "job could not run"),
                }
            }
        });
    }
    set
}
