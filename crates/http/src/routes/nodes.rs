//! `/api/v1/nodes/*` (metadata, listing, folders, rename/move, copy, delete) and the trash.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use stratus_core::{Node, NodeId, PublicAccess, SortKey, SortOrder, TrashItem};
use stratus_service::{ListQuery, NodeUpdate, SearchHit, Stratus};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{Auth, Json, MaybeAuth, Path, Query},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(get_node, update_node, delete_node))
        .routes(routes!(list_children, create_child))
        .routes(routes!(copy_node))
        .routes(routes!(by_path))
        .routes(routes!(search))
        .routes(routes!(list_trash, empty_trash))
        .routes(routes!(restore))
        .routes(routes!(purge))
}

/// A file or folder's metadata.
#[utoipa::path(get, path = "/nodes/{id}", tag = "files", params(("id" = NodeId, Path)),
    responses((status = 200, body = Node), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn get_node(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(id): Path<NodeId>,
) -> ApiResult<Json<Node>> {
    Ok(Json(s.node(c.as_ref(), id).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct SearchParams {
    /// Text the name contains (any case).
    #[serde(default)]
    q: String,
    /// At most this many hits (1–200, default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    items: Vec<SearchHit>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// The caller's live files and folders whose name contains `q`, folders first, then by name,
/// each with the path of its folder.
#[utoipa::path(get, path = "/search", tag = "files", params(SearchParams),
    responses((status = 200, body = SearchResults), (status = 400, body = Problem)), security(("bearer" = [])))]
async fn search(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let page = s.search(&c, &p.q, p.limit, p.cursor.as_deref()).await?;
    Ok(Json(SearchResults { items: page.items, next_cursor: page.next_cursor }))
}

#[derive(Deserialize, IntoParams)]
pub struct ChildrenParams {
    /// For public links: the path inside the link's folder.
    #[serde(default)]
    #[param(ignore)]
    pub(crate) path: Option<String>,
    /// For public links with a password.
    #[serde(default)]
    #[param(ignore)]
    pub(crate) password: Option<String>,
    /// `name` (default), `modified` or `size`; folders always come first.
    sort: Option<SortKey>,
    /// `asc` (default) or `desc`.
    order: Option<SortOrder>,
    /// 1 to 1000, default 100.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl ChildrenParams {
    pub(crate) fn query(&self) -> ListQuery {
        ListQuery {
            sort: self.sort.unwrap_or_default(),
            order: self.order.unwrap_or_default(),
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NodePage {
    pub(crate) items: Vec<Node>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub(crate) next_cursor: Option<String>,
    /// How many items the folder holds; on the first page only (`null` on later pages).
    pub(crate) total: Option<u64>,
}

/// List a folder, one page at a time.
#[utoipa::path(get, path = "/nodes/{id}/children", tag = "files",
    params(("id" = NodeId, Path), ChildrenParams),
    responses((status = 200, body = NodePage), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn list_children(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(id): Path<NodeId>,
    Query(p): Query<ChildrenParams>,
) -> ApiResult<Json<NodePage>> {
    let page = s.children(c.as_ref(), id, &p.query()).await?;
    Ok(Json(NodePage { items: page.items, next_cursor: page.next_cursor, total: page.total }))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateChild {
    name: String,
    /// Only `folder`: files are created by uploading.
    kind: String,
}

/// Create a folder.
#[utoipa::path(post, path = "/nodes/{id}/children", tag = "files", params(("id" = NodeId, Path)),
    request_body = CreateChild,
    responses((status = 201, body = Node), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_child(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(id): Path<NodeId>,
    Json(r): Json<CreateChild>,
) -> ApiResult<(StatusCode, Json<Node>)> {
    if r.kind != "folder" {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_kind",
            "only folders are created here; upload files to /nodes/{id}/files",
        ));
    }
    Ok((StatusCode::CREATED, Json(s.mkdir(c.as_ref(), id, &r.name).await?)))
}

#[derive(Deserialize, ToSchema)]
pub struct PatchNode {
    /// New name (rename).
    name: Option<String>,
    /// New parent folder (move).
    parent_id: Option<NodeId>,
    public_access: Option<PublicAccess>,
}

/// Rename, move, or set public access.
#[utoipa::path(patch, path = "/nodes/{id}", tag = "files", params(("id" = NodeId, Path)),
    request_body = PatchNode,
    responses((status = 200, body = Node), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)), security(("bearer" = [])))]
async fn update_node(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<NodeId>,
    Json(r): Json<PatchNode>,
) -> ApiResult<Json<Node>> {
    let update = NodeUpdate { name: r.name, parent_id: r.parent_id, public_access: r.public_access };
    Ok(Json(s.update_node(&c, id, update).await?))
}

/// Move to the trash (with everything inside).
#[utoipa::path(delete, path = "/nodes/{id}", tag = "files", params(("id" = NodeId, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn delete_node(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<NodeId>,
) -> ApiResult<StatusCode> {
    s.delete(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct CopyRequest {
    parent_id: NodeId,
    /// Defaults to the source's name.
    name: Option<String>,
}

/// Copy a file or folder (server-side: blocks are shared, not copied).
#[utoipa::path(post, path = "/nodes/{id}/copy", tag = "files", params(("id" = NodeId, Path)),
    request_body = CopyRequest,
    responses((status = 201, body = Node), (status = 409, body = Problem), (status = 413, body = Problem)),
    security(("bearer" = [])))]
async fn copy_node(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<NodeId>,
    Json(r): Json<CopyRequest>,
) -> ApiResult<(StatusCode, Json<Node>)> {
    Ok((StatusCode::CREATED, Json(s.copy(&c, id, r.parent_id, r.name.as_deref()).await?)))
}

#[derive(Deserialize, IntoParams)]
pub struct PathParams {
    /// e.g. `/Photos/2024/beach.jpg`
    path: String,
}

/// Look a node up by its path from the caller's root.
#[utoipa::path(get, path = "/nodes/by-path", tag = "files", params(PathParams),
    responses((status = 200, body = Node), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn by_path(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Query(p): Query<PathParams>,
) -> ApiResult<Json<Node>> {
    Ok(Json(s.by_path(&c, &p.path).await?))
}

#[derive(Serialize, ToSchema)]
pub struct TrashList {
    items: Vec<TrashItem>,
}

/// The trash: deleted items, newest first.
#[utoipa::path(get, path = "/trash", tag = "trash",
    responses((status = 200, body = TrashList)), security(("bearer" = [])))]
async fn list_trash(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<Json<TrashList>> {
    Ok(Json(TrashList { items: s.trash(&c).await? }))
}

/// Empty the trash.
#[utoipa::path(delete, path = "/trash", tag = "trash", responses((status = 204)), security(("bearer" = [])))]
async fn empty_trash(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<StatusCode> {
    s.empty_trash(&c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restore an item to where it was (recreating missing folders; a clash keeps both).
#[utoipa::path(post, path = "/trash/{id}/restore", tag = "trash", params(("id" = NodeId, Path)),
    responses((status = 200, body = Node), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn restore(State(s): State<Stratus>, Auth(c): Auth, Path(id): Path<NodeId>) -> ApiResult<Json<Node>> {
    Ok(Json(s.restore(&c, id).await?))
}

/// Delete an item from the trash for good.
#[utoipa::path(delete, path = "/trash/{id}", tag = "trash", params(("id" = NodeId, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn purge(State(s): State<Stratus>, Auth(c): Auth, Path(id): Path<NodeId>) -> ApiResult<StatusCode> {
    s.purge(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
