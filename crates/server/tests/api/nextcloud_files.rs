//! What Nextcloud's apps know a file by besides its path, checked through HTTP: its number
//! (`oc:fileid`), its SHA-1 (`OC-Checksum` on upload and download, `oc:checksums`), and its
//! older versions at `/remote.php/dav/versions/{user}/versions/{fileid}/`.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sha1::{Digest, Sha1};

use crate::{
    helpers::*,
    nextcloud::{dav, files_path},
};

pub(crate) fn sha1(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// The text of `<oc:{name}>` in a Depth 0 PROPFIND of `path`, if it was found.
async fn oc_prop(app: &TestApp, user: &TestUser, path: &str, name: &str) -> Option<String> {
    let body = format!(
        "<?xml version=\"1.0\"?><d:propfind xmlns:d=\"DAV:\" xmlns:oc=\"http://owncloud.org/ns\">\
         <d:prop><oc:{name}/></d:prop></d:propfind>"
    );
    let r = dav(app, "PROPFIND", path, user).header("depth", "0").body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS, "{path}");
    let text = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let found = doc.descendants().filter(|n| n.has_tag_name("propstat")).find(|p| {
        p.descendants().any(|s| s.has_tag_name("status") && s.text().unwrap_or("").contains("200"))
    })?;
    let prop = found.descendants().find(|n| n.has_tag_name(("http://owncloud.org/ns", name)))?;
    Some(prop.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect())
}

dual_test!(async fn uploads_declaring_a_sha1_are_checked_and_keep_it(backend) {
    let app = TestApp::spawn_with(backend, |c| c.default_quota = 32 << 20).await;
    let u = app.register("checker").await;
    let eve = app.register("eve").await;
    let path = files_path(&u, "report.txt");
    let body = b"the quarterly figures".to_vec();

    // A body that does not match what its client declared never becomes the file (a large
    // one, whose upload reserves quota, and a small one).
    for wrong in [data(3 << 20, 5), body.clone()] {
        let r = dav(&app, "PUT", &path, &u).header("oc-checksum", format!("SHA1:{}", sha1(b"other"))).body(wrong).send().await.unwrap();
        assert_problem(r, StatusCode::BAD_REQUEST, "checksum_mismatch").await;
    }
    assert!(app.names(&u, &u.root).await.is_empty());
    assert_eq!(app.used(&u).await, 0);
    let r = dav(&app, "PUT", &path, &u).header("oc-checksum", "SHA1:xyz").body(body.clone()).send().await.unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_checksum").await;

    // One that matches is stored, and its SHA-1 is told to every client that reads it.
    let declared = format!("SHA1:{}", sha1(&body).to_uppercase());
    let r = dav(&app, "PUT", &path, &u).header("oc-checksum", &declared).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let expected = format!("SHA1:{}", sha1(&body));
    assert_eq!(r.headers()["oc-checksum"], expected.as_str());
    assert_eq!(oc_prop(&app, &u, &path, "checksums").await.as_deref(), Some(expected.as_str()));
    let r = dav(&app, "GET", &path, &u).send().await.unwrap();
    assert_eq!(r.headers()["oc-checksum"], expected.as_str());
    // The SHA-1 belongs to the content: a copy has it too.
    let r = dav(&app, "COPY", &path, &u).header("destination", app.url(&files_path(&u, "copy.txt"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(oc_prop(&app, &u, &files_path(&u, "copy.txt"), "checksums").await.as_deref(), Some(expected.as_str()));
    // It is the owner's: the same bytes in another drive show none (it would tell eve that
    // someone stored them).
    let r = dav(&app, "PUT", &files_path(&eve, "same.txt"), &eve).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(oc_prop(&app, &eve, &files_path(&eve, "same.txt"), "checksums").await, None);

    // A mismatched new version leaves the old one current.
    let r = dav(&app, "PUT", &path, &u).header("oc-checksum", &expected).body(b"tampered".to_vec()).send().await.unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "checksum_mismatch").await;
    let id = app.by_path(&u, "/report.txt").await;
    assert_eq!(app.download(&u, &id).await, body);
    // Content stored without a declared SHA-1 has none to show, and another algorithm is not
    // taken on trust.
    let r = dav(&app, "PUT", &path, &u).header("oc-checksum", "MD5:0123456789abcdef0123456789abcdef").body(b"v2".to_vec()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!r.headers().contains_key("oc-checksum"));
    assert_eq!(oc_prop(&app, &u, &path, "checksums").await, None);

    // A chunked upload declares the whole file's SHA-1 with its MOVE.
    let uploads = |rest: &str| format!("/remote.php/dav/uploads/checker/{rest}");
    let big = data(6 << 20, 11);
    for (transfer, declared, status) in
        [("bad", sha1(b"nope"), StatusCode::BAD_REQUEST), ("good", sha1(&big), StatusCode::CREATED)]
    {
        assert_eq!(dav(&app, "MKCOL", &uploads(transfer), &u).send().await.unwrap().status(), StatusCode::CREATED);
        for (i, part) in big.chunks(4 << 20).enumerate() {
            let r = dav(&app, "PUT", &uploads(&format!("{transfer}/{i:016}")), &u).body(part.to_vec()).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
        }
        let r = dav(&app, "MOVE", &uploads(&format!("{transfer}/.file")), &u)
            .header("destination", app.url(&files_path(&u, "big.bin")))
            .header("oc-checksum", format!("SHA1:{declared}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{transfer}");
    }
    let big_path = files_path(&u, "big.bin");
    assert_eq!(oc_prop(&app, &u, &big_path, "checksums").await, Some(format!("SHA1:{}", sha1(&big))));
    let id = app.by_path(&u, "/big.bin").await;
    assert_eq!(app.download(&u, &id).await, big);
    let used = (big.len() + body.len() + 2) as u64;
    assert_eq!(app.used(&u).await, used);
    // Nothing refused stays reserved: exactly the room left still takes a file.
    let room = (32u64 << 20) - used;
    let r = dav(&app, "PUT", &files_path(&u, "fill.bin"), &u).body(data(room as usize, 6)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "the refused uploads left a reservation behind");
});

dual_test!(async fn file_numbers_find_a_file_and_its_older_versions(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("keeper").await;
    let eve = app.register("eve").await;
    let viewer = app.register("viewer").await;
    let path = files_path(&u, "plan.txt");
    for body in ["first", "second", "third"] {
        assert!(dav(&app, "PUT", &path, &u).body(body).send().await.unwrap().status().is_success());
    }
    let other = files_path(&u, "other.txt");
    assert_eq!(dav(&app, "PUT", &other, &u).body("x").send().await.unwrap().status(), StatusCode::CREATED);

    // Every node has a number of its own, kept through a rename.
    let number: i64 = oc_prop(&app, &u, &path, "fileid").await.unwrap().parse().unwrap();
    let other_number: i64 = oc_prop(&app, &u, &other, "fileid").await.unwrap().parse().unwrap();
    let root_number: i64 = oc_prop(&app, &u, &files_path(&u, ""), "fileid").await.unwrap().parse().unwrap();
    assert!(number > 0 && number != other_number && number != root_number);
    let renamed = files_path(&u, "renamed.txt");
    let r = dav(&app, "MOVE", &path, &u).header("destination", app.url(&renamed)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(oc_prop(&app, &u, &renamed, "fileid").await, Some(number.to_string()));
    // A number is never given again, even once the node that had the highest is gone for good.
    let gone = files_path(&u, "gone.txt");
    assert_eq!(dav(&app, "PUT", &gone, &u).body("x").send().await.unwrap().status(), StatusCode::CREATED);
    let highest: i64 = oc_prop(&app, &u, &gone, "fileid").await.unwrap().parse().unwrap();
    let gone_id = app.by_path(&u, "/gone.txt").await;
    assert_eq!(dav(&app, "DELETE", &gone, &u).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::DELETE, &format!("/api/v1/trash/{gone_id}"), &u).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(dav(&app, "PUT", &gone, &u).body("y").send().await.unwrap().status(), StatusCode::CREATED);
    let next: i64 = oc_prop(&app, &u, &gone, "fileid").await.unwrap().parse().unwrap();
    assert!(next > highest, "{next} after {highest}");

    // The apps list the older versions, newest first (the current one is the file itself).
    let versions = format!("/remote.php/dav/versions/keeper/versions/{number}");
    let r = dav(&app, "PROPFIND", &versions, &u).header("depth", "1").send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::MULTI_STATUS, "{text}");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let hrefs: Vec<String> = doc.descendants().filter(|n| n.has_tag_name("href")).map(|n| n.text().unwrap().to_string()).collect();
    assert_eq!(hrefs.len(), 3, "the collection and two older versions: {text}");
    assert_eq!(hrefs[0], format!("{versions}/"));
    assert!(text.contains("<D:getcontentlength>6</D:getcontentlength>") && text.contains("<D:getcontentlength>5</D:getcontentlength>"), "{text}");
    let r = dav(&app, "GET", &hrefs[1], &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), "second".as_bytes());
    let r = dav(&app, "GET", &hrefs[2], &u).header("range", "bytes=1-3").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap(), "irs".as_bytes());

    // Nobody else reaches them by number, nor under another name; a viewer reads but cannot
    // restore.
    for (who, base) in [(&eve, "eve"), (&eve, "keeper")] {
        let r = dav(&app, "PROPFIND", &format!("/remote.php/dav/versions/{base}/versions/{number}"), who).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{base}");
    }
    // Public to anyone with its id is not found by number (numbers can be counted through).
    let id = app.by_path(&u, "/renamed.txt").await;
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{id}"), &u).json(&json!({"public_access": "edit"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = dav(&app, "PROPFIND", &format!("/remote.php/dav/versions/eve/versions/{number}"), &eve).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a public file by number");
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{id}"), &u).json(&json!({"public_access": "none"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/shares"), &u).json(&json!({"user": "viewer", "role": "viewer"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let viewer_version = hrefs[2].replace("/keeper/", "/viewer/");
    assert_eq!(dav(&app, "GET", &viewer_version, &viewer).send().await.unwrap().bytes().await.unwrap(), "first".as_bytes());
    let r = dav(&app, "MOVE", &viewer_version, &viewer)
        .header("destination", app.url("/remote.php/dav/versions/viewer/restore/target"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.download(&u, &id).await, b"third");

    // A MOVE into restore/ makes a version current again, keeping the history.
    let r = dav(&app, "MOVE", &hrefs[2], &u).header("destination", app.url("/remote.php/dav/versions/keeper/elsewhere")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "only into restore/");
    let r = dav(&app, "MOVE", &hrefs[2], &u)
        .header("destination", app.url("/remote.php/dav/versions/keeper/restore/target"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.download(&u, &id).await, b"first");
    let r = dav(&app, "PROPFIND", &versions, &u).header("depth", "1").send().await.unwrap();
    assert_eq!(r.text().await.unwrap().matches("<D:href>").count(), 4, "three older versions now");

    // Numbers that name nothing, a folder, or a trashed file are not found.
    let root_versions = format!("/remote.php/dav/versions/keeper/versions/{root_number}");
    for missing in ["/remote.php/dav/versions/keeper/versions/999999999", "/remote.php/dav/versions/keeper/versions/x", &root_versions] {
        assert_eq!(dav(&app, "PROPFIND", missing, &u).send().await.unwrap().status(), StatusCode::NOT_FOUND, "{missing}");
    }
    assert_eq!(dav(&app, "DELETE", &renamed, &u).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(dav(&app, "PROPFIND", &versions, &u).send().await.unwrap().status(), StatusCode::NOT_FOUND);
});

dual_test!(async fn a_write_over_what_the_client_read_loses_to_one_that_came_first(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("racer").await;
    let path = files_path(&u, "shared.txt");
    assert_eq!(dav(&app, "PUT", &path, &u).body("read by both").send().await.unwrap().status(), StatusCode::CREATED);
    let read = dav(&app, "HEAD", &path, &u).send().await.unwrap().headers()["etag"].to_str().unwrap().to_string();

    // Device A starts writing over what it read, and is still sending…
    let received = |text: String| {
        text.lines().find_map(|l| l.strip_prefix("stratus_upload_bytes_received_total ")).unwrap().parse::<u64>().unwrap()
    };
    let before = received(app.metrics().await);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    tx.send(Ok(bytes::Bytes::from_static(b"from device A, "))).await.unwrap();
    let slow = dav(&app, "PUT", &path, &u)
        .header("if-match", &read)
        .body(reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })))
        .send();
    let slow = tokio::spawn(slow);
    eventually("device A's upload is under way", || async { received(app.metrics().await) > before }).await;
    // …when device B, which read the same, commits first.
    let r = dav(&app, "PUT", &path, &u).header("if-match", &read).body("from device B").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    tx.send(Ok(bytes::Bytes::from_static(b"finished"))).await.unwrap();
    drop(tx);
    let r = slow.await.unwrap().unwrap();
    assert_problem(r, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let id = app.by_path(&u, "/shared.txt").await;
    assert_eq!(app.download(&u, &id).await, b"from device B");
    let versions = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{id}/versions"), &u).send().await.unwrap()).await;
    assert_eq!(versions["items"].as_array().map_or(0, Vec::len), 2, "A's bytes made no version: {versions}");
    assert_eq!(app.used(&u).await, "from device B".len() as u64, "and nothing stays counted for them");
});
