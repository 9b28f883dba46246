//! What the server makes of a file's content to show it. `GET /api/v1/nodes/{id}/thumbnail`: a
//! picture's thumbnail, whose URL may name the content it shows (`v`, the file's
//! `content_hash`): then it is cached for good, since new content means a new URL.
//! `GET /api/v1/nodes/{id}/markdown`: a Markdown file as HTML without raw HTML or unsafe links,
//! in JSON (never a page of its own).

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use stratus_core::NodeId;
use stratus_service::Stratus;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{Json, MaybeAuth, Path, Query},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new().routes(routes!(thumbnail)).routes(routes!(markdown))
}

#[derive(Deserialize, IntoParams)]
pub struct ThumbnailParams {
    /// The longest side in pixels: 64 or 256 (default 64).
    size: Option<u32>,
    /// The content the caller expects (the file's `content_hash`); when it is the file's, the
    /// answer may be cached for good.
    v: Option<String>,
}

/// A thumbnail of a JPEG, PNG, GIF or WebP picture (JPEG, or PNG where it is transparent).
#[utoipa::path(get, path = "/nodes/{id}/thumbnail", tag = "files", params(("id" = NodeId, Path), ThumbnailParams),
    responses((status = 200, description = "the thumbnail"), (status = 304),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn thumbnail(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(id): Path<NodeId>,
    Query(q): Query<ThumbnailParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let size = q.size.unwrap_or(64);
    let thumb = s.thumbnail(c.as_ref(), id, size).await?;
    let etag = format!("\"{}-{size}\"", thumb.content_hash);
    let cache = if q.v.as_deref() == Some(thumb.content_hash.as_str()) {
        "private, max-age=31536000, immutable"
    } else {
        "private, no-cache"
    };
    let mut out = HeaderMap::new();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim() == etag));
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    if let Ok(value) = HeaderValue::from_str(&thumb.media_type) {
        out.insert(header::CONTENT_TYPE, value);
    }
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok((out, thumb.data).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct RenderedMarkdown {
    /// The HTML: only the tags a CommonMark renderer writes (raw HTML in the file is text).
    html: String,
    /// Whether the file is longer than the first MiB, which is what is rendered.
    truncated: bool,
}

/// A Markdown file (`.md`, `.markdown`) rendered: its first MiB as HTML.
#[utoipa::path(get, path = "/nodes/{id}/markdown", tag = "files", params(("id" = NodeId, Path)),
    responses((status = 200, body = RenderedMarkdown), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn markdown(
    State(s): State<Stratus>,
    MaybeAuth(c): MaybeAuth,
    Path(id): Path<NodeId>,
) -> ApiResult<Json<RenderedMarkdown>> {
    let rendered = s.markdown(c.as_ref(), id).await?;
    Ok(Json(RenderedMarkdown { html: rendered.html, truncated: rendered.truncated }))
}
