//! `/remote.php/dav/trashbin/{user}/`: the trash as Nextcloud's apps browse it. `trash/` lists
//! what was deleted (`nc:trashbin-filename`, `-original-location`, `-deletion-time`), a MOVE
//! of an item into `restore/` brings it back, a DELETE purges it, a DELETE of `trash/` empties
//! the trash. Items are named by their id; the service's trash rules apply as for REST.

use axum::{
    extract::{Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use stratus_core::{NodeId, NodeKind, TrashItem};
use stratus_service::Stratus;

use crate::dav::{self, DavError, xml};

pub(crate) async fn handle(State(s): State<Stratus>, request: Request) -> Response {
    super::answer(dispatch(&s, request).await)
}

fn status(code: StatusCode) -> DavError {
    DavError::status(code)
}

async fn dispatch(s: &Stratus, request: Request) -> Result<Response, DavError> {
    let (parts, _) = request.into_parts();
    let own = super::own_collection(s, &parts, "trashbin").await?;
    let (caller, base) = (&own.caller, &own.base);
    let item_id = |name: &str| name.parse::<NodeId>().map_err(|_| status(StatusCode::NOT_FOUND));
    let rest: Vec<&str> = own.rest.iter().map(String::as_str).collect();
    match (parts.method.as_str(), rest.as_slice()) {
        ("PROPFIND", []) => {
            let mut out = super::collection(&format!("{base}/"));
            if super::depth1(&parts.headers) {
                out.push_str(&super::collection(&format!("{base}/trash/")));
                out.push_str(&super::collection(&format!("{base}/restore/")));
            }
            Ok(dav::multistatus(xml::multistatus(&out)))
        }
        ("PROPFIND", ["restore"]) => {
            Ok(dav::multistatus(xml::multistatus(&super::collection(&format!("{base}/restore/")))))
        }
        ("PROPFIND", ["trash"]) => {
            let mut out = super::collection(&format!("{base}/trash/"));
            if super::depth1(&parts.headers) {
                for item in s.trash(caller).await? {
                    out.push_str(&describe(base, &item));
                }
            }
            Ok(dav::multistatus(xml::multistatus(&out)))
        }
        ("PROPFIND", ["trash", name]) => {
            let id = item_id(name)?;
            let item = s
                .trash(caller)
                .await?
                .into_iter()
                .find(|i| i.id == id)
                .ok_or_else(|| status(StatusCode::NOT_FOUND))?;
            Ok(dav::multistatus(xml::multistatus(&describe(base, &item))))
        }
        ("MOVE", ["trash", name]) => {
            super::into_restore(&parts.headers, &own, "trashbin")?;
            s.restore(caller, item_id(name)?).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        ("DELETE", ["trash", name]) => {
            s.purge(caller, item_id(name)?).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("DELETE", ["trash"]) => {
            s.empty_trash(caller).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(status(StatusCode::METHOD_NOT_ALLOWED)),
    }
}

/// One trash item, with what the apps show of it.
fn describe(base: &str, item: &TrashItem) -> String {
    let folder = item.kind == NodeKind::Folder;
    let id = item.id.as_uuid().simple();
    let location = format!("{}/{}", item.original_path.trim_matches('/'), item.name);
    let mut props = String::from(if folder {
        "<D:resourcetype><D:collection/></D:resourcetype>"
    } else {
        "<D:resourcetype/>"
    });
    if !folder {
        props.push_str(&format!("<D:getcontentlength>{}</D:getcontentlength>", item.size));
    }
    props.push_str(&format!(
        "<D:getlastmodified>{}</D:getlastmodified><D:getetag>&quot;{id}-trash&quot;</D:getetag>\
         <oc:id>{id}</oc:id><oc:size>{}</oc:size>\
         <nc:trashbin-filename>{}</nc:trashbin-filename>\
         <nc:trashbin-original-location>{}</nc:trashbin-original-location>\
         <nc:trashbin-deletion-time>{}</nc:trashbin-deletion-time>",
        item.trashed_at.format("%a, %d %b %Y %H:%M:%S GMT"),
        item.size,
        xml::escape(&item.name),
        xml::escape(location.trim_start_matches('/')),
        item.trashed_at.timestamp(),
    ));
    let href = format!("{base}/trash/{id}{}", if folder { "/" } else { "" });
    format!("<D:response><D:href>{}</D:href>{}</D:response>", xml::escape(&href), xml::propstat(&props, 200))
}
