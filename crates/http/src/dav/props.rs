//! PROPFIND and PROPPATCH: live properties computed from the node, dead ones from the
//! database, quota properties (RFC 4331).

use axum::{body::Body, http::StatusCode, response::Response};
use futures_util::{StreamExt, TryStreamExt, stream};
use stratus_core::{Node, Role, User};
use stratus_service::{DavLock, DavTarget, Props, SHARED, ServiceError, Stratus, shared_folder};

use super::{
    DavError, DavPath, Req, etag_of,
    locks::{activelock, covers},
    multistatus, multistatus_stream, xml,
};

/// The live properties, as `DAV:` local names; none of them can be set.
const LIVE: [&str; 11] = [
    "creationdate",
    "displayname",
    "getcontentlength",
    "getcontenttype",
    "getetag",
    "getlastmodified",
    "resourcetype",
    "supportedlock",
    "lockdiscovery",
    "quota-available-bytes",
    "quota-used-bytes",
];

enum Wanted {
    All,
    Names,
    Some(Vec<String>),
}

pub async fn propfind(s: &Stratus, req: &Req, body: &[u8]) -> Result<Response, DavError> {
    let doc = xml::parse(body).map_err(|_| DavError::status(StatusCode::BAD_REQUEST))?;
    let wanted = match &doc {
        None => Wanted::All,
        Some(doc) => {
            let root = doc.root_element();
            if !xml::is(root, "propfind") {
                return Err(DavError::status(StatusCode::BAD_REQUEST));
            }
            if xml::child(root, "propname").is_some() {
                Wanted::Names
            } else if let Some(prop) = xml::child(root, "prop") {
                Wanted::Some(xml::elements(prop).map(xml::key).collect())
            } else if xml::child(root, "allprop").is_some() {
                Wanted::All
            } else {
                return Err(DavError::status(StatusCode::BAD_REQUEST));
            }
        }
    };
    let depth1 = match req.headers.get("depth").and_then(|v| v.to_str().ok()) {
        Some("0") => false,
        Some("1") => true,
        _ => return Err(DavError::with_body(StatusCode::FORBIDDEN, xml::error("propfind-finite-depth"))),
    };
    let target = s.dav_resolve(&req.caller, &req.path.segments).await?;
    let locks = req.conditions(s).await?;
    let user = s.me(&req.caller).await?;
    let ctx = std::sync::Arc::new(Ctx { user, locks });
    match target {
        DavTarget::Found(mut node) => {
            let role = s.dav_role(&req.caller, &node).await?;
            let dead = s.dav_props(&req.caller, node.id).await?;
            // The drive's top also changes when what others share with the caller changes:
            // its ETag covers the Shared folder's.
            let at_root = node.parent_id.is_none() && req.path.segments.is_empty();
            let shared = if at_root {
                Some(shared_folder(&s.dav_shared(&req.caller).await?, ctx.user.created_at))
            } else {
                None
            };
            if let Some(shared) = &shared {
                node.tree_tag = node.tree_tag.wrapping_add(shared.tree_tag);
            }
            let head = describe(&ctx, role, &req.path, &node, &dead, &wanted);
            if !(depth1 && node.is_folder()) {
                return Ok(multistatus(xml::multistatus(&head)));
            }
            let mut head = head;
            // The virtual Shared folder stands where a real one would.
            if let Some(shared) = &shared {
                head.push_str(&describe(
                    &ctx,
                    Role::Viewer,
                    &req.path.join(SHARED),
                    shared,
                    &Vec::new(),
                    &wanted,
                ));
            }
            // The children are streamed a page at a time, so memory stays bounded whatever the
            // folder's size. The first page is read before answering: a failure there is still
            // a proper error status; a later one cuts the response short (never a false 207).
            let path = req.path.clone();
            let describe_page = move |page: Vec<(Node, Props)>| {
                let mut chunk = String::new();
                for (child, dead) in page.iter().filter(|(c, _)| !(at_root && c.name == SHARED)) {
                    chunk.push_str(&describe(&ctx, role, &path.join(&child.name), child, dead, &wanted));
                }
                Ok::<_, ServiceError>(chunk)
            };
            let mut pages = Box::pin(s.dav_children_pages(&req.caller, node.id));
            let first = pages.try_next().await?.unwrap_or_default();
            let body = stream::iter([Ok(format!("{}{head}", xml::MULTISTATUS_OPEN)), describe_page(first)])
                .chain(pages.and_then(move |page| std::future::ready(describe_page(page))))
                .chain(stream::iter([Ok(xml::MULTISTATUS_CLOSE.to_string())]));
            Ok(multistatus_stream(Body::from_stream(body)))
        }
        DavTarget::SharedRoot => {
            let items = s.dav_shared(&req.caller).await?;
            let folder = shared_folder(&items, ctx.user.created_at);
            let mut out = describe(&ctx, Role::Viewer, &req.path, &folder, &Vec::new(), &wanted);
            // Items of other owners: a few, each read with its own share's rights.
            for item in if depth1 { items } else { Vec::new() } {
                let dead = s.dav_props(&req.caller, item.id).await?;
                let role = s.dav_role(&req.caller, &item).await?;
                out.push_str(&describe(&ctx, role, &req.path.join(&item.name), &item, &dead, &wanted));
            }
            Ok(multistatus(xml::multistatus(&out)))
        }
        _ => Err(DavError::status(StatusCode::NOT_FOUND)),
    }
}

/// What every response of one PROPFIND shares.
struct Ctx {
    user: User,
    locks: Vec<DavLock>,
}

/// One `<D:response>` for a resource with its dead properties.
fn describe(ctx: &Ctx, role: Role, path: &DavPath, node: &Node, dead: &Props, wanted: &Wanted) -> String {
    let live = |name: &str| live_value(&ctx.user, &ctx.locks, path, node, name);
    let mut found = String::new();
    let mut missing = String::new();
    match wanted {
        Wanted::Names => {
            for name in LIVE {
                if live(name).is_some() {
                    found.push_str(&format!("<D:{name}/>"));
                }
            }
            for (key, _) in dead {
                found.push_str(&xml::empty_element(key));
            }
        }
        Wanted::All => {
            for name in LIVE.iter().filter(|n| !n.starts_with("quota")) {
                if let Some(value) = live(name) {
                    found.push_str(&value);
                }
            }
            for (_, value) in dead {
                found.push_str(value);
            }
        }
        Wanted::Some(keys) => {
            for key in keys {
                let (ns, local) = xml::split_key(key);
                let value = if ns == xml::DAV && LIVE.contains(&local) {
                    live(local)
                } else if let Some(value) = (ns == xml::OC || ns == xml::NC)
                    .then(|| cloud_value(&ctx.user, role, path, node, ns, local))
                    .flatten()
                {
                    Some(value)
                } else {
                    dead.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
                };
                match value {
                    Some(v) => found.push_str(&v),
                    None => missing.push_str(&xml::empty_element(key)),
                }
            }
        }
    }
    let mut response = format!("<D:response><D:href>{}</D:href>", xml::escape(&path.href(node.is_folder())));
    if !found.is_empty() || missing.is_empty() {
        response.push_str(&xml::propstat(&found, 200));
    }
    if !missing.is_empty() {
        response.push_str(&xml::propstat(&missing, 404));
    }
    response.push_str("</D:response>");
    response
}

/// The properties Nextcloud and ownCloud clients read (`oc:` and `nc:`), asked for by name.
fn cloud_value(
    user: &User,
    role: Role,
    path: &DavPath,
    node: &Node,
    ns: &str,
    local: &str,
) -> Option<String> {
    let file = !node.is_folder();
    let own = node.owner_id == user.id;
    let value = match (ns, local) {
        (xml::OC, "id") => node.id.as_uuid().simple().to_string(),
        (xml::OC, "fileid") => node.file_no.to_string(),
        (xml::OC, "checksums") => {
            format!("<oc:checksum>{}</oc:checksum>", super::checksum_of(node)?)
        }
        (xml::OC, "permissions") => permissions(role, node, path, own),
        (xml::OC, "size") => if file { node.size } else { 0 }.to_string(),
        (xml::OC, "owner-id") if own => xml::escape(&user.username),
        (xml::OC, "owner-display-name") if own => xml::escape(&user.username),
        (xml::OC, "share-types" | "downloadURL" | "dDC" | "data-fingerprint") => String::new(),
        (xml::NC, "has-preview") => "false".into(),
        (xml::NC, "is-encrypted") => "0".into(),
        (xml::NC, "mount-type") => if own { "" } else { "shared" }.into(),
        _ => return None,
    };
    let prefix = if ns == xml::OC { "oc" } else { "nc" };
    Some(format!("<{prefix}:{local}>{value}</{prefix}:{local}>"))
}

/// `oc:permissions`: what the caller may do here, as the clients spell it. G read, W write a
/// file, C and K create files and folders in a folder, D delete, N rename, V move, R reshare,
/// S shared with the caller. The top of the drive, the Shared folder and an item shared with
/// the caller cannot be deleted, renamed or moved by them.
fn permissions(role: Role, node: &Node, path: &DavPath, own: bool) -> String {
    let share_top = !own && path.segments.len() == 2 && path.segments[0] == SHARED;
    let fixed = node.parent_id.is_none() || share_top || path.segments == [SHARED];
    let mut out = String::from(if own { "" } else { "S" });
    if role >= Role::Owner {
        out.push('R');
    }
    out.push('G');
    if role >= Role::Editor {
        if !fixed {
            out.push_str("DNV");
        }
        out.push_str(if node.is_folder() { "CK" } else { "W" });
    }
    out
}

fn live_value(user: &User, locks: &[DavLock], path: &DavPath, node: &Node, name: &str) -> Option<String> {
    let file = !node.is_folder();
    let value = match name {
        "creationdate" => node.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "displayname" => xml::escape(if node.parent_id.is_none() { "/" } else { &node.name }),
        "getcontentlength" if file => node.size.to_string(),
        "getcontenttype" if file => mime_guess::from_path(&node.name).first_or_octet_stream().to_string(),
        "getetag" => xml::escape(&etag_of(node)),
        "getlastmodified" => node.modified_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        "resourcetype" => {
            return Some(if file {
                "<D:resourcetype/>".into()
            } else {
                "<D:resourcetype><D:collection/></D:resourcetype>".into()
            });
        }
        "supportedlock" => {
            return Some(
                "<D:supportedlock><D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>\
                 <D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry></D:supportedlock>"
                    .into(),
            );
        }
        "lockdiscovery" => {
            let text = path.text();
            let active: String =
                locks.iter().filter(|l| covers(l, &text)).map(|l| activelock(&path.base, l)).collect();
            return Some(format!("<D:lockdiscovery>{active}</D:lockdiscovery>"));
        }
        "quota-available-bytes" => user.quota.limit.saturating_sub(user.quota.used).to_string(),
        "quota-used-bytes" => user.quota.used.to_string(),
        _ => return None,
    };
    Some(format!("<D:{name}>{value}</D:{name}>"))
}

pub async fn proppatch(s: &Stratus, req: &Req, body: &[u8]) -> Result<Response, DavError> {
    let doc = xml::parse(body)
        .map_err(|_| DavError::status(StatusCode::BAD_REQUEST))?
        .ok_or_else(|| DavError::status(StatusCode::BAD_REQUEST))?;
    let root = doc.root_element();
    if !xml::is(root, "propertyupdate") {
        return Err(DavError::status(StatusCode::BAD_REQUEST));
    }
    let node = match s.dav_resolve(&req.caller, &req.path.segments).await? {
        DavTarget::Found(node) => node,
        _ => return Err(DavError::status(StatusCode::NOT_FOUND)),
    };
    let locks = req.conditions(s).await?;
    req.check_locks(&locks, &req.path.text(), false)?;
    let mut changes: Vec<(String, Option<String>)> = Vec::new();
    for op in xml::elements(root) {
        let set = xml::is(op, "set");
        if !set && !xml::is(op, "remove") {
            return Err(DavError::status(StatusCode::BAD_REQUEST));
        }
        for prop in xml::elements(op).filter(|p| xml::is(*p, "prop")) {
            for element in xml::elements(prop) {
                changes.push((xml::key(element), set.then(|| xml::serialize(element))));
            }
        }
    }
    let protected: Vec<&String> = changes
        .iter()
        .map(|(k, _)| k)
        .filter(|k| {
            let (ns, local) = xml::split_key(k);
            ns == xml::DAV && LIVE.contains(&local)
        })
        .collect();
    let mut out = format!("<D:response><D:href>{}</D:href>", xml::escape(&req.path.href(node.is_folder())));
    if protected.is_empty() {
        s.dav_patch_props(&req.caller, node.id, &changes).await?;
        let names: String = changes.iter().map(|(k, _)| xml::empty_element(k)).collect();
        out.push_str(&xml::propstat(&names, 200));
    } else {
        // All or nothing: the protected ones fail, the others fail with them.
        let (bad, rest): (Vec<_>, Vec<_>) = changes.iter().partition(|(k, _)| protected.contains(&k));
        let bad: String = bad.iter().map(|(k, _)| xml::empty_element(k)).collect();
        out.push_str(&xml::propstat(&bad, 403));
        if !rest.is_empty() {
            let rest: String = rest.iter().map(|(k, _)| xml::empty_element(k)).collect();
            out.push_str(&xml::propstat(&rest, 424));
        }
    }
    out.push_str("</D:response>");
    Ok(multistatus(xml::multistatus(&out)))
}
