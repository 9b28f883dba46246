//! `/api/v1/admin/*`: operations for administrators.

use axum::extract::State;
use serde::Serialize;
use stratus_core::{JobRun, SystemStats};
use stratus_service::{Job, Stratus};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{Auth, Json, Path},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new().routes(routes!(jobs)).routes(routes!(run_job)).routes(routes!(stats))
}

#[derive(Serialize, ToSchema)]
pub struct JobInfo {
    name: &'static str,
    every_seconds: u64,
}

#[derive(Serialize, ToSchema)]
pub struct JobsView {
    jobs: Vec<JobInfo>,
    /// The most recent runs, newest first.
    runs: Vec<JobRun>,
}

/// The background jobs and their recent runs.
#[utoipa::path(get, path = "/admin/jobs", tag = "admin",
    responses((status = 200, body = JobsView), (status = 403, body = Problem)), security(("bearer" = [])))]
async fn jobs(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<Json<JobsView>> {
    let runs = s.job_runs(&c).await?;
    let jobs =
        Job::ALL.iter().map(|j| JobInfo { name: j.name(), every_seconds: j.every().as_secs() }).collect();
    Ok(Json(JobsView { jobs, runs }))
}

/// Run a job now (409 `job_busy` while another server runs it).
#[utoipa::path(post, path = "/admin/jobs/{name}/run", tag = "admin", params(("name" = String, Path)),
    responses((status = 200, body = JobRun), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)), security(("bearer" = [])))]
async fn run_job(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<JobRun>> {
    Ok(Json(s.run_job_for(&c, &name).await?))
}

/// System statistics: users, logical vs stored bytes (the dedup ratio), blocks, volumes.
#[utoipa::path(get, path = "/admin/stats", tag = "admin",
    responses((status = 200, body = SystemStats), (status = 403, body = Problem)), security(("bearer" = [])))]
async fn stats(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<Json<SystemStats>> {
    Ok(Json(s.system_stats(&c).await?))
}
