//! `/api/v1/admin/*`: operations for administrators.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use stratus_core::{JobRun, SystemStats, VolumeState};
use stratus_service::{Job, StorageOverview, Stratus, VolumeStatus};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{Auth, Json, Path, Query},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(jobs))
        .routes(routes!(run_job))
        .routes(routes!(stats))
        .routes(routes!(volumes, add_volume))
        .routes(routes!(change_volume, remove_volume))
}

#[derive(Deserialize, ToSchema)]
pub struct NewVolume {
    /// The pool it joins (`A` if absent).
    pool: Option<String>,
    /// A directory (one per disk) or `s3://bucket/prefix`.
    location: String,
}

#[derive(Deserialize, ToSchema)]
pub struct VolumeChange {
    state: VolumeState,
}

#[derive(Deserialize, IntoParams)]
pub struct RemoveVolume {
    /// Give up an offline volume's copies (the repair job restores them from other volumes).
    #[serde(default)]
    force: bool,
}

/// Every volume: pool, state, capacity, use and health, with warnings (past 85 %, offline).
#[utoipa::path(get, path = "/admin/volumes", tag = "admin",
    responses((status = 200, body = StorageOverview), (status = 403, body = Problem)), security(("bearer" = [])))]
async fn volumes(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<Json<StorageOverview>> {
    Ok(Json(s.storage_overview_for(&c).await?))
}

/// Add a volume at runtime (422 `volume_unusable` if it cannot be written, 409 `volume_exists`).
#[utoipa::path(post, path = "/admin/volumes", tag = "admin", request_body = NewVolume,
    responses((status = 201, body = VolumeStatus), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)), security(("bearer" = [])))]
async fn add_volume(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Json(new): Json<NewVolume>,
) -> ApiResult<(StatusCode, Json<VolumeStatus>)> {
    let pool = new.pool.as_deref().unwrap_or("A");
    Ok((StatusCode::CREATED, Json(s.add_volume_for(&c, pool, &new.location).await?)))
}

/// Mark a volume `active`, `read_only` or `draining` (the drain job then moves its blocks).
#[utoipa::path(patch, path = "/admin/volumes/{id}", tag = "admin", params(("id" = String, Path)),
    request_body = VolumeChange,
    responses((status = 200, body = VolumeStatus), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn change_volume(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<String>,
    Json(change): Json<VolumeChange>,
) -> ApiResult<Json<VolumeStatus>> {
    Ok(Json(s.set_volume_state_for(&c, &id, change.state).await?))
}

/// Remove a volume: an empty one (drained), or an offline one with `force`.
#[utoipa::path(delete, path = "/admin/volumes/{id}", tag = "admin", params(("id" = String, Path), RemoveVolume),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn remove_volume(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<String>,
    Query(q): Query<RemoveVolume>,
) -> ApiResult<StatusCode> {
    s.remove_volume_for(&c, &id, q.force).await?;
    Ok(StatusCode::NO_CONTENT)
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
