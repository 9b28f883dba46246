//! `/api/v1/uploads`: block-negotiation upload sessions.

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stratus_core::{BLOCK_SIZE, ConflictPolicy, Node, NodeId, VersionId};
use stratus_service::{NewUpload, SessionState, Stratus};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{Auth, Json, Path},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(state, abort))
        .routes(routes!(put_block))
        .routes(routes!(commit))
        .layer(DefaultBodyLimit::max(BLOCK_SIZE + 1024))
}

#[derive(Deserialize, ToSchema)]
pub struct StartUpload {
    parent_id: NodeId,
    name: String,
    size: u64,
    /// Hex SHA-256 of each 4 MiB block (the last one shorter), in order.
    blocks: Vec<String>,
    #[serde(default)]
    on_conflict: ConflictPolicy,
}

#[derive(Serialize, ToSchema)]
pub struct UploadState {
    upload_id: VersionId,
    /// Indices of the blocks the server lacks: send only these.
    missing: Vec<u64>,
    expires_at: DateTime<Utc>,
}

impl From<SessionState> for UploadState {
    fn from(s: SessionState) -> Self {
        Self { upload_id: s.upload_id, missing: s.missing, expires_at: s.expires_at }
    }
}

/// Declare a file by its blocks; the answer lists the blocks to send (none when the server
/// has them all). The quota is reserved now; nothing is visible until the commit.
#[utoipa::path(post, path = "/uploads", tag = "uploads", request_body = StartUpload,
    responses((status = 201, body = UploadState), (status = 409, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem)), security(("bearer" = [])))]
async fn start(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Json(r): Json<StartUpload>,
) -> ApiResult<(StatusCode, Json<UploadState>)> {
    let new = NewUpload {
        parent: r.parent_id,
        name: r.name,
        size: r.size,
        blocks: r.blocks,
        policy: r.on_conflict,
    };
    Ok((StatusCode::CREATED, Json(s.start_upload(&c, new).await?.into())))
}

/// What a session still lacks (to resume).
#[utoipa::path(get, path = "/uploads/{id}", tag = "uploads", params(("id" = VersionId, Path)),
    responses((status = 200, body = UploadState), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn state(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<VersionId>,
) -> ApiResult<Json<UploadState>> {
    Ok(Json(s.upload_state(&c, id).await?.into()))
}

/// Abandon a session (its quota is given back).
#[utoipa::path(delete, path = "/uploads/{id}", tag = "uploads", params(("id" = VersionId, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn abort(State(s): State<Stratus>, Auth(c): Auth, Path(id): Path<VersionId>) -> ApiResult<StatusCode> {
    s.abort_upload(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send one block (any order, in parallel); it is verified against its declared hash.
#[utoipa::path(put, path = "/uploads/{id}/blocks/{index}", tag = "uploads",
    params(("id" = VersionId, Path), ("index" = u64, Path)), request_body(content_type = "application/octet-stream"),
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn put_block(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path((id, index)): Path<(VersionId, u64)>,
    body: Body,
) -> ApiResult<StatusCode> {
    let data = axum::body::to_bytes(body, BLOCK_SIZE + 1).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "a block is at most 4 MiB")
    })?;
    s.put_block(&c, id, index, data).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create the file (201) or its new version (200) from the session's blocks.
#[utoipa::path(post, path = "/uploads/{id}/commit", tag = "uploads", params(("id" = VersionId, Path)),
    responses((status = 201, body = Node), (status = 200, body = Node), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn commit(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<VersionId>,
) -> ApiResult<(StatusCode, Json<Node>)> {
    let done = s.commit_session(&c, id).await?;
    Ok((if done.created { StatusCode::CREATED } else { StatusCode::OK }, Json(done.node)))
}
