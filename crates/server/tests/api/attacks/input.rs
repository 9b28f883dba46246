//! Hostile input: bodies built to exhaust the server, names built to break answers or spoof,
//! ranges built to dodge a download limit.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{alive, dav};
use crate::helpers::*;

fn nested(depth: usize, inner: &str) -> String {
    let mut body = String::from(r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>"#);
    body.push_str(&"<x:a xmlns:x=\"urn:x\">".repeat(depth));
    body.push_str(inner);
    body.push_str(&"</x:a>".repeat(depth));
    body.push_str("</D:prop></D:propfind>");
    body
}

// Finding 1: 5,000 nested elements in a PROPFIND overflowed the stack and killed the process.
dual_test!(async fn deeply_nested_xml_is_refused_and_the_server_lives(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("nester").await;
    let sneaky = format!("{}<!-->{}-->", "<x:a xmlns:x=\"urn:x\">".repeat(60), "</x:a>".repeat(60)).repeat(200);
    let r = dav(&app, "PROPFIND", "/", &u).header("depth", "0").body(nested(1, &sneaky)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a comment that looks closed hides nothing");
    assert!(alive(&app).await);
    for depth in [5_000, 30_000] {
        let r = dav(&app, "PROPFIND", "/", &u).header("depth", "0").body(nested(depth, "")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "depth {depth}");
        assert!(alive(&app).await, "the server survives {depth} levels");
    }
    // A dead property nested past the limit, and one with too many elements.
    let value = format!("{}v{}", "<p:v xmlns:p=\"urn:p\">".repeat(80), "</p:v>".repeat(80));
    let deep = format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>{value}</D:prop></D:set></D:propertyupdate>"#
    );
    let r = dav(&app, "PROPPATCH", "/", &u).body(deep).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let wide = nested(1, &"<x:b/>".repeat(30_000));
    let r = dav(&app, "PROPFIND", "/", &u).header("depth", "0").body(wide).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // What real clients send still works: a property 60 levels deep round-trips.
    let ok = format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><p:v xmlns:p="urn:p">{}x{}</p:v></D:prop></D:set></D:propertyupdate>"#,
        "<p:w>".repeat(59), "</p:w>".repeat(59)
    );
    assert_eq!(dav(&app, "PROPPATCH", "/", &u).body(ok).send().await.unwrap().status(), StatusCode::MULTI_STATUS);
    let r = dav(&app, "PROPFIND", "/", &u).header("depth", "0").body(nested(10, "")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
});

// Finding 12: control characters broke the owner's PROPFIND; bidi overrides spoof extensions;
// a `\` in a name climbed out of the folder a zip was extracted into.
dual_test!(async fn names_with_control_or_bidi_characters_are_refused(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("namer").await;
    for name in ["notes\u{1}.txt", "two\r\nlines", "bell\u{7}", "c1\u{85}x", "evil\u{202e}txt.exe", "iso\u{2066}late", "rl\u{200f}m.txt", "\u{feff}bom"] {
        let r = app.put(&u, &u.root, name, b"x".to_vec(), "fail").await;
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
        let r = app.req(Method::POST, &format!("/api/v1/nodes/{}/children", u.root), &u)
            .json(&json!({"name": name, "kind": "folder"})).send().await.unwrap();
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    }
    let ok = app.upload(&u, &u.root, "ok.txt", b"x".to_vec()).await;
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{}", ok["id"].as_str().unwrap()), &u)
        .json(&json!({"name": "re\u{202d}name.txt"})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    // Over WebDAV too (the name arrives percent-encoded in the path).
    let r = dav(&app, "PUT", "/notes%01.txt", &u).body("x").send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = dav(&app, "PROPFIND", "/", &u).header("depth", "1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert!(roxmltree::Document::parse(&r.text().await.unwrap()).is_ok(), "the listing stays well-formed XML");

    // A backslash is a name character here, but a separator to Windows extractors.
    let folder = app.mkdir(&u, &u.root, "box").await;
    app.upload(&u, folder["id"].as_str().unwrap(), "..\\..\\evil.bat", b"@echo pwned".to_vec()).await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/zip", folder["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let zip = r.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.zip");
    std::fs::write(&path, &zip).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys,zipfile; print('|'.join(zipfile.ZipFile(sys.argv[1]).namelist()))"])
        .arg(&path).output().unwrap();
    let names = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(names, ".._.._evil.bat", "{}", String::from_utf8_lossy(&out.stderr));
});

// Finding 9: `Range: x` or `bytes=-999999999` served the whole file without counting it
// (and `bytes=1-` all but its first byte).
dual_test!(async fn every_answer_that_sends_bytes_counts_against_a_download_limit(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("limiter").await;
    let file = app.upload(&u, &u.root, "secret.pdf", data(10_000, 9)).await;
    let folder = app.mkdir(&u, &u.root, "dir").await;
    app.upload(&u, folder["id"].as_str().unwrap(), "in.txt", b"inside".to_vec()).await;
    let limited = |id: String| {
        let (app, u) = (&app, &u);
        async move {
            let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/links"), u).json(&json!({"max_downloads": 1})).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            let link: Value = r.json().await.unwrap();
            format!("/s/{}/download", link["token"].as_str().unwrap())
        }
    };
    for range in ["x", "bytes=-999999999", "bytes=0-0,5-9", "bytes=0-", "bytes=abc-"] {
        let path = limited(file["id"].as_str().unwrap().to_string()).await;
        let r = app.anon(Method::GET, &path).header("range", range).send().await.unwrap();
        assert!(r.status().is_success(), "{range}: {}", r.status());
        let body = r.bytes().await.unwrap();
        assert_eq!(body.first(), Some(&data(10_000, 9)[0]), "{range} delivered the start");
        let again = app.anon(Method::GET, &path).header("range", range).send().await.unwrap();
        assert_problem(again, StatusCode::GONE, "link_exhausted").await;
    }
    // If-Range that does not match sends the whole file even with a later range.
    let path = limited(file["id"].as_str().unwrap().to_string()).await;
    let r = app.anon(Method::GET, &path).header("range", "bytes=5-").header("if-range", "\"other\"").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_problem(app.anon(Method::GET, &path).send().await.unwrap(), StatusCode::GONE, "link_exhausted").await;
    // A range after the first byte counts too: it would fetch all but one byte uncounted.
    let path = limited(file["id"].as_str().unwrap().to_string()).await;
    assert_eq!(app.anon(Method::GET, &path).header("range", "bytes=1-").send().await.unwrap().status(), StatusCode::PARTIAL_CONTENT);
    assert_problem(app.anon(Method::GET, &path).header("range", "bytes=1-").send().await.unwrap(), StatusCode::GONE, "link_exhausted").await;
    // A folder's zip always counts.
    let path = limited(folder["id"].as_str().unwrap().to_string()).await;
    assert_eq!(app.anon(Method::GET, &path).header("range", "bytes=5-").send().await.unwrap().status(), StatusCode::OK);
    assert_problem(app.anon(Method::GET, &path).send().await.unwrap(), StatusCode::GONE, "link_exhausted").await;
});
