//! Public links: managing them (`/api/v1/nodes/{id}/links`, `/api/v1/links/{id}`), visiting
//! them (`/api/v1/public/{token}`, `/s/{token}`, `/s/{token}/download`), and signed download
//! URLs (`/api/v1/nodes/{id}/download-url`, `/dl/{id}`).

use axum::{
    extract::{Multipart, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use stratus_core::{DownloadUrlInfo, Link, LinkId, Node, NodeId, UrlId};
use stratus_service::{LinkOptions, Stratus};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{Auth, ClientIp, Json, Path, Query},
    routes::{
        content::{Reply, serve_file, serve_zip, shown_inline},
        nodes::ChildrenParams,
    },
};

pub const PASSWORD_HEADER: &str = "x-link-password";

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(list_links, create_link))
        .routes(routes!(update_link, delete_link))
        .routes(routes!(public_view))
        .routes(routes!(public_drop))
        .routes(routes!(download_url))
        .routes(routes!(list_download_urls))
        .routes(routes!(revoke_download_url))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateLink {
    expires_at: Option<DateTime<Utc>>,
    /// At most 1 KiB; stored hashed.
    password: Option<String>,
    /// At least 1.
    max_downloads: Option<i64>,
    /// A file drop: visitors can upload into the folder, not list or download.
    #[serde(default)]
    upload_only: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateLink {
    active: bool,
}

#[derive(Serialize, ToSchema)]
pub struct LinkList {
    items: Vec<Link>,
}

/// A node's public links (owner or editor).
#[utoipa::path(get, path = "/nodes/{id}/links", tag = "sharing", params(("id" = NodeId, Path)),
    responses((status = 200, body = LinkList), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn list_links(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<NodeId>,
) -> ApiResult<Json<LinkList>> {
    Ok(Json(LinkList { items: s.links(&c, id).await? }))
}

/// Create a public link: optional expiry, password, download limit, or file-drop mode.
#[utoipa::path(post, path = "/nodes/{id}/links", tag = "sharing", params(("id" = NodeId, Path)),
    request_body = CreateLink,
    responses((status = 201, body = Link), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_link(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<NodeId>,
    Json(r): Json<CreateLink>,
) -> ApiResult<(StatusCode, Json<Link>)> {
    let options = LinkOptions {
        expires_at: r.expires_at,
        password: r.password,
        max_downloads: r.max_downloads,
        upload_only: r.upload_only,
    };
    Ok((StatusCode::CREATED, Json(s.create_link(&c, id, options).await?)))
}

/// Deactivate or reactivate a link.
#[utoipa::path(patch, path = "/links/{id}", tag = "sharing", params(("id" = LinkId, Path)),
    request_body = UpdateLink, responses((status = 200, body = Link), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn update_link(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<LinkId>,
    Json(r): Json<UpdateLink>,
) -> ApiResult<Json<Link>> {
    Ok(Json(s.set_link_active(&c, id, r.active).await?))
}

/// Delete a link.
#[utoipa::path(delete, path = "/links/{id}", tag = "sharing", params(("id" = LinkId, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn delete_link(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<LinkId>,
) -> ApiResult<StatusCode> {
    s.delete_link(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The link's password: the `X-Link-Password` header, else the `password` parameter.
fn password<'a>(headers: &'a HeaderMap, param: Option<&'a str>) -> Option<&'a str> {
    headers.get(PASSWORD_HEADER).and_then(|v| v.to_str().ok()).or(param)
}

#[derive(Serialize, ToSchema)]
pub struct PublicLink {
    upload_only: bool,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct PublicView {
    link: PublicLink,
    /// The item at `path` inside the link (the link's own item by default).
    node: PublicNode,
    /// A folder's content (not for file drops).
    #[serde(skip_serializing_if = "Option::is_none")]
    children: Option<PublicPage>,
    /// For a link with a password: put this in download and preview URLs (`grant=`) instead
    /// of the password, for an hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<String>,
}

/// A page of a folder seen through a link: names, sizes and times, never ids or owners.
#[derive(Serialize, ToSchema)]
pub struct PublicPage {
    items: Vec<PublicNode>,
    next_cursor: Option<String>,
    /// How many items the folder holds; on the first page only.
    total: Option<u64>,
}

/// What a visitor sees of a node: no owner, no ids of what lies outside the link.
#[derive(Serialize, ToSchema)]
pub struct PublicNode {
    name: String,
    kind: stratus_core::NodeKind,
    size: u64,
    content_hash: Option<String>,
    modified_at: DateTime<Utc>,
}

impl From<&Node> for PublicNode {
    fn from(n: &Node) -> Self {
        Self {
            name: n.name.clone(),
            kind: n.kind,
            size: n.size,
            content_hash: n.content_hash.clone(),
            modified_at: n.modified_at,
        }
    }
}

/// What a public link shows: the item, and a folder's content page by page (`path` walks
/// inside it; a password goes in `X-Link-Password` or `password`).
#[utoipa::path(get, path = "/public/{token}", tag = "public", params(("token" = String, Path)),
    responses((status = 200, body = PublicView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 410, body = Problem)))]
async fn public_view(
    State(s): State<Stratus>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Query(p): Query<ChildrenParams>,
    headers: HeaderMap,
) -> ApiResult<Json<PublicView>> {
    let visit = s
        .visit(&token, password(&headers, p.password.as_deref()), p.path.as_deref().unwrap_or("/"), ip)
        .await?;
    let children = if visit.target().is_folder() && !visit.link().upload_only {
        let page = s.visit_children(&visit, &p.query()).await?;
        Some(PublicPage {
            items: page.items.iter().map(PublicNode::from).collect(),
            next_cursor: page.next_cursor,
            total: page.total,
        })
    } else {
        None
    };
    let node = if visit.link().upload_only {
        PublicNode::from(visit.root())
    } else {
        PublicNode::from(visit.target())
    };
    let link = PublicLink { upload_only: visit.link().upload_only, expires_at: visit.link().expires_at };
    let grant = s.link_grant(&visit).await?;
    Ok(Json(PublicView { link, node, children, grant }))
}

#[derive(Deserialize, IntoParams)]
pub struct VisitParams {
    /// The item inside the link's folder, e.g. `/photos/a.jpg`.
    path: Option<String>,
    /// The link's password (or send `X-Link-Password`).
    password: Option<String>,
    /// A grant from `GET /public/{token}`, instead of the password in URLs.
    grant: Option<String>,
    /// `true` to have a browser show an image, PDF, audio or video instead of saving it.
    #[serde(default)]
    inline: bool,
}

/// Drop files into a file-drop link's folder (multipart field `file`); clashes keep both.
#[utoipa::path(post, path = "/public/{token}/files", tag = "public", params(("token" = String, Path), VisitParams),
    request_body(content_type = "multipart/form-data"),
    responses((status = 201, body = PublicNode), (status = 403, body = Problem), (status = 413, body = Problem)))]
async fn public_drop(
    State(s): State<Stratus>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Query(p): Query<VisitParams>,
    headers: HeaderMap,
    mut form: Multipart,
) -> ApiResult<(StatusCode, Json<Vec<PublicNode>>)> {
    let visit = s
        .visit(&token, password(&headers, p.password.as_deref()), p.path.as_deref().unwrap_or("/"), ip)
        .await?;
    let mut dropped = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", e.body_text()))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_string();
        let up = s.drop_file(&visit, &name, None, field.map_err(|e| e.body_text())).await?;
        dropped.push(PublicNode::from(&up.node));
    }
    if dropped.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "missing_file", "the form has no `file` field"));
    }
    Ok((StatusCode::CREATED, Json(dropped)))
}

/// `GET /s/{token}/download`: the file, or a folder as a ZIP archive; counts against the
/// link's download limit.
pub async fn link_download(
    State(s): State<Stratus>,
    ClientIp(ip): ClientIp,
    method: axum::http::Method,
    Path(token): Path<String>,
    Query(p): Query<VisitParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let visit = s
        .visit(
            &token,
            password(&headers, p.password.as_deref()).or(p.grant.as_deref()),
            p.path.as_deref().unwrap_or("/"),
            ip,
        )
        .await?;
    // A HEAD or a 304 downloads nothing; every answer that sends bytes counts, ranges too (a
    // range after the first byte would otherwise fetch all but one byte uncounted). The
    // service does the counting.
    let head = method == axum::http::Method::HEAD;
    if visit.target().is_folder() {
        let (name, zip) = s.link_zip(&visit, head).await?;
        return serve_zip(&name, zip);
    }
    let file = s.link_file(&visit, |file| !head && Reply::to(file, &headers).delivers_bytes()).await?;
    let response = serve_file(file, &headers).await?;
    Ok(if p.inline { shown_inline(response) } else { response })
}

/// `GET /s/{token}`: the web app, which shows the link (a password prompt, a preview, a
/// folder, a drop zone) through `/api/v1/public/{token}`. The status already says whether the
/// link works (200), wants a password (401) or is gone (404, 410).
pub async fn link_page(
    State(s): State<Stratus>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Query(p): Query<VisitParams>,
    headers: HeaderMap,
) -> Response {
    let status = match s.visit(&token, password(&headers, p.password.as_deref()), "/", ip).await {
        Ok(_) => StatusCode::OK,
        Err(err) => ApiError::from(err).status,
    };
    let mut response = crate::web::shell(status);
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[derive(Deserialize, ToSchema)]
pub struct DownloadUrlRequest {
    /// Seconds until the URL stops working (1 to 604800).
    expires_in: u64,
}

#[derive(Serialize, ToSchema)]
pub struct DownloadUrl {
    /// Relative to the server; works without an auth header.
    url: String,
    expires_at: DateTime<Utc>,
}

/// A signed, expiring URL that downloads the file without an auth header.
#[utoipa::path(post, path = "/nodes/{id}/download-url", tag = "files", params(("id" = NodeId, Path)),
    request_body = DownloadUrlRequest,
    responses((status = 200, body = DownloadUrl), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn download_url(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<NodeId>,
    Json(r): Json<DownloadUrlRequest>,
) -> ApiResult<Json<DownloadUrl>> {
    let (url, expires_at) = s.signed_url(&c, id, r.expires_in).await?;
    Ok(Json(DownloadUrl { url, expires_at }))
}

#[derive(Serialize, ToSchema)]
pub struct DownloadUrlList {
    items: Vec<DownloadUrlInfo>,
}

/// The file's live signed download URLs (owner and editors), whoever made them.
#[utoipa::path(get, path = "/nodes/{id}/download-urls", tag = "files", params(("id" = NodeId, Path)),
    responses((status = 200, body = DownloadUrlList), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn list_download_urls(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<NodeId>,
) -> ApiResult<Json<DownloadUrlList>> {
    Ok(Json(DownloadUrlList { items: s.download_urls(&c, id).await? }))
}

/// Revoke a signed download URL (its maker, or the file's owner and editors).
#[utoipa::path(delete, path = "/download-urls/{id}", tag = "files", params(("id" = UrlId, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn revoke_download_url(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<UrlId>,
) -> ApiResult<StatusCode> {
    s.revoke_download_url(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct SignedParams {
    key: UrlId,
    expires: i64,
    signature: String,
}

/// `GET /dl/{id}`: a signed download URL.
pub async fn signed_download(
    State(s): State<Stratus>,
    Path(id): Path<NodeId>,
    Query(p): Query<SignedParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_file(s.signed_download(id, p.key, p.expires, &p.signature).await?, &headers).await
}
