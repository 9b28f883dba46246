//! The doors Nextcloud and ownCloud clients knock on (desktop, mobile, `nextcloudcmd`):
//! `status.php`, the OCS endpoints they read (capabilities, the user, app passwords), the
//! user's drive over WebDAV at `/remote.php/dav/files/{user}/` and `/remote.php/webdav/`
//! (Stratus's own WebDAV under another base), and chunked uploads at
//! `/remote.php/dav/uploads/{user}/`, the trash at `/remote.php/dav/trashbin/{user}/` and older
//! versions at `/remote.php/dav/versions/{user}/`. No rule lives here: every decision is the
//! service's.

mod chunks;
mod trashbin;
mod versions;

use axum::{
    Router,
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, delete, get, post},
};
use serde_json::{Value, json};
use stratus_service::{Caller, Stratus};

use crate::dav::{self, DavError, dav_error};

/// The Nextcloud version Stratus answers as: the protocol its clients expect of it.
const VERSION: (u32, u32, u32) = (30, 0, 0);

pub fn routes() -> Router<Stratus> {
    let dav = any(dav::handle);
    Router::new()
        .route("/status.php", get(status))
        .route("/ocs/v1.php/cloud/capabilities", get(|s, r| capabilities(s, r, false)))
        .route("/ocs/v2.php/cloud/capabilities", get(|s, r| capabilities(s, r, true)))
        .route("/ocs/v1.php/cloud/user", get(|s, r| user(s, r, false)))
        .route("/ocs/v2.php/cloud/user", get(|s, r| user(s, r, true)))
        .route("/ocs/v2.php/core/getapppassword", get(app_password))
        .route("/ocs/v2.php/core/apppassword", delete(drop_app_password))
        .route("/index.php/login/v2", post(start_login_flow))
        .route("/index.php/login/v2/poll", post(poll_login_flow))
        .route("/index.php/login/v2/flow/{token}", get(|| async { crate::web::shell(StatusCode::OK) }))
        .route("/remote.php/webdav", dav.clone())
        .route("/remote.php/webdav/", dav.clone())
        .route("/remote.php/webdav/{*path}", dav.clone())
        .route("/remote.php/dav/files/{user}", dav.clone())
        .route("/remote.php/dav/files/{user}/", dav.clone())
        .route("/remote.php/dav/files/{user}/{*path}", dav)
        .route("/remote.php/dav/uploads/{user}/{*path}", any(chunks::handle))
        .route("/remote.php/dav/trashbin/{user}", any(trashbin::handle))
        .route("/remote.php/dav/trashbin/{user}/", any(trashbin::handle))
        .route("/remote.php/dav/trashbin/{user}/{*path}", any(trashbin::handle))
        .route("/remote.php/dav/versions/{user}", any(versions::handle))
        .route("/remote.php/dav/versions/{user}/", any(versions::handle))
        .route("/remote.php/dav/versions/{user}/{*path}", any(versions::handle))
}

/// What a client asks first: is there a server here, and which.
async fn status() -> Response {
    let (major, minor, micro) = VERSION;
    axum::Json(json!({
        "installed": true,
        "maintenance": false,
        "needsDbUpgrade": false,
        "version": format!("{major}.{minor}.{micro}.0"),
        "versionstring": format!("{major}.{minor}.{micro}"),
        "edition": "",
        "productname": "Stratus",
        "extendedSupport": false,
    }))
    .into_response()
}

/// An OCS answer: the envelope both API versions share (v1 says 100 where v2 says 200).
fn ocs(v2: bool, status: StatusCode, data: Value) -> Response {
    let ok = status.is_success();
    let code = match (ok, v2) {
        (true, true) => 200,
        (true, false) => 100,
        (false, _) => status.as_u16(),
    };
    let message = if ok { "OK" } else { status.canonical_reason().unwrap_or("") };
    let body = json!({ "ocs": { "meta": {
        "status": if ok { "ok" } else { "failure" }, "statuscode": code, "message": message,
    }, "data": data } });
    // OCS v1 answers failures with 200 and the code in the envelope; v2 with the status.
    let status = if v2 { status } else { StatusCode::OK };
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response()
}

async fn caller(s: &Stratus, request: Request) -> Result<Caller, Response> {
    let (parts, _) = request.into_parts();
    dav::authenticate(s, &parts).await.map_err(dav_error)
}

async fn capabilities(State(s): State<Stratus>, request: Request, v2: bool) -> Response {
    if let Err(denied) = caller(&s, request).await {
        return denied;
    }
    let (major, minor, micro) = VERSION;
    ocs(
        v2,
        StatusCode::OK,
        json!({
            "version": { "major": major, "minor": minor, "micro": micro,
                "string": format!("{major}.{minor}.{micro}"), "edition": "", "extendedSupport": false },
            "capabilities": {
                "core": { "pollinterval": 60, "webdav-root": "remote.php/webdav" },
                "dav": { "chunking": "1.0" },
                // Uploads declaring a SHA-1 are checked against it, and downloads carry it.
                "checksums": { "supportedTypes": ["SHA1"], "preferredUploadType": "SHA1" },
                "files": { "bigfilechunking": true, "undelete": true, "versioning": true,
                    "blacklisted_files": [".htaccess"] },
                // A conflict copy is uploaded too, so both versions reach every device.
                "uploadConflictFiles": true,
            },
        }),
    )
}

async fn user(State(s): State<Stratus>, request: Request, v2: bool) -> Response {
    let caller = match caller(&s, request).await {
        Ok(caller) => caller,
        Err(denied) => return denied,
    };
    let me = match s.me(&caller).await {
        Ok(me) => me,
        Err(err) => return dav_error(DavError::from(err)),
    };
    let (used, total) = (me.quota.used, me.quota.limit);
    let relative = if total > 0 { (used as f64 * 10_000.0 / total as f64).round() / 100.0 } else { 0.0 };
    ocs(
        v2,
        StatusCode::OK,
        json!({
            "id": me.username,
            "enabled": !me.disabled,
            "display-name": me.display_name.as_deref().unwrap_or(&me.username),
            "displayname": me.display_name.as_deref().unwrap_or(&me.username),
            "email": me.email,
            "quota": { "free": total.saturating_sub(used), "used": used, "total": total,
                "relative": relative, "quota": total },
        }),
    )
}

/// Trades the login password for an app password (what the desktop client keeps instead).
async fn app_password(State(s): State<Stratus>, request: Request) -> Response {
    let caller = match caller(&s, request).await {
        Ok(caller) => caller,
        Err(denied) => return denied,
    };
    if caller.token().is_some() {
        return ocs(true, StatusCode::FORBIDDEN, json!([]));
    }
    match s.create_app_token(&caller, "Nextcloud client").await {
        Ok(token) => ocs(true, StatusCode::OK, json!({ "apppassword": token.secret })),
        Err(err) => dav_error(DavError::from(err)),
    }
}

/// Revokes the app password the request signed in with (the client's "log out").
async fn drop_app_password(State(s): State<Stratus>, request: Request) -> Response {
    let caller = match caller(&s, request).await {
        Ok(caller) => caller,
        Err(denied) => return denied,
    };
    let Some(token) = caller.token() else { return ocs(true, StatusCode::FORBIDDEN, json!([])) };
    match s.revoke_app_token(&caller, token).await {
        Ok(()) => ocs(true, StatusCode::OK, json!([])),
        Err(err) => dav_error(DavError::from(err)),
    }
}

/// Login Flow v2, step one: the app gets a URL to open in a browser and a token to poll with.
async fn start_login_flow(State(s): State<Stratus>, headers: axum::http::HeaderMap) -> Response {
    let client = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    match s.start_login_flow(client).await {
        Ok(flow) => {
            let base = s.public_url();
            axum::Json(json!({
                "poll": { "token": flow.poll, "endpoint": format!("{base}/index.php/login/v2/poll") },
                "login": format!("{base}/index.php/login/v2/flow/{}", flow.login),
            }))
            .into_response()
        }
        Err(err) => dav_error(DavError::from(err)),
    }
}

#[derive(serde::Deserialize)]
struct Poll {
    token: String,
}

/// Login Flow v2, the app's poll: 404 until the user grants access, then (once) the app
/// password.
async fn poll_login_flow(
    State(s): State<Stratus>,
    form: Result<axum::Form<Poll>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(poll)) = form else {
        return crate::error::ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_poll",
            "the poll needs its token",
        )
        .into_response();
    };
    match s.poll_login_flow(&poll.token).await {
        Ok(Some(granted)) => axum::Json(json!({
            "server": s.public_url(),
            "loginName": granted.username,
            "appPassword": granted.app_password,
        }))
        .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, axum::Json(json!([]))).into_response(),
        Err(err) => dav_error(DavError::from(err)),
    }
}

/// A request to one of the caller's own collections under `/remote.php/dav/{kind}/{user}/`
/// (uploads, trashbin, versions); anyone else's is not found.
struct Own {
    caller: Caller,
    /// The decoded segments after the user's name.
    rest: Vec<String>,
    /// `/remote.php/dav/{kind}/{user}`, as an href writes it.
    base: String,
}

async fn own_collection(
    s: &Stratus,
    parts: &axum::http::request::Parts,
    kind: &str,
) -> Result<Own, DavError> {
    let caller = dav::authenticate(s, parts).await?;
    let mut segments = segments_under(parts.uri.path(), &format!("/remote.php/dav/{kind}/"))?;
    if !segments.first().is_some_and(|user| user.eq_ignore_ascii_case(caller.username())) {
        return Err(DavError::status(StatusCode::NOT_FOUND));
    }
    let user = segments.remove(0);
    let base = format!("/remote.php/dav/{kind}/{}", dav::href_segment(&user));
    Ok(Own { caller, rest: segments, base })
}

/// Whether a MOVE's `Destination` is the `restore/` folder of the caller's own `kind`
/// collection, where the apps move what they restore (403 otherwise).
fn into_restore(headers: &axum::http::HeaderMap, own: &Own, kind: &str) -> Result<(), DavError> {
    let destination = headers.get("destination").and_then(|v| v.to_str().ok()).unwrap_or("");
    let target = segments_under(dav::uri_path(destination), &format!("/remote.php/dav/{kind}/"))
        .map_err(|_| DavError::status(StatusCode::BAD_REQUEST))?;
    if target.first().is_none_or(|u| !u.eq_ignore_ascii_case(own.caller.username()))
        || target.get(1).map(String::as_str) != Some("restore")
    {
        return Err(DavError::status(StatusCode::FORBIDDEN));
    }
    Ok(())
}

/// Depth 1 unless the client says 0 (these collections are never deeper).
fn depth1(headers: &axum::http::HeaderMap) -> bool {
    headers.get("depth").and_then(|v| v.to_str().ok()) != Some("0")
}

/// A `<D:response>` for a collection with nothing to say but that it is one.
fn collection(href: &str) -> String {
    let props = "<D:resourcetype><D:collection/></D:resourcetype>";
    format!(
        "<D:response><D:href>{}</D:href>{}</D:response>",
        dav::xml::escape(href),
        dav::xml::propstat(props, 200)
    )
}

/// The answer to a request these collections dispatched.
fn answer(result: Result<Response, DavError>) -> Response {
    result.unwrap_or_else(dav_error)
}

/// The percent-decoded segments of `path` after `prefix` (404 when it is not under it), the
/// first naming whose collection it is.
fn segments_under(path: &str, prefix: &str) -> Result<Vec<String>, DavError> {
    let rest = path.strip_prefix(prefix).ok_or_else(|| DavError::status(StatusCode::NOT_FOUND))?;
    rest.split('/')
        .filter(|s| !s.is_empty())
        .map(|raw| {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| DavError::status(StatusCode::BAD_REQUEST))
        })
        .collect()
}
