//! `/remote.php/dav/uploads/{user}/{transfer}/`: chunked uploads as Nextcloud's clients send
//! them. MKCOL starts a transfer, each PUT adds a chunk (numbered in the order sent: from 0,
//! zero-padded to 16 digits, by the desktop client 3.x; from 1 by chunking v2), PROPFIND tells
//! what is stored (a client resumes after it), MOVE of `.file` to the destination puts the
//! file in place, DELETE abandons it.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::TryStreamExt;
use stratus_service::{Caller, ChunkTarget, DavTarget, Stratus};

use crate::dav::{self, DavError, DavPath, xml};

pub(crate) async fn handle(State(s): State<Stratus>, request: Request) -> Response {
    super::answer(dispatch(&s, request).await)
}

fn status(code: StatusCode) -> DavError {
    DavError::status(code)
}

async fn dispatch(s: &Stratus, request: Request) -> Result<Response, DavError> {
    let (parts, body) = request.into_parts();
    let super::Own { caller, rest: segments, .. } = super::own_collection(s, &parts, "uploads").await?;
    let transfer = segments.first().cloned();
    let chunk = segments.get(1).cloned();
    if segments.len() > 2 {
        return Err(status(StatusCode::NOT_FOUND));
    }
    let method = parts.method.as_str();
    match (method, transfer, chunk) {
        ("MKCOL", Some(transfer), None) => {
            s.chunks_begin(&caller, &transfer).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        ("PROPFIND", Some(transfer), None) => {
            let received = s.chunks_received(&caller, &transfer).await?;
            Ok(listing(parts.uri.path(), &parts.headers, received))
        }
        ("PUT", Some(transfer), Some(chunk)) => {
            let offset = chunk_offset(&parts.headers, &chunk)?;
            let stream = body.into_data_stream().map_err(std::io::Error::other);
            s.chunks_put(&caller, &transfer, offset, stream).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        ("MOVE", Some(transfer), Some(chunk)) if chunk == ".file" => {
            assemble(s, &caller, &parts.headers, &transfer).await
        }
        ("DELETE", Some(transfer), None) => {
            s.chunks_abort(&caller, &transfer).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(status(StatusCode::METHOD_NOT_ALLOWED)),
    }
}

/// Where a chunk starts, when the client says: its `OC-Chunk-Offset` header (the desktop
/// client sends one), or a name `start-end` (Nextcloud's documented form). A chunk only
/// numbered (`0000000000000003`, chunking v2's `3`) follows what is there. A chunk that does
/// not start where the transfer is is refused (409), never appended in the wrong place.
fn chunk_offset(headers: &HeaderMap, name: &str) -> Result<Option<u64>, DavError> {
    let bad = || status(StatusCode::BAD_REQUEST);
    if let Some(value) = headers.get("oc-chunk-offset") {
        return value.to_str().ok().and_then(|v| v.trim().parse().ok()).map(Some).ok_or_else(bad);
    }
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    match name.split_once('-') {
        Some((start, end)) if digits(start) && digits(end) => start.parse().map(Some).map_err(|_| bad()),
        None if digits(name) => Ok(None),
        _ => Err(bad()),
    }
}

/// The transfer as a folder: what it holds is one chunk from offset 0, whatever the chunks
/// it arrived in, which is all a resuming client needs to continue after it.
fn listing(path: &str, headers: &HeaderMap, received: u64) -> Response {
    let folder = format!("{}/", path.trim_end_matches('/'));
    let collection = "<D:resourcetype><D:collection/></D:resourcetype>";
    let mut out = format!(
        "<D:response><D:href>{}</D:href>{}</D:response>",
        xml::escape(&folder),
        xml::propstat(collection, 200)
    );
    let depth1 = headers.get("depth").and_then(|v| v.to_str().ok()) != Some("0");
    if depth1 && received > 0 {
        let props = format!("<D:resourcetype/><D:getcontentlength>{received}</D:getcontentlength>");
        out.push_str(&format!(
            "<D:response><D:href>{}{:016}</D:href>{}</D:response>",
            xml::escape(&folder),
            0,
            xml::propstat(&props, 200)
        ));
    }
    dav::multistatus(xml::multistatus(&out))
}

/// MOVE of `.file`: the destination is a path of the caller's drive under either WebDAV base.
async fn assemble(
    s: &Stratus,
    caller: &Caller,
    headers: &HeaderMap,
    transfer: &str,
) -> Result<Response, DavError> {
    let destination = headers
        .get("destination")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| status(StatusCode::BAD_REQUEST))?;
    let (base, named) =
        dav::base_of(dav::uri_path(destination)).ok_or_else(|| status(StatusCode::BAD_GATEWAY))?;
    if named.is_some_and(|name| !name.eq_ignore_ascii_case(caller.username())) {
        return Err(status(StatusCode::FORBIDDEN));
    }
    let dest = DavPath::from_uri(destination, &base)?;
    let resolved = s.dav_resolve(caller, &dest.segments).await?;
    let current = match &resolved {
        DavTarget::Found(node) => Some(node),
        _ => None,
    };
    // The destination must still be what the client read, or it makes a conflict copy.
    if !dav::if_etags_hold(headers, current) || !dav::if_match_holds(headers, current) {
        return Err(status(StatusCode::PRECONDITION_FAILED));
    }
    let conditions = dav::upload_conditions(headers, current)?;
    let (target, created) = match resolved {
        DavTarget::Found(node) if !node.is_folder() => (ChunkTarget::Existing(node.id), false),
        DavTarget::Found(_) | DavTarget::SharedRoot => return Err(status(StatusCode::FORBIDDEN)),
        DavTarget::Missing { parent, name } => (ChunkTarget::Named { parent: parent.id, name }, true),
        DavTarget::NoParent => return Err(status(StatusCode::CONFLICT)),
    };
    let total = match headers.get("oc-total-length") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| status(StatusCode::BAD_REQUEST))?,
        ),
    };
    let node = s.chunks_finish(caller, transfer, target, total, conditions).await?;
    let mut response = if created { StatusCode::CREATED } else { StatusCode::NO_CONTENT }.into_response();
    let node = dav::keep_client_mtime(s, caller, headers, node, &mut response).await?;
    dav::describe_written(&node, &mut response);
    response.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(response)
}
