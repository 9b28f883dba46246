//! The jobs runtime. Every `heartbeat` this process records that it is alive (and gives back
//! the reservations of nodes that stopped), then asks the cluster's schedule for each job it
//! is not already running: the node whose claim moves the job's due time runs it, so a job
//! runs once per interval however many nodes share the database. On shutdown the loops stop
//! and the runs under way finish.

use std::{collections::HashMap, time::Duration};

use stratus_service::{Job, Stratus};
use tokio::{
    sync::watch,
    task::{AbortHandle, JoinSet},
};

/// Starts the runtime's loops; they end when `shutdown` turns true.
pub fn spawn(
    stratus: Stratus,
    refresh: Duration,
    heartbeat: Duration,
    shutdown: watch::Receiver<bool>,
) -> JoinSet<()> {
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
    set.spawn(schedule(stratus, heartbeat, shutdown));
    set
}

async fn schedule(stratus: Stratus, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut runs = JoinSet::new();
    let mut running: HashMap<&'static str, AbortHandle> = HashMap::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => break,
        }
        if let Err(err) = stratus.heartbeat().await {
            tracing::error!(error = %err, "could not record this node's heartbeat");
        }
        while runs.try_join_next().is_some() {}
        running.retain(|_, run| !run.is_finished());
        for job in Job::ALL {
            if running.contains_key(job.name()) {
                continue;
            }
            match stratus.claim_job(job).await {
                Ok(true) => {
                    let stratus = stratus.clone();
                    let run = runs.spawn(async move { run(&stratus, job).await });
                    running.insert(job.name(), run);
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(job = job.name(), error = %err, "could not read the job schedule")
                }
            }
        }
    }
    while runs.join_next().await.is_some() {}
}

async fn run(stratus: &Stratus, job: Job) {
    match stratus.run_job(job, stratus.node_name()).await {
        Ok(Some(run)) => {
            tracing::info!(job = job.name(), items = run.items, outcome = %run.outcome, "job ran")
        }
        Ok(None) => tracing::info!(job = job.name(), "skipped: a run started on demand holds the lease"),
        Err(err) => tracing::error!(job = job.name(), error = %err, "job could not run"),
    }
}
