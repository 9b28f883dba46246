//! The jobs runtime: every `stratus_service::Job` runs on its interval in this process. Each
//! run takes the job's lease in the database, so when several processes share one database a
//! job runs on one of them at a time. On shutdown the loops stop after their current run.

use stratus_service::{Job, Stratus};
use tokio::{sync::watch, task::JoinSet};

/// Starts one loop per job; they end when `shutdown` turns true.
pub fn spawn(stratus: Stratus, shutdown: watch::Receiver<bool>) -> JoinSet<()> {
    let mut set = JoinSet::new();
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
