//! Class 1 methods on resources: GET/HEAD, PUT, MKCOL, DELETE, COPY and MOVE.

use axum::{
    body::Body,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::TryStreamExt;
use stratus_core::{ConflictPolicy, Node};
use stratus_service::{DavTarget, Stratus, UploadTarget};

use super::{DavError, DavPath, Req};
use crate::routes::content::serve_file;

fn not_found() -> DavError {
    DavError::status(StatusCode::NOT_FOUND)
}

async fn found(s: &Stratus, req: &Req, path: &DavPath) -> Result<Node, DavError> {
    match s.dav_resolve(&req.caller, &path.segments).await? {
        DavTarget::Found(node) => Ok(node),
        // The Shared folder itself cannot be changed, copied or moved.
        DavTarget::SharedRoot => Err(DavError::status(StatusCode::FORBIDDEN)),
        _ => Err(not_found()),
    }
}

pub async fn get(s: &Stratus, req: &Req) -> Result<Response, DavError> {
    let node = match s.dav_resolve(&req.caller, &req.path.segments).await? {
        DavTarget::Found(node) => Some(node),
        DavTarget::SharedRoot => None,
        _ => return Err(not_found()),
    };
    req.conditions(s).await?;
    if node.as_ref().is_none_or(Node::is_folder) {
        let children = match &node {
            Some(folder) => s.dav_children(&req.caller, folder.id).await?,
            None => s.dav_shared(&req.caller).await?,
        };
        let mut page = String::from("<!doctype html><meta charset=utf-8><title>Stratus</title><ul>");
        for child in children {
            let href = req.path.join(&child.name).href(child.is_folder());
            page.push_str(&format!("<li><a href=\"{href}\">{}</a></li>", super::xml::escape(&child.name)));
        }
        page.push_str("</ul>");
        return Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response());
    }
    let Some(node) = node else { return Err(not_found()) };
    let file = s.download(Some(&req.caller), node.id).await?;
    let modified = node.modified_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let mut response = serve_file(file, &req.headers).await.map_err(DavError::Api)?;
    if let Ok(value) = modified.parse() {
        response.headers_mut().insert(header::LAST_MODIFIED, value);
    }
    if let Some(value) = super::checksum_of(&node).and_then(|c| c.parse().ok()) {
        response.headers_mut().insert("oc-checksum", value);
    }
    Ok(response)
}

pub async fn put(s: &Stratus, req: &Req, body: Body) -> Result<Response, DavError> {
    let locks = req.conditions(s).await?;
    let declared = req
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let resolved = s.dav_resolve(&req.caller, &req.path.segments).await?;
    let current = match &resolved {
        DavTarget::Found(node) => Some(node),
        _ => None,
    };
    if !super::if_match_holds(&req.headers, current) {
        return Err(DavError::status(StatusCode::PRECONDITION_FAILED));
    }
    let conditions = super::upload_conditions(&req.headers, current)?;
    let (target, created) = match resolved {
        DavTarget::Found(node) if node.is_folder() => {
            return Err(DavError::status(StatusCode::METHOD_NOT_ALLOWED));
        }
        DavTarget::Found(node) => {
            req.check_locks(&locks, &req.path.text(), false)?;
            (UploadTarget::Existing(node.id), false)
        }
        DavTarget::Missing { parent, name } => {
            req.check_member_change(&locks, &req.path, false)?;
            (UploadTarget::Named { parent: parent.id, path: name, policy: ConflictPolicy::Fail }, true)
        }
        DavTarget::NoParent => return Err(DavError::status(StatusCode::CONFLICT)),
        DavTarget::SharedRoot => return Err(DavError::status(StatusCode::METHOD_NOT_ALLOWED)),
    };
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let uploaded = s.upload_under(Some(&req.caller), target, declared, stream, conditions).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
    let mut response = status.into_response();
    let node = super::keep_client_mtime(s, &req.caller, &req.headers, uploaded.node, &mut response).await?;
    super::describe_written(&node, &mut response);
    Ok(response)
}

pub async fn mkcol(s: &Stratus, req: &Req, body: &[u8]) -> Result<Response, DavError> {
    if !body.is_empty() {
        return Err(DavError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let locks = req.conditions(s).await?;
    match s.dav_resolve(&req.caller, &req.path.segments).await? {
        DavTarget::Found(_) | DavTarget::SharedRoot => Err(DavError::status(StatusCode::METHOD_NOT_ALLOWED)),
        DavTarget::NoParent => Err(DavError::status(StatusCode::CONFLICT)),
        DavTarget::Missing { parent, name } => {
            req.check_member_change(&locks, &req.path, false)?;
            s.mkdir(Some(&req.caller), parent.id, &name).await?;
            Ok(StatusCode::CREATED.into_response())
        }
    }
}

pub async fn delete(s: &Stratus, req: &Req) -> Result<Response, DavError> {
    let node = found(s, req, &req.path).await?;
    if node.parent_id.is_none() {
        return Err(DavError::status(StatusCode::FORBIDDEN));
    }
    let locks = req.conditions(s).await?;
    req.check_member_change(&locks, &req.path, true)?;
    s.delete(&req.caller, node.id).await?;
    s.dav_drop_locks(&req.caller, &req.path.text()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// COPY (server-side: files share their blocks) and MOVE, with `Overwrite` and `Depth`.
pub async fn copy_or_move(s: &Stratus, req: &Req, moving: bool) -> Result<Response, DavError> {
    let destination = req
        .headers
        .get("destination")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| DavError::status(StatusCode::BAD_REQUEST))?;
    if let Some(rest) = destination.split_once("://").map(|(_, r)| r) {
        let host = rest.split('/').next().unwrap_or("");
        let ours = req.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !host.eq_ignore_ascii_case(ours) {
            return Err(DavError::status(StatusCode::BAD_GATEWAY));
        }
    }
    let dest = DavPath::from_uri(destination, &req.path.base)
        .map_err(|_| DavError::status(StatusCode::BAD_GATEWAY))?;
    let overwrite = match req.headers.get("overwrite").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("T") => true,
        Some(v) if v.eq_ignore_ascii_case("F") => false,
        Some(_) => return Err(DavError::status(StatusCode::BAD_REQUEST)),
    };
    let deep = match req.headers.get("depth").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(d) if d.eq_ignore_ascii_case("infinity") => true,
        Some("0") if !moving => false,
        Some(_) => return Err(DavError::status(StatusCode::BAD_REQUEST)),
    };
    let source = found(s, req, &req.path).await?;
    if dest == req.path {
        return Err(DavError::status(StatusCode::FORBIDDEN));
    }
    if source.is_folder() && dest.segments.starts_with(&req.path.segments) {
        return Err(DavError::status(StatusCode::FORBIDDEN));
    }
    let locks = req.conditions(s).await?;
    if moving {
        req.check_member_change(&locks, &req.path, true)?;
    }
    req.check_member_change(&locks, &dest, true)?;
    let (parent, name, replace) = match s.dav_resolve(&req.caller, &dest.segments).await? {
        DavTarget::NoParent => return Err(DavError::status(StatusCode::CONFLICT)),
        DavTarget::SharedRoot => return Err(DavError::status(StatusCode::FORBIDDEN)),
        DavTarget::Missing { parent, name } => (parent, name, None),
        DavTarget::Found(existing) => {
            if !overwrite {
                return Err(DavError::status(StatusCode::PRECONDITION_FAILED));
            }
            // The destination's folder is the one it already stands in.
            let Some(parent) = existing.parent_id else {
                return Err(DavError::status(StatusCode::FORBIDDEN));
            };
            let parent = s
                .node(Some(&req.caller), parent)
                .await
                .map_err(|_| DavError::status(StatusCode::CONFLICT))?;
            (parent, existing.name.clone(), Some(existing.id))
        }
    };
    // One service call each: the resource replaced goes to the trash (recoverable) in the
    // transaction that puts the source in its place, or not at all.
    if moving {
        s.dav_move(&req.caller, &source, parent.id, &name, replace).await?;
        s.dav_drop_locks(&req.caller, &req.path.text()).await?;
    } else {
        s.dav_copy(&req.caller, &source, parent.id, &name, deep, replace).await?;
    }
    if replace.is_some() {
        s.dav_drop_locks(&req.caller, &dest.text()).await?;
    }
    let existed = replace.is_some();
    Ok(if existed { StatusCode::NO_CONTENT } else { StatusCode::CREATED }.into_response())
}
