//! `/api/v1/admin/*`: operations for administrators.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use stratus_core::{AuditEntry, JobRun, SystemStats, User, UserId, VolumeState};
use stratus_service::{AuditFilter, StorageOverview, Stratus, UserFilter, UserUpdate, VolumeStatus};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{Auth, Json, Path, Query},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(jobs))
        .routes(routes!(nodes))
        .routes(routes!(run_job))
        .routes(routes!(stats))
        .routes(routes!(volumes, add_volume))
        .routes(routes!(change_volume, remove_volume))
        .routes(routes!(users))
        .routes(routes!(user, update_user))
        .routes(routes!(audit))
}

#[derive(Deserialize, IntoParams)]
pub struct UsersQuery {
    /// Part of a username, email or display name.
    q: Option<String>,
    /// Page size (50; at most 500).
    limit: Option<u64>,
    /// Entries to skip.
    offset: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    items: Vec<User>,
    /// How many accounts match in all.
    total: u64,
    /// The `offset` of the next page, if there is one.
    next_offset: Option<u64>,
}

/// Accounts, searched and paginated (in creation order).
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(UsersQuery),
    responses((status = 200, body = UserPage), (status = 403, body = Problem)), security(("bearer" = [])))]
async fn users(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Query(q): Query<UsersQuery>,
) -> ApiResult<Json<UserPage>> {
    let filter = UserFilter {
        search: q.q.filter(|q| !q.trim().is_empty()),
        offset: q.offset.unwrap_or(0),
        limit: q.limit.unwrap_or(50),
    };
    let (offset, limit) = (filter.offset, filter.limit.clamp(1, 500));
    let (items, total) = s.users_for(&c, filter).await?;
    let next = offset + items.len() as u64;
    let next_offset = (next < total && items.len() as u64 == limit).then_some(next);
    Ok(Json(UserPage { items, total, next_offset }))
}

/// One account.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", params(("id" = UserId, Path)),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn user(State(s): State<Stratus>, Auth(c): Auth, Path(id): Path<UserId>) -> ApiResult<Json<User>> {
    Ok(Json(s.user_for(&c, id).await?))
}

/// Disable or enable an account (a disabled user's sessions and tokens stop at once), set its
/// plan or quota, make it an administrator.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", params(("id" = UserId, Path)), request_body = UserUpdate,
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)), security(("bearer" = [])))]
async fn update_user(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<UserId>,
    Json(u): Json<UserUpdate>,
) -> ApiResult<Json<User>> {
    Ok(Json(s.update_user_for(&c, id, u).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only this user's actions.
    actor: Option<UserId>,
    /// Only this action (`login_failed`, `share_created`, …).
    action: Option<String>,
    /// Entries older than this entry id (the previous page's `next_before`).
    before: Option<String>,
    /// Page size (100; at most 1000).
    limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    items: Vec<AuditEntry>,
    /// Pass as `before` for the next page.
    next_before: Option<String>,
}

/// The audit log of security-relevant events, newest first.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = Problem)), security(("bearer" = [])))]
async fn audit(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = AuditFilter { actor: q.actor, action: q.action, before: q.before, limit };
    let items = s.audit_log_for(&c, filter).await?;
    let next_before = (items.len() as u64 == limit).then(|| items.last().map(|e| e.id.clone())).flatten();
    Ok(Json(AuditPage { items, next_before }))
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
    /// When a node of the cluster runs it next (null until a server has scheduled it).
    next_due_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its latest run, if it ever ran.
    last_run: Option<JobRun>,
}

#[derive(Serialize, ToSchema)]
pub struct JobsView {
    /// Every job, whether or not it ever ran.
    jobs: Vec<JobInfo>,
    /// The most recent runs, newest first.
    runs: Vec<JobRun>,
}

/// The background jobs (interval, next due time, latest run) and their recent runs.
#[utoipa::path(get, path = "/admin/jobs", tag = "admin",
    responses((status = 200, body = JobsView), (status = 403, body = Problem)), security(("bearer" = [])))]
async fn jobs(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<Json<JobsView>> {
    let runs = s.job_runs(&c).await?;
    let jobs = s
        .job_statuses_for(&c)
        .await?
        .into_iter()
        .map(|j| JobInfo {
            name: j.job.name(),
            every_seconds: j.job.every().as_secs(),
            next_due_at: j.next_due_at,
            last_run: j.last_run,
        })
        .collect();
    Ok(Json(JobsView { jobs, runs }))
}

#[derive(Serialize, ToSchema)]
pub struct ClusterNodeView {
    /// The node's name (in job runs and logs).
    id: String,
    started_at: chrono::DateTime<chrono::Utc>,
    /// Its latest heartbeat.
    seen_at: chrono::DateTime<chrono::Utc>,
}

/// The server nodes sharing this database whose heartbeat is current.
#[utoipa::path(get, path = "/admin/nodes", tag = "admin",
    responses((status = 200, body = Vec<ClusterNodeView>), (status = 403, body = Problem)), security(("bearer" = [])))]
async fn nodes(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<Json<Vec<ClusterNodeView>>> {
    let nodes = s.cluster_nodes_for(&c).await?;
    Ok(Json(
        nodes
            .into_iter()
            .map(|n| ClusterNodeView { id: n.id, started_at: n.started_at, seen_at: n.seen_at })
            .collect(),
    ))
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
