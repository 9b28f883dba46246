//! `/api/v1/tus/`: the tus 1.0 protocol (core, creation, creation-with-upload,
//! creation-defer-length, termination, checksum with sha1 and sha256, expiration).

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{options, post},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use stratus_core::{ConflictPolicy, NodeId, VersionId};
use stratus_service::{Stratus, TusChecksum, TusCreate, TusState};

use crate::{
    error::{ApiError, ApiResult},
    extract::{Auth, Path},
};

const VERSION: &str = "1.0.0";
const EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration";
const OFFSET_TYPE: &str = "application/offset+octet-stream";

pub fn routes() -> Router<Stratus> {
    Router::new()
        .route("/api/v1/tus", post(create).options(capabilities))
        .route("/api/v1/tus/", post(create).options(capabilities))
        .route("/api/v1/tus/{id}", options(capabilities).head(head).patch(patch).delete(terminate))
        .layer(middleware::from_fn(tus_headers))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// Every answer carries `Tus-Resumable`; a request of another protocol version gets 412.
async fn tus_headers(request: Request, next: Next) -> Response {
    let version = request.headers().get("tus-resumable").and_then(|v| v.to_str().ok());
    let mut response = if request.method() != Method::OPTIONS && version != Some(VERSION) {
        let mut r = ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "unsupported_version",
            "this server speaks tus 1.0.0",
        )
        .into_response();
        r.headers_mut().insert("tus-version", HeaderValue::from_static(VERSION));
        r
    } else {
        next.run(request).await
    };
    response.headers_mut().insert("tus-resumable", HeaderValue::from_static(VERSION));
    response
}

async fn capabilities() -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        [("tus-version", VERSION), ("tus-extension", EXTENSIONS), ("tus-checksum-algorithm", "sha1,sha256")],
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bad(code: &'static str, detail: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, detail)
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs.
fn metadata(raw: &str) -> ApiResult<Vec<(String, String)>> {
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let mut parts = pair.trim().splitn(2, ' ');
            let key = parts.next().unwrap_or_default().to_string();
            let value = match parts.next() {
                Some(v) => String::from_utf8(
                    STANDARD
                        .decode(v.trim())
                        .map_err(|_| bad("invalid_metadata", "metadata values are base64"))?,
                )
                .map_err(|_| bad("invalid_metadata", "metadata values are UTF-8"))?,
                None => String::new(),
            };
            Ok((key, value))
        })
        .collect()
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn state_headers(s: &TusState) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put("upload-offset", s.offset.to_string());
    put("upload-expires", http_date(s.expires_at));
    if let Some(node) = &s.node {
        put("stratus-node-id", node.id.to_string());
    }
    h
}

async fn create(
    State(s): State<Stratus>,
    Auth(c): Auth,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let length = match (header(&headers, "upload-length"), header(&headers, "upload-defer-length")) {
        (Some(l), _) => {
            Some(l.trim().parse::<u64>().map_err(|_| bad("invalid_length", "Upload-Length is a number"))?)
        }
        (None, Some("1")) => None,
        _ => return Err(bad("missing_length", "send Upload-Length or Upload-Defer-Length: 1")),
    };
    let meta = metadata(header(&headers, "upload-metadata").unwrap_or_default())?;
    let get = |k: &str| meta.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let filename = get("filename")
        .or_else(|| get("name"))
        .ok_or_else(|| bad("missing_filename", "Upload-Metadata needs a filename"))?;
    let parent =
        get("parent_id").map(|p| p.parse::<NodeId>()).transpose().map_err(|_| ApiError::not_found())?;
    let policy = match get("on_conflict") {
        None => ConflictPolicy::Fail,
        Some(p) => ConflictPolicy::parse(&p)
            .ok_or_else(|| bad("invalid_metadata", "on_conflict is fail, replace or keep_both"))?,
    };
    let mut state = s.tus_create(&c, TusCreate { length, filename, parent, policy }).await?;
    // creation-with-upload: the body, if any, is the first chunk.
    if header(&headers, "content-type") == Some(OFFSET_TYPE) {
        state = s
            .tus_append(
                &c,
                state.id,
                0,
                None,
                checksum(&headers)?,
                body.into_data_stream().map_err(|e| e.to_string()),
            )
            .await?;
    }
    let mut out = state_headers(&state);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/tus/{}", state.id)) {
        out.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, out).into_response())
}

async fn head(State(s): State<Stratus>, Auth(c): Auth, Path(id): Path<VersionId>) -> ApiResult<Response> {
    let state = s.tus_state(&c, id).await?;
    let mut out = state_headers(&state);
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match state.length {
        Some(l) => {
            if let Ok(v) = HeaderValue::from_str(&l.to_string()) {
                out.insert("upload-length", v);
            }
        }
        None => {
            out.insert("upload-defer-length", HeaderValue::from_static("1"));
        }
    }
    Ok((StatusCode::OK, out).into_response())
}

fn checksum(headers: &HeaderMap) -> ApiResult<Option<TusChecksum>> {
    let Some(raw) = header(headers, "upload-checksum") else {
        return Ok(None);
    };
    let (alg, value) = raw
        .trim()
        .split_once(' ')
        .ok_or_else(|| bad("invalid_checksum", "Upload-Checksum is `algorithm base64`"))?;
    let digest =
        STANDARD.decode(value.trim()).map_err(|_| bad("invalid_checksum", "the checksum is base64"))?;
    match alg {
        "sha1" => Ok(Some(TusChecksum::Sha1(digest))),
        "sha256" => Ok(Some(TusChecksum::Sha256(digest))),
        _ => Err(bad("unsupported_checksum", "the algorithms are sha1 and sha256")),
    }
}

async fn patch(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<VersionId>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if header(&headers, "content-type") != Some(OFFSET_TYPE) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/offset+octet-stream",
        ));
    }
    let offset = header(&headers, "upload-offset")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| bad("missing_offset", "send Upload-Offset"))?;
    let length = header(&headers, "upload-length")
        .map(|v| v.trim().parse::<u64>())
        .transpose()
        .map_err(|_| bad("invalid_length", "Upload-Length is a number"))?;
    let sum = checksum(&headers)?;
    let state =
        s.tus_append(&c, id, offset, length, sum, body.into_data_stream().map_err(|e| e.to_string())).await?;
    Ok((StatusCode::NO_CONTENT, state_headers(&state)).into_response())
}

async fn terminate(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<VersionId>,
) -> ApiResult<StatusCode> {
    s.tus_terminate(&c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
