//! What the server makes of a file's content to show it. `GET /api/v1/nodes/{id}/thumbnail`: a
//! picture's thumbnail, whose URL may name the content it shows (`v`, the file's
//! `content_hash`): then it is cached for good, since new content means a new URL.
//! `GET /api/v1/nodes/{id}/markdown`: a Markdown file as a tree of elements from a short list,
//! without raw HTML or unsafe links, which the web app builds with DOM calls.

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
    /// The document: each item a string (text) or an element `{t, href?, title?, start?, c?}`
    /// whose tag `t` is one of p, h1–h6, blockquote, pre, code, ul, ol, li, em, strong, del, a,
    /// table, thead, tr, th, td, hr, br, and `c` what it holds (raw HTML in the file is text).
    #[schema(value_type = Vec<Object>)]
    blocks: Vec<stratus_service::Block>,
    /// Whether some of the file was left out (past its first MiB, or past 4 MiB rendered).
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
    Ok(Json(RenderedMarkdown { blocks: rendered.blocks, truncated: rendered.truncated }))
}
