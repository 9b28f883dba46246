//! File content over HTTP: multipart and raw uploads, downloads with Range and ETags.

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, Multipart, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::{StreamExt, TryStreamExt};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use stratus_core::{ConflictPolicy, Node, NodeId, VersionId};
use stratus_service::{Batch, Caller, Download, Stratus, UploadTarget, Uploaded};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{Json, MaybeAuth, Path, Query},
    range::{self, RangeRequest},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(upload_multipart))
        .routes(routes!(put_named))
        .routes(routes!(download, put_content))
        .routes(routes!(list_versions))
        .routes(routes!(version_content))
        .routes(routes!(restore_version))
        .routes(routes!(zip_folder))
        .routes(routes!(zip_selection))
        .layer(DefaultBodyLimit::disable())
}

#[derive(Deserialize, IntoParams)]
pub struct ConflictParams {
    /// `fail` (default, 409), `replace` (new version) or `keep_both` (`name (1).ext`).
    on_conflict: Option<ConflictPolicy>,
}

/// Several files uploaded at once.
#[derive(Serialize, ToSchema)]
pub struct UploadedList {
    items: Vec<Node>,
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Upload one or more files as `multipart/form-data` (field `file`; a filename may be a
/// relative path such as `album/2024/a.jpg`, whose folders are created). The files are
/// committed together, in one transaction: all of them appear, or — when one is refused (a
/// name taken under `fail`, the quota) — none. At most 5,000 files a request. One file
/// answers the node; several answer `{items}`, in the order sent.
#[utoipa::path(post, path = "/nodes/{id}/files", tag = "files",
    params(("id" = NodeId, Path), ConflictParams),
    request_body(content_type = "multipart/form-data", description = "one or more `file` fields"),
    responses((status = 201, body = Node), (status = 409, body = Problem), (status = 413, body = Problem)),
    security(("bearer" = [])))]
async fn upload_multipart(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(parent): Path<NodeId>,
    Query(q): Query<ConflictParams>,
    headers: HeaderMap,
    form: Multipart,
) -> ApiResult<Response> {
    multipart_files(&s, c.as_ref(), parent, q, &headers, form).await.map_err(closing)
}

async fn multipart_files(
    s: &Stratus,
    c: Option<&Caller>,
    parent: NodeId,
    q: ConflictParams,
    headers: &HeaderMap,
    mut form: Multipart,
) -> ApiResult<Response> {
    let mut batch = s.batch(c, parent, q.on_conflict.unwrap_or_default(), content_length(headers)).await?;
    match read_files(&mut batch, &mut form).await {
        Ok(()) if batch.is_empty() => {
            batch.abort().await;
            Err(ApiError::new(StatusCode::BAD_REQUEST, "missing_file", "the form has no `file` field"))
        }
        Ok(()) => {
            let mut items = batch.commit().await?;
            if items.len() == 1 {
                return Ok((StatusCode::CREATED, Json(items.remove(0))).into_response());
            }
            Ok((StatusCode::CREATED, Json(UploadedList { items })).into_response())
        }
        Err(err) => {
            batch.abort().await;
            Err(err)
        }
    }
}

/// Reads every `file` field of the form into the batch.
async fn read_files(batch: &mut Batch<'_>, form: &mut Multipart) -> ApiResult<()> {
    while let Some(field) = form.next_field().await.map_err(bad_multipart)? {
        if field.name() != Some("file") {
            continue;
        }
        let Some(path) = field.file_name().map(str::to_string) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_filename",
                "a file field needs a filename",
            ));
        };
        batch.add(&path, field.map_err(|e| e.body_text())).await?;
    }
    Ok(())
}

fn bad_multipart(err: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", err.body_text())
}

async fn stream_upload(
    s: &Stratus,
    c: Option<&Caller>,
    target: UploadTarget,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Uploaded> {
    let stream = body.into_data_stream().map_err(|e| e.to_string());
    s.upload(c, target, content_length(headers), stream).await.map_err(|e| closing(e.into()))
}

/// A refused upload may leave its body unread: the connection cannot carry another request,
/// and saying so keeps clients from reusing it.
fn closing(err: ApiError) -> ApiError {
    err.with_header(header::CONNECTION, HeaderValue::from_static("close"))
}

/// Upload a file by name with a raw body of any size (streamed; bounded memory).
#[utoipa::path(put, path = "/nodes/{id}/files/{name}", tag = "files",
    params(("id" = NodeId, Path), ("name" = String, Path), ConflictParams),
    request_body(content_type = "application/octet-stream"),
    responses((status = 201, body = Node, description = "a new file"), (status = 200, body = Node, description = "a new version"),
        (status = 409, body = Problem), (status = 413, body = Problem)),
    security(("bearer" = [])))]
async fn put_named(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path((parent, name)): Path<(NodeId, String)>,
    Query(q): Query<ConflictParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Node>)> {
    let target = UploadTarget::Named {
        parent,
        path: name.replace('/', "\0"),
        policy: q.on_conflict.unwrap_or_default(),
    };
    let up = stream_upload(&s, c.as_ref(), target, &headers, body).await?;
    Ok((if up.created { StatusCode::CREATED } else { StatusCode::OK }, Json(up.node)))
}

/// Replace a file's content: a new version (the previous one is kept).
#[utoipa::path(put, path = "/nodes/{id}/content", tag = "files", params(("id" = NodeId, Path)),
    request_body(content_type = "application/octet-stream"),
    responses((status = 200, body = Node), (status = 404, body = Problem), (status = 413, body = Problem)),
    security(("bearer" = [])))]
async fn put_content(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(id): Path<NodeId>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Node>> {
    Ok(Json(stream_upload(&s, c.as_ref(), UploadTarget::Existing(id), &headers, body).await?.node))
}

/// Download a file. Supports `Range` (206/416), `If-None-Match` (304) and `If-Range`;
/// the strong ETag is the content hash. Every block is verified before it is sent.
#[utoipa::path(get, path = "/nodes/{id}/content", tag = "files", params(("id" = NodeId, Path), ShowParams),
    responses((status = 200, description = "the bytes"), (status = 206, description = "a range"),
        (status = 304), (status = 404, body = Problem), (status = 416, body = Problem)),
    security(("bearer" = [])))]
async fn download(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(id): Path<NodeId>,
    Query(show): Query<ShowParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let response = serve_file(s.download(c.as_ref(), id).await?, &headers).await?;
    Ok(if show.inline { shown_inline(response) } else { response })
}

#[derive(Deserialize, IntoParams)]
pub struct ShowParams {
    /// `true` to have a browser show an image, PDF, audio or video instead of saving it.
    #[serde(default)]
    pub inline: bool,
}

/// Lets a browser show a file it cannot run script from (images other than SVG, PDF, audio,
/// video) instead of saving it; anything else stays an attachment.
pub(crate) fn shown_inline(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let media_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let shown = (media_type.starts_with("image/") && media_type != "image/svg+xml")
        || media_type.starts_with("audio/")
        || media_type.starts_with("video/")
        || media_type == "application/pdf";
    let inline = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("attachment"))
        .and_then(|rest| HeaderValue::from_str(&format!("inline{rest}")).ok());
    if let (true, Some(inline)) = (shown, inline) {
        headers.insert(header::CONTENT_DISPOSITION, inline);
    }
    response
}

/// Answers a GET for a file: conditional requests, ranges, and the verified bytes.
/// What a download request is answered, from its conditional and `Range` headers.
pub(crate) enum Reply {
    NotModified,
    Unsatisfiable,
    Bytes { status: StatusCode, start: u64, end: u64 },
}

impl Reply {
    pub fn to(file: &Download, headers: &HeaderMap) -> Self {
        let etag = format!("\"{}\"", file.content_hash);
        let header_str = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
        let weak = format!("W/{etag}");
        if let Some(tags) = header_str(header::IF_NONE_MATCH)
            && tags.split(',').map(str::trim).any(|t| t == etag || t == weak || t == "*")
        {
            return Self::NotModified;
        }
        let range_header = match header_str(header::IF_RANGE) {
            Some(tag) if tag.trim() != etag => None,
            _ => header_str(header::RANGE),
        };
        match range::parse(range_header, file.size) {
            RangeRequest::Full => {
                Self::Bytes { status: StatusCode::OK, start: 0, end: file.size.saturating_sub(1) }
            }
            RangeRequest::Partial { start, end } => {
                Self::Bytes { status: StatusCode::PARTIAL_CONTENT, start, end }
            }
            RangeRequest::Unsatisfiable => Self::Unsatisfiable,
        }
    }

    /// Whether this answer sends any of the file's bytes (what a download limit counts).
    pub fn delivers_bytes(&self) -> bool {
        matches!(self, Self::Bytes { .. })
    }
}

pub(crate) async fn serve_file(file: Download, headers: &HeaderMap) -> ApiResult<Response> {
    let etag = format!("\"{}\"", file.content_hash);
    let (status, start, end) = match Reply::to(&file, headers) {
        Reply::NotModified => return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response()),
        Reply::Bytes { status, start, end } => (status, start, end),
        Reply::Unsatisfiable => {
            let range = HeaderValue::from_str(&format!("bytes */{}", file.size)).map_err(internal)?;
            return Err(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the file has {} bytes", file.size),
            )
            .with_header(header::CONTENT_RANGE, range));
        }
    };
    let length = if file.size == 0 { 0 } else { end - start + 1 };
    let mime = mime_guess::from_path(&file.node.name).first_or_octet_stream();
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, mime.as_ref())
        .header(header::CONTENT_LENGTH, length)
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CACHE_CONTROL, "private, no-cache")
        .header(header::CONTENT_DISPOSITION, disposition(&file.node.name));
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{}", file.size));
    }
    // Read and verify the first block before answering, so that an unreadable file gets a
    // clean error instead of a response cut short.
    let mut stream = Box::pin(file.stream(start, end));
    let first = stream.next().await.transpose()?;
    let rest = stream.map_err(|e| {
        tracing::error!(error = %e, "download aborted");
        std::io::Error::other(e.to_string())
    });
    let body = Body::from_stream(futures_util::stream::iter(first.map(Ok)).chain(rest));
    response.body(body).map_err(internal)
}

/// Answers with a folder as a streamed ZIP archive.
pub(crate) fn serve_zip(name: &str, zip: stratus_service::ZipStream) -> ApiResult<Response> {
    let body = Body::from_stream(zip.map_err(|e| {
        tracing::error!(error = %e, "zip aborted");
        std::io::Error::other(e.to_string())
    }));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/zip")
        .header(header::CONTENT_DISPOSITION, disposition(name))
        .header(header::CACHE_CONTROL, "private, no-cache")
        .body(body)
        .map_err(internal)
}

/// `attachment` with an ASCII fallback and the exact UTF-8 name (RFC 6266).
pub(crate) fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, NON_ALPHANUMERIC)
    )
}

fn internal(err: impl std::fmt::Display) -> ApiError {
    ApiError::from(stratus_service::ServiceError::Internal(err.to_string()))
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    /// Newest first; the first is the current content.
    items: Vec<stratus_core::Version>,
}

/// A file's stored versions.
#[utoipa::path(get, path = "/nodes/{id}/versions", tag = "files", params(("id" = NodeId, Path)),
    responses((status = 200, body = VersionList), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn list_versions(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(id): Path<NodeId>,
) -> ApiResult<Json<VersionList>> {
    Ok(Json(VersionList { items: s.versions(c.as_ref(), id).await? }))
}

/// Download one version of a file (Range and ETag as for the current content).
#[utoipa::path(get, path = "/nodes/{id}/versions/{vid}/content", tag = "files",
    params(("id" = NodeId, Path), ("vid" = VersionId, Path)),
    responses((status = 200, description = "the bytes"), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn version_content(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path((id, vid)): Path<(NodeId, VersionId)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_file(s.version_download(c.as_ref(), id, vid).await?, &headers).await
}

/// Make an older version current again (it becomes the newest; the history is kept).
#[utoipa::path(post, path = "/nodes/{id}/versions/{vid}/restore", tag = "files",
    params(("id" = NodeId, Path), ("vid" = VersionId, Path)),
    responses((status = 200, body = Node), (status = 404, body = Problem), (status = 413, body = Problem)),
    security(("bearer" = [])))]
async fn restore_version(
    State(s): State<Stratus>,
    crate::extract::Auth(c): crate::extract::Auth,
    Path((id, vid)): Path<(NodeId, VersionId)>,
) -> ApiResult<Json<Node>> {
    Ok(Json(s.restore_version(&c, id, vid).await?))
}

/// Download a folder as a streamed ZIP archive (ZIP64 when needed; bounded memory).
#[utoipa::path(get, path = "/nodes/{id}/zip", tag = "files", params(("id" = NodeId, Path)),
    responses((status = 200, content_type = "application/zip"), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn zip_folder(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(id): Path<NodeId>,
) -> ApiResult<Response> {
    let (name, zip) = s.zip(c.as_ref(), id).await?;
    serve_zip(&name, zip)
}

#[derive(Deserialize, IntoParams)]
pub struct ZipItems {
    /// The ids of the files and folders to put in the archive, comma-separated (1 to 1,000).
    items: String,
}

/// Download several files and folders (a selection) as one ZIP archive, streamed.
#[utoipa::path(get, path = "/zip", tag = "files", params(ZipItems),
    responses((status = 200, content_type = "application/zip"), (status = 400, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn zip_selection(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Query(q): Query<ZipItems>,
) -> ApiResult<Response> {
    let items = q
        .items
        .split(',')
        .filter(|id| !id.trim().is_empty())
        .map(|id| id.trim().parse::<NodeId>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_items", "items are node ids, comma-separated")
        })?;
    let (name, zip) = s.zip_items(c.as_ref(), &items).await?;
    serve_zip(&name, zip)
}
