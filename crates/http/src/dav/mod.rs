//! WebDAV (RFC 4918, classes 1 and 2) under `/dav/`: the authenticated user's drive. The
//! protocol is written here; every decision about names, quota, authorisation, the trash and
//! versions is the service's, exactly as for the REST API. Dead properties and locks live in
//! the database.

mod locks;
mod ops;
mod props;
pub(crate) mod xml;

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
use stratus_service::{Caller, Conditions, DeclaredSha1, ServiceError, Stratus};

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

/// The path of a `Destination` or tagged `If` URI, absolute (`http://host/p`) or a path alone,
/// without its query or fragment.
pub(crate) fn uri_path(uri: &str) -> &str {
    let path = match uri.find("://") {
        Some(i) => uri[i + 3..].find('/').map_or("/", |j| &uri[i + 3 + j..]),
        None => uri,
    };
    path.split(['?', '#']).next().unwrap_or("")
}

/// One path segment as an href writes it (percent-encoded).
pub(crate) fn href_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Where a drive is mounted in the URL space: `/dav` (Stratus's own), `/remote.php/webdav` and
/// `/remote.php/dav/files/{user}` (where Nextcloud and ownCloud clients look for it).
pub type Base = std::sync::Arc<str>;

/// The base `raw` is under, and the user a `/remote.php/dav/files/{user}` path names.
pub fn base_of(raw: &str) -> Option<(Base, Option<String>)> {
    let under = |prefix: &str| raw.strip_prefix(prefix).is_some_and(|r| r.is_empty() || r.starts_with('/'));
    if under("/dav") {
        return Some((Base::from("/dav"), None));
    }
    if under("/remote.php/webdav") {
        return Some((Base::from("/remote.php/webdav"), None));
    }
    let rest = raw.strip_prefix("/remote.php/dav/files/")?;
    let user = rest.split('/').next().filter(|u| !u.is_empty())?;
    let name = percent_decode_str(user).decode_utf8().ok()?.into_owned();
    Some((Base::from(format!("/remote.php/dav/files/{user}")), Some(name)))
}

/// A path of the caller's drive, as decoded segments, under the base it was reached by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavPath {
    pub base: Base,
    pub segments: Vec<String>,
}

impl DavPath {
    /// From a request path such as `/dav/a%20b/c/`. `..`, `.` and encoded slashes are refused,
    /// so no path escapes the drive.
    pub fn from_request(raw: &str, base: &Base) -> Result<Self, DavError> {
        // A fragment never belongs in a request target.
        if raw.contains('#') {
            return Err(DavError::status(StatusCode::BAD_REQUEST));
        }
        let rest = raw.strip_prefix(&**base).ok_or_else(|| DavError::status(StatusCode::NOT_FOUND))?;
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
        Ok(Self { base: base.clone(), segments })
    }

    /// From a `Destination` or tagged `If` URI: absolute (`http://host/dav/…`) or a path.
    pub fn from_uri(uri: &str, base: &Base) -> Result<Self, DavError> {
        Self::from_request(uri_path(uri), base)
    }

    /// From a stored path (`/a/b`), whose segments are not encoded.
    pub fn from_text(text: &str, base: &Base) -> Self {
        let segments = text.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        Self { base: base.clone(), segments }
    }

    /// The path as locks store it: `/a/b`, `/` for the drive.
    pub fn text(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }

    pub fn parent(&self) -> Option<Self> {
        let (_, rest) = self.segments.split_last()?;
        Some(Self { base: self.base.clone(), segments: rest.to_vec() })
    }

    pub fn join(&self, name: &str) -> Self {
        let mut segments = self.segments.clone();
        segments.push(name.to_string());
        Self { base: self.base.clone(), segments }
    }

    /// The URL of the resource, a folder's with a trailing slash.
    pub fn href(&self, folder: bool) -> String {
        let mut out = format!("{}/", self.base);
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

/// A file's ETag is its content hash; a folder's changes whenever anything below it changes
/// (its tree tag, kept by the database's triggers).
pub fn etag_of(node: &Node) -> String {
    match &node.content_hash {
        Some(hash) if !node.is_folder() => format!("\"{hash}\""),
        _ => format!("\"{}-{}\"", node.id.as_uuid().simple(), node.tree_tag),
    }
}

/// The file time a Nextcloud or ownCloud client sends with an upload (`X-OC-Mtime`, seconds
/// since the epoch), kept as the node's modification time and acknowledged as they expect.
pub(crate) async fn keep_client_mtime(
    s: &Stratus,
    caller: &Caller,
    headers: &HeaderMap,
    node: Node,
    response: &mut Response,
) -> Result<Node, DavError> {
    let Some(value) = headers.get("x-oc-mtime").and_then(|v| v.to_str().ok()) else {
        return Ok(node);
    };
    // A time the clients themselves refuse (not after the epoch, or past year 9999) is ignored.
    let Some(at) = value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs > 0.0 && *secs < 253_402_300_800.0)
        .and_then(|secs| chrono::DateTime::from_timestamp_millis((secs * 1000.0).round() as i64))
    else {
        return Ok(node);
    };
    let node = s.set_modified(caller, node.id, at).await?;
    response.headers_mut().insert("x-oc-mtime", HeaderValue::from_static("accepted"));
    Ok(node)
}

/// What a client learns of a file it wrote: its ETag, and its id as ownCloud clients read it.
pub(crate) fn describe_written(node: &Node, response: &mut Response) {
    if let Ok(value) = HeaderValue::from_str(&etag_of(node)) {
        response.headers_mut().insert(header::ETAG, value.clone());
        response.headers_mut().insert("oc-etag", value);
    }
    if let Ok(value) = HeaderValue::from_str(&node.id.as_uuid().simple().to_string()) {
        response.headers_mut().insert("oc-fileid", value);
    }
    if let Some(value) = checksum_of(node).and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert("oc-checksum", value);
    }
}

/// What a client asks of an upload over `current` besides its bytes: the SHA-1 it declares,
/// and, when it named the ETag it read (`If-Match`, or the `If` of a chunked MOVE), that the
/// file still holds that content when the upload commits.
pub(crate) fn upload_conditions(headers: &HeaderMap, current: Option<&Node>) -> Result<Conditions, DavError> {
    let named = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "*")
        || headers.get("if").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains('['));
    let over = current.filter(|_| named).and_then(|node| node.content_hash.clone());
    Ok(Conditions { sha1: declared_sha1(headers)?, over })
}

/// The whole file's SHA-1 its client declares with an upload (`OC-Checksum: SHA1:<hex>`, as
/// Nextcloud's clients send it); another algorithm is not checked, a malformed SHA-1 is a 400.
fn declared_sha1(headers: &HeaderMap) -> Result<Option<DeclaredSha1>, DavError> {
    let Some(value) = headers.get("oc-checksum") else { return Ok(None) };
    let value = value.to_str().map_err(|_| DavError::status(StatusCode::BAD_REQUEST))?;
    let sha1 = value
        .split_whitespace()
        .filter_map(|t| t.split_once(':'))
        .find(|(algorithm, _)| algorithm.eq_ignore_ascii_case("sha1"));
    Ok(sha1.map(|(_, hex)| DeclaredSha1::parse(hex)).transpose()?)
}

/// What a client can check a download against: `SHA1:<hex>`, when it is known.
pub(crate) fn checksum_of(node: &Node) -> Option<String> {
    node.sha1.as_ref().filter(|_| !node.is_folder()).map(|hex| format!("SHA1:{hex}"))
}

/// An ETag without its quotes or weak marker, to compare as clients send them back.
fn bare(etag: &str) -> &str {
    let etag = etag.trim();
    etag.strip_prefix("W/").unwrap_or(etag).trim_matches('"')
}

/// `If-Match` (RFC 9110 §13.1.1) against the resource's current state (`None`: nothing there):
/// a client that read an ETag writes only over what it read.
pub(crate) fn if_match_holds(headers: &HeaderMap, current: Option<&Node>) -> bool {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else { return true };
    let Some(node) = current else { return false };
    wanted.trim() == "*" || wanted.split(',').any(|w| bare(w) == bare(&etag_of(node)))
}

/// The ETags of an `If` header's lists (`(["…"])`), as Nextcloud's clients send them with the
/// MOVE of a chunked upload: the destination must still be what they read.
pub(crate) fn if_etags_hold(headers: &HeaderMap, current: Option<&Node>) -> bool {
    let Some(value) = headers.get("if").and_then(|v| v.to_str().ok()) else { return true };
    let wanted: Vec<&str> =
        value.split('[').skip(1).filter_map(|rest| rest.split_once(']').map(|(e, _)| e)).collect();
    if wanted.is_empty() {
        return true;
    }
    current.is_some_and(|node| wanted.iter().any(|w| bare(w) == bare(&etag_of(node))))
}

/// An authenticated request, parsed.
pub struct Req {
    pub caller: Caller,
    pub path: DavPath,
    pub headers: HeaderMap,
    pub if_header: locks::IfHeader,
}

pub(crate) async fn handle(State(s): State<Stratus>, request: Request) -> Response {
    match dispatch(&s, request).await {
        Ok(response) => response,
        Err(err) => dav_error(err),
    }
}

pub(crate) async fn authenticate(
    s: &Stratus,
    parts: &axum::http::request::Parts,
) -> Result<Caller, DavError> {
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
    let (base, named) = base_of(parts.uri.path()).ok_or_else(|| DavError::status(StatusCode::NOT_FOUND))?;
    // `/remote.php/dav/files/{user}` is the caller's own drive only.
    if named.is_some_and(|name| !name.eq_ignore_ascii_case(caller.username())) {
        return Err(DavError::status(StatusCode::NOT_FOUND));
    }
    let path = DavPath::from_request(parts.uri.path(), &base)?;
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
