//! `/api/v1/nodes/{id}/shares` and `/api/v1/shared-with-me`: sharing with users.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use stratus_core::{NodeId, Role, Share, ShareId, SharedItem};
use stratus_service::Stratus;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{Auth, Json, Path},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(list_shares, create_share))
        .routes(routes!(update_share, revoke_share))
        .routes(routes!(shared_with_me))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateShare {
    /// Username or email of the user to share with.
    user: String,
    /// `viewer` or `editor`.
    role: Role,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateShare {
    role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct ShareList {
    items: Vec<Share>,
}

#[derive(Serialize, ToSchema)]
pub struct SharedList {
    items: Vec<SharedItem>,
}

/// The node's shares (owner only).
#[utoipa::path(get, path = "/nodes/{id}/shares", tag = "sharing", params(("id" = NodeId, Path)),
    responses((status = 200, body = ShareList), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn list_shares(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<NodeId>,
) -> ApiResult<Json<ShareList>> {
    Ok(Json(ShareList { items: s.shares(&c, id).await? }))
}

/// Share with a user as viewer or editor; sharing with the same user again changes the role.
#[utoipa::path(post, path = "/nodes/{id}/shares", tag = "sharing", params(("id" = NodeId, Path)),
    request_body = CreateShare,
    responses((status = 201, body = Share), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)), security(("bearer" = [])))]
async fn create_share(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<NodeId>,
    Json(r): Json<CreateShare>,
) -> ApiResult<(StatusCode, Json<Share>)> {
    Ok((StatusCode::CREATED, Json(s.share(&c, id, &r.user, r.role).await?)))
}

/// Change a share's role.
#[utoipa::path(patch, path = "/nodes/{id}/shares/{share_id}", tag = "sharing",
    params(("id" = NodeId, Path), ("share_id" = ShareId, Path)), request_body = UpdateShare,
    responses((status = 200, body = Share), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn update_share(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path((id, share)): Path<(NodeId, ShareId)>,
    Json(r): Json<UpdateShare>,
) -> ApiResult<Json<Share>> {
    Ok(Json(s.update_share(&c, id, share, r.role).await?))
}

/// Revoke a share (the owner), or leave it (the user it was shared with).
#[utoipa::path(delete, path = "/nodes/{id}/shares/{share_id}", tag = "sharing",
    params(("id" = NodeId, Path), ("share_id" = ShareId, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn revoke_share(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path((id, share)): Path<(NodeId, ShareId)>,
) -> ApiResult<StatusCode> {
    s.revoke_share(&c, id, share).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What other users shared with the caller.
#[utoipa::path(get, path = "/shared-with-me", tag = "sharing",
    responses((status = 200, body = SharedList)), security(("bearer" = [])))]
async fn shared_with_me(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<Json<SharedList>> {
    Ok(Json(SharedList { items: s.shared_with_me(&c).await? }))
}
