//! WebDAV (RFC 4918, classes 1 and 2) under `/dav/`: the authenticated user's drive. The
//! protocol is written here; every decision about names, quota, authorisation, the trash and
//! versions is the service's, exactly as for the REST API. Dead properties and locks live in
//! the database.

mod locks;
mod ops;
mod props;
mod xml;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use stratus_core::Node;
use stratus_service::{Caller, ServiceError, Stratus};

use crate::error::ApiError;

pub fn routes() -> Router<Stratus> {
    Router::new().route("/dav", any(handle)).route("/dav/", any(handle)).route("/dav/{*path}", any(handle))
}

/// A failed WebDAV request: a status, and a body when the RFC names a precondition.
#[derive(Debug)]
pub enum DavError {
    Status(StatusCode, Option<String>),
    Api(ApiError),
}

impl DavError {
    pub fn status(status: StatusCode) -> Self {
        Self::Status(status, None)
    }

    pub fn with_body(status: StatusCode, xml: String) -> Self {
        Self::Status(status, Some(xml))
    }
}

impl From<ServiceError> for DavError {
    fn from(err: ServiceError) -> Self {
        match err {
            // RFC 4331: a request the quota cannot hold is 507.
            ServiceError::QuotaExceeded => {
                Self::Api(ApiError::from(err).with_status(StatusCode::INSUFFICIENT_STORAGE))
            }
            other => Self::Api(ApiError::from(other)),
        }
    }
}

pub(crate) fn dav_error(err: DavError) -> Response {
    match err {
        DavError::Status(status, None) => status.into_response(),
        DavError::Status(status, Some(body)) => {
            (status, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
        }
        DavError::Api(api) => api.into_response(),
    }
}

/// Bytes of a non-PUT request body read at most.
const MAX_XML_BODY: usize = 1 << 20;

/// What percent-encoding leaves alone in an href segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'\\')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'|');

/// A path of the caller's drive, as decoded segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavPath {
    pub segments: Vec<String>,
}

impl DavPath {
    /// From a request path such as `/dav/a%20b/c/`. `..`, `.` and encoded slashes are refused,
    /// so no path escapes the drive.
    pub fn from_request(raw: &str) -> Result<Self, DavError> {
        // A fragment never belongs in a request target.
        if raw.contains('#') {
            return Err(DavError::status(StatusCode::BAD_REQUEST));
        }
        let rest = raw.strip_prefix("/dav").ok_or_else(|| DavError::status(StatusCode::NOT_FOUND))?;
        if !rest.is_empty() && !rest.starts_with('/') {
            return Err(DavError::status(StatusCode::NOT_FOUND));
        }
        let mut segments = Vec::new();
        for raw in rest.split('/').filter(|s| !s.is_empty()) {
            let decoded = percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| DavError::status(StatusCode::BAD_REQUEST))?;
            if decoded == "." || decoded == ".." || decoded.contains('/') || decoded.contains('\0') {
                return Err(DavError::status(StatusCode::BAD_REQUEST));
            }
            segments.push(decoded.into_owned());
        }
        Ok(Self { segments })
    }

    /// From a `Destination` or tagged `If` URI: absolute (`http://host/dav/…`) or a path.
    pub fn from_uri(uri: &str) -> Result<Self, DavError> {
        let path = match uri.find("://") {
            Some(i) => uri[i + 3..].find('/').map_or("/", |j| &uri[i + 3 + j..]),
            None => uri,
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        Self::from_request(path)
    }

    /// From a stored path (`/a/b`), whose segments are not encoded.
    pub fn from_text(text: &str) -> Self {
        Self { segments: text.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect() }
    }

    /// The path as locks store it: `/a/b`, `/` for the drive.
    pub fn text(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }

    pub fn parent(&self) -> Option<Self> {
        let (_, rest) = self.segments.split_last()?;
        Some(Self { segments: rest.to_vec() })
    }

    pub fn join(&self, name: &str) -> Self {
        let mut segments = self.segments.clone();
        segments.push(name.to_string());
        Self { segments }
    }

    /// The URL of the resource, a folder's with a trailing slash.
    pub fn href(&self, folder: bool) -> String {
        let mut out = String::from("/dav/");
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.extend(utf8_percent_encode(s, SEGMENT));
        }
        if folder && !self.segments.is_empty() {
            out.push('/');
        }
        out
    }
}

/// A file's ETag is its content hash; a folder's changes with its modification time.
pub fn etag_of(node: &Node) -> String {
    match &node.content_hash {
        Some(hash) if !node.is_folder() => format!("\"{hash}\""),
        _ => format!("W/\"{}\"", node.modified_at.timestamp_millis()),
    }
}

/// An authenticated request, parsed.
pub struct Req {
    pub caller: Caller,
    pub path: DavPath,
    pub headers: HeaderMap,
    pub if_header: locks::IfHeader,
}

async fn handle(State(s): State<Stratus>, request: Request) -> Response {
    match dispatch(&s, request).await {
        Ok(response) => response,
        Err(err) => dav_error(err),
    }
}

async fn authenticate(s: &Stratus, parts: &axum::http::request::Parts) -> Result<Caller, DavError> {
    let headers = &parts.headers;
    use base64::Engine;
    let challenge = || {
        DavError::Api(ApiError::from(ServiceError::Unauthenticated).with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Stratus\", charset=\"UTF-8\""),
        ))
    };
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(challenge)?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return s.authenticate_token(token.trim()).await.map_err(|_| challenge());
    }
    let encoded = value.strip_prefix("Basic ").ok_or_else(challenge)?;
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| challenge())?;
    let text = String::from_utf8(decoded).map_err(|_| challenge())?;
    let (user, password) = text.split_once(':').ok_or_else(challenge)?;
    let ip = crate::extract::client_ip(parts, s);
    match s.authenticate_basic_cached(user, password, ip).await {
        Ok(caller) => Ok(caller.with_ip(ip)),
        // Throttled or busy: say so (429/503 with Retry-After), not "wrong password".
        Err(err @ (ServiceError::RateLimited { .. } | ServiceError::Unavailable { .. })) => {
            Err(DavError::Api(err.into()))
        }
        Err(_) => Err(challenge()),
    }
}

async fn dispatch(s: &Stratus, request: Request) -> Result<Response, DavError> {
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    if method == Method::OPTIONS {
        return Ok(options());
    }
    let caller = authenticate(s, &parts).await?;
    let path = DavPath::from_request(parts.uri.path())?;
    let if_header = locks::IfHeader::parse(&parts.headers)?;
    let lock_tokens = if_header.tokens().into_iter().map(str::to_string).collect();
    let caller = caller.with_lock_tokens(lock_tokens);
    let req = Req { caller, path, headers: parts.headers, if_header };
    match method.as_str() {
        "GET" | "HEAD" => ops::get(s, &req).await,
        "PUT" => ops::put(s, &req, body).await,
        other => {
            let bytes = axum::body::to_bytes(body, MAX_XML_BODY)
                .await
                .map_err(|_| DavError::status(StatusCode::PAYLOAD_TOO_LARGE))?;
            match other {
                "PROPFIND" => props::propfind(s, &req, &bytes).await,
                "PROPPATCH" => props::proppatch(s, &req, &bytes).await,
                "MKCOL" => ops::mkcol(s, &req, &bytes).await,
                "DELETE" => ops::delete(s, &req).await,
                "COPY" => ops::copy_or_move(s, &req, false).await,
                "MOVE" => ops::copy_or_move(s, &req, true).await,
                "LOCK" => locks::lock(s, &req, &bytes).await,
                "UNLOCK" => locks::unlock(s, &req).await,
                _ => Err(DavError::status(StatusCode::METHOD_NOT_ALLOWED)),
            }
        }
    }
}

const ALLOW: &str = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK";

fn options() -> Response {
    (
        StatusCode::OK,
        [
            ("dav", "1, 2"),
            ("allow", ALLOW),
            ("ms-author-via", "DAV"),
            ("accept-ranges", "bytes"),
            ("content-length", "0"),
        ],
    )
        .into_response()
}

/// A 207 Multi-Status response.
pub fn multistatus(body: String) -> Response {
    multistatus_stream(Body::from(body))
}

pub fn multistatus_stream(body: Body) -> Response {
    (StatusCode::MULTI_STATUS, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], body)
        .into_response()
}
