//! `/remote.php/dav/versions/{user}/`: a file's older versions as Nextcloud's apps list them.
//! `versions/{fileid}/` holds one entry per version (named by its id), which a GET downloads
//! and a MOVE into `restore/` makes current again; the current content is the file itself and
//! is not listed. Files are found by their number (`oc:fileid`); the service's rules apply as
//! for REST (reading a file's versions needs read access, restoring one write access).

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use stratus_core::{Node, Version, VersionId};
use stratus_service::{Caller, Stratus};

use crate::{
    dav::{self, DavError, xml},
    routes::content::serve_file,
};

pub(crate) async fn handle(State(s): State<Stratus>, request: Request) -> Response {
    super::answer(dispatch(&s, request).await)
}

fn status(code: StatusCode) -> DavError {
    DavError::status(code)
}

async fn dispatch(s: &Stratus, request: Request) -> Result<Response, DavError> {
    let (parts, _) = request.into_parts();
    let own = super::own_collection(s, &parts, "versions").await?;
    let (caller, base) = (&own.caller, &own.base);
    let rest: Vec<&str> = own.rest.iter().map(String::as_str).collect();
    let depth1 = super::depth1(&parts.headers);
    match (parts.method.as_str(), rest.as_slice()) {
        ("PROPFIND", []) => {
            let mut out = super::collection(&format!("{base}/"));
            if depth1 {
                out.push_str(&super::collection(&format!("{base}/versions/")));
                out.push_str(&super::collection(&format!("{base}/restore/")));
            }
            Ok(dav::multistatus(xml::multistatus(&out)))
        }
        ("PROPFIND", ["versions" | "restore"]) => {
            Ok(dav::multistatus(xml::multistatus(&super::collection(&format!("{base}/{}/", rest[0])))))
        }
        ("PROPFIND", ["versions", file]) => {
            let (node, versions) = older_versions(s, caller, file).await?;
            let href = format!("{base}/versions/{}", node.file_no);
            let mut out = super::collection(&format!("{href}/"));
            if depth1 {
                for version in &versions {
                    out.push_str(&describe(&href, &node, version));
                }
            }
            Ok(dav::multistatus(xml::multistatus(&out)))
        }
        ("PROPFIND", ["versions", file, version]) => {
            let (node, versions) = older_versions(s, caller, file).await?;
            let version = find(&versions, version)?;
            let href = format!("{base}/versions/{}", node.file_no);
            Ok(dav::multistatus(xml::multistatus(&describe(&href, &node, version))))
        }
        ("GET" | "HEAD", ["versions", file, version]) => {
            let (node, versions) = older_versions(s, caller, file).await?;
            let version = find(&versions, version)?;
            let download = s.version_download(Some(caller), node.id, version.id).await?;
            let mut response = serve_file(download, &parts.headers).await.map_err(DavError::Api)?;
            if let Ok(value) = mime_guess::from_path(&node.name).first_or_octet_stream().as_ref().parse() {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            Ok(response)
        }
        ("MOVE" | "COPY", ["versions", file, version]) => {
            super::into_restore(&parts.headers, &own, "versions")?;
            let (node, versions) = older_versions(s, caller, file).await?;
            let version = find(&versions, version)?;
            s.restore_version(caller, node.id, version.id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("PROPFIND" | "GET" | "HEAD" | "MOVE" | "COPY", _) => Err(status(StatusCode::NOT_FOUND)),
        _ => Err(status(StatusCode::METHOD_NOT_ALLOWED)),
    }
}

/// The file numbered `file` and its versions but the current one, newest first.
async fn older_versions(s: &Stratus, caller: &Caller, file: &str) -> Result<(Node, Vec<Version>), DavError> {
    let number = file.parse::<i64>().map_err(|_| status(StatusCode::NOT_FOUND))?;
    let node = s.node_by_number(caller, number).await?;
    if node.is_folder() {
        return Err(status(StatusCode::NOT_FOUND));
    }
    let mut versions = s.versions(Some(caller), node.id).await?;
    versions.retain(|v| Some(v.id) != node.version_id);
    Ok((node, versions))
}

fn find<'a>(versions: &'a [Version], name: &str) -> Result<&'a Version, DavError> {
    let id = name.parse::<VersionId>().map_err(|_| status(StatusCode::NOT_FOUND))?;
    versions.iter().find(|v| v.id == id).ok_or_else(|| status(StatusCode::NOT_FOUND))
}

/// One version, with what the apps show of it: its size, time and type.
fn describe(href: &str, node: &Node, version: &Version) -> String {
    let id = version.id.as_uuid().simple();
    let props = format!(
        "<D:resourcetype/><D:getcontentlength>{}</D:getcontentlength>\
         <D:getcontenttype>{}</D:getcontenttype>\
         <D:getlastmodified>{}</D:getlastmodified><D:getetag>&quot;{}&quot;</D:getetag>",
        version.size,
        xml::escape(mime_guess::from_path(&node.name).first_or_octet_stream().as_ref()),
        version.created_at.format("%a, %d %b %Y %H:%M:%S GMT"),
        xml::escape(&version.content_hash),
    );
    format!(
        "<D:response><D:href>{}</D:href>{}</D:response>",
        xml::escape(&format!("{href}/{id}")),
        xml::propstat(&props, 200)
    )
}
