//! The doors Nextcloud's clients use: `nextcloudcmd` (Debian's nextcloud-desktop-cmd) keeping a
//! drive in two-way sync, and the protocol pieces it rests on, each checked through HTTP:
//! status.php and OCS, folder ETags that follow every change below them, chunked uploads
//! (resumable, all or nothing), `X-OC-Mtime`, and the usual rules (other users, quota).

use std::{collections::BTreeMap, path::Path, time::SystemTime};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) fn dav(app: &TestApp, method: &str, path: &str, user: &TestUser) -> reqwest::RequestBuilder {
    app.client
        .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(path))
        .basic_auth(&user.username, Some(&user.password))
}

/// The ETag a PROPFIND (Depth 0) reports for `path`.
async fn etag(app: &TestApp, user: &TestUser, path: &str) -> String {
    let r = dav(app, "PROPFIND", path, user).header("depth", "0").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS, "{path}");
    let body = r.text().await.unwrap();
    let start = body.find("<D:getetag>").unwrap_or_else(|| panic!("no etag: {body}")) + 11;
    body[start..start + body[start..].find('<').unwrap()].to_string()
}

pub(crate) fn files_path(user: &TestUser, rest: &str) -> String {
    format!("/remote.php/dav/files/{}/{rest}", user.username)
}

/// Every file under `root` (relative path → content), the client's database left out.
fn local_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if rel.starts_with(".sync_") || rel.starts_with(".nextcloudsync") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Runs `nextcloudcmd` once over `local` and returns its log; a failed run fails the test.
async fn sync(app: &TestApp, user: &TestUser, local: &Path) -> String {
    let args = [
        "--non-interactive".to_string(),
        "-u".into(),
        user.username.clone(),
        "-p".into(),
        user.password.clone(),
        local.display().to_string(),
        app.url("/"),
    ];
    let out =
        tokio::task::spawn_blocking(move || std::process::Command::new("nextcloudcmd").args(&args).output())
            .await
            .unwrap()
            .expect("nextcloudcmd (scripts/test.sh installs nextcloud-desktop-cmd)");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "nextcloudcmd failed:\n{log}");
    log
}

fn set_mtime(path: &Path, secs: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)).unwrap();
}

dual_test!(async fn nextcloudcmd_keeps_a_drive_in_two_way_sync(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("sync").await;
    let local = tempfile::tempdir().unwrap();
    let root = local.path();

    // A tree with non-ASCII names, an old file time, and a 30 MB file (chunked: > 10 MB).
    std::fs::create_dir_all(root.join("Fotos Ünïcode/日本語")).unwrap();
    std::fs::create_dir_all(root.join("a b")).unwrap();
    std::fs::write(root.join("Fotos Ünïcode/straße.txt"), "grüße").unwrap();
    std::fs::write(root.join("Fotos Ünïcode/日本語/メモ.txt"), "こんにちは").unwrap();
    std::fs::write(root.join("a b/c.txt"), "to be deleted").unwrap();
    std::fs::write(root.join("notes.txt"), "version one").unwrap();
    let big = data(30_000_000, 7);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    set_mtime(&root.join("Fotos Ünïcode/straße.txt"), 1_600_000_000);
    let log = sync(&app, &u, root).await;
    assert!(
        log.contains("MOVE of QUrl(\"") && log.contains("/remote.php/dav/uploads/sync/"),
        "the 30 MB file went through a chunked upload:\n{log}"
    );
    let big_id = app.by_path(&u, "/big.bin").await;
    assert_eq!(app.download(&u, &big_id).await, big);
    // The client declared each file's SHA-1 (the capabilities ask for it); the server checked
    // and kept it, chunked or not.
    for (name, content) in [("big.bin", &big[..]), ("notes.txt", b"version one")] {
        let sha1 = crate::nextcloud_files::sha1(content);
        let r = dav(&app, "HEAD", &files_path(&u, name), &u).send().await.unwrap();
        assert_eq!(r.headers()["oc-checksum"], format!("SHA1:{sha1}").as_str(), "{name}");
    }
    let strasse = app.by_path(&u, "/Fotos Ünïcode/straße.txt").await;
    assert_eq!(app.download(&u, &strasse).await, "grüße".as_bytes());
    let node = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{strasse}"), &u).send().await.unwrap()).await;
    assert_eq!(node["modified_at"].as_str().unwrap(), "2020-09-13T12:26:40Z", "X-OC-Mtime kept: {node}");
    let memo = app.by_path(&u, "/Fotos Ünïcode/日本語/メモ.txt").await;
    assert_eq!(app.download(&u, &memo).await, "こんにちは".as_bytes());

    // Changes made through the REST API come down.
    let fotos = app.by_path(&u, "/Fotos Ünïcode").await;
    app.upload(&u, &fotos, "from the web.txt", b"uploaded in a browser".to_vec()).await;
    let r = app.put(&u, &u.root, "notes.txt", b"version two, from the web".to_vec(), "replace").await;
    assert!(r.status().is_success());
    sync(&app, &u, root).await;
    assert_eq!(std::fs::read(root.join("Fotos Ünïcode/from the web.txt")).unwrap(), b"uploaded in a browser");
    assert_eq!(std::fs::read(root.join("notes.txt")).unwrap(), b"version two, from the web");

    // A local delete reaches the server's trash, not nowhere.
    std::fs::remove_file(root.join("a b/c.txt")).unwrap();
    sync(&app, &u, root).await;
    let ab = app.by_path(&u, "/a b").await;
    assert!(app.names(&u, &ab).await.is_empty());
    let trash = ok_json(app.req(Method::GET, "/api/v1/trash", &u).send().await.unwrap()).await;
    assert!(trash.to_string().contains("c.txt"), "{trash}");

    // Changed on both sides: both versions are kept, locally and on the server.
    std::fs::write(root.join("notes.txt"), "version three, on the laptop").unwrap();
    let r = app.put(&u, &u.root, "notes.txt", b"version three, on the web".to_vec(), "replace").await;
    assert!(r.status().is_success());
    sync(&app, &u, root).await;
    let tree = local_tree(root);
    assert_eq!(tree["notes.txt"], b"version three, on the web");
    let (copy, content) = tree.iter().find(|(k, _)| k.starts_with("notes (conflicted copy")).expect("a conflict copy");
    assert_eq!(content, b"version three, on the laptop");
    sync(&app, &u, root).await;
    let uploaded = app.by_path(&u, &format!("/{copy}")).await;
    assert_eq!(app.download(&u, &uploaded).await, b"version three, on the laptop", "the conflict copy is on the server");

    // Nothing changed: a sync moves nothing and changes nothing.
    let before = local_tree(root);
    let root_etag = etag(&app, &u, &files_path(&u, "")).await;
    let log = sync(&app, &u, root).await;
    assert!(!log.contains("PUT of") && !log.contains("GETFileJob"), "a quiet sync transferred something:\n{log}");
    assert_eq!(local_tree(root), before);
    assert_eq!(etag(&app, &u, &files_path(&u, "")).await, root_etag);
});

dual_test!(async fn folder_etags_follow_every_change_below_them(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("tags").await;
    let bob = app.register("bob").await;
    let a = app.mkdir(&u, &u.root, "a").await["id"].as_str().unwrap().to_string();
    let b = app.mkdir(&u, &a, "b").await["id"].as_str().unwrap().to_string();
    let other = app.mkdir(&u, &u.root, "other").await["id"].as_str().unwrap().to_string();
    let paths = [files_path(&u, ""), files_path(&u, "a/"), files_path(&u, "a/b/")];
    let mut seen = Vec::new();
    for p in &paths {
        seen.push(etag(&app, &u, p).await);
    }
    let other_etag = etag(&app, &u, &files_path(&u, "other/")).await;
    let mut step = async |what: &str, changed: usize| {
        for (i, p) in paths.iter().enumerate() {
            let now = etag(&app, &u, p).await;
            if i < changed {
                assert_ne!(now, seen[i], "{what}: {p} did not change");
            } else {
                assert_eq!(now, seen[i], "{what}: {p} changed");
            }
            seen[i] = now;
        }
    };
    step("a read", 0).await;
    let file = app.upload(&u, &b, "deep.txt", b"one".to_vec()).await["id"].as_str().unwrap().to_string();
    step("a new file two levels down", 3).await;
    assert!(app.put(&u, &b, "deep.txt", b"two".to_vec(), "replace").await.status().is_success());
    step("a new version", 3).await;
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{file}"), &u).json(&json!({"name": "renamed.txt"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    step("a rename", 3).await;
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{file}"), &u).send().await.unwrap();
    assert!(r.status().is_success());
    step("a delete", 3).await;
    let r = app.req(Method::POST, &format!("/api/v1/trash/{file}/restore"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    step("a restore", 3).await;
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{file}"), &u).json(&json!({"parent_id": other})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    step("a move out", 3).await;
    assert_ne!(etag(&app, &u, &files_path(&u, "other/")).await, other_etag, "the folder moved into changed too");
    // A folder trashed with what it holds: the folders above change, once.
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{b}"), &u).send().await.unwrap();
    assert!(r.status().is_success());
    let now = etag(&app, &u, &paths[1]).await;
    assert_ne!(now, seen[1]);

    // What others share with bob: his drive's top changes when anything in it changes.
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{a}/shares"), &u).json(&json!({"user": "bob", "role": "editor"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let bob_top = etag(&app, &bob, &files_path(&bob, "")).await;
    app.upload(&u, &a, "for bob.txt", b"hi".to_vec()).await;
    assert_ne!(etag(&app, &bob, &files_path(&bob, "")).await, bob_top, "a change in a share reaches the recipient's top");
    let perms = dav(&app, "PROPFIND", &files_path(&bob, "Shared/a/"), &bob)
        .header("depth", "1")
        .body(r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:permissions/><oc:id/><oc:fileid/></d:prop></d:propfind>"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(perms.contains("<oc:permissions>SGCK</oc:permissions>"), "an editor's share top: {perms}");
    assert!(perms.contains("<oc:permissions>SGDNVW</oc:permissions>"), "an editor's file: {perms}");
    // Made a viewer: the share's tag moves, so bob's clients read the new permissions.
    let share = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let (top, item) = (etag(&app, &bob, &files_path(&bob, "")).await, etag(&app, &bob, &files_path(&bob, "Shared/a/")).await);
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{a}/shares/{share}"), &u).json(&json!({"role": "viewer"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(etag(&app, &bob, &files_path(&bob, "")).await, top);
    assert_ne!(etag(&app, &bob, &files_path(&bob, "Shared/a/")).await, item);
});

dual_test!(async fn chunked_uploads_resume_and_keep_the_rules(backend) {
    let app = TestApp::spawn_with(backend, |c| c.default_quota = 12 << 20).await;
    let u = app.register("chunky").await;
    let eve = app.register("eve").await;
    let uploads = |rest: &str| format!("/remote.php/dav/uploads/chunky/{rest}");
    let body = data(9 << 20, 3);

    assert_eq!(dav(&app, "MKCOL", &uploads("t1"), &u).send().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(dav(&app, "MKCOL", &uploads("t1"), &u).send().await.unwrap().status(), StatusCode::CONFLICT);
    // Nobody else reaches them.
    assert_eq!(dav(&app, "PROPFIND", &uploads("t1"), &eve).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = dav(&app, "PUT", &uploads("t1/0000000000000000"), &u).body(body[..5 << 20].to_vec()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // What a resuming client asks: how much is there.
    let listing = dav(&app, "PROPFIND", &uploads("t1"), &u).header("depth", "1").send().await.unwrap().text().await.unwrap();
    assert!(listing.contains(&format!("<D:getcontentlength>{}</D:getcontentlength>", 5 << 20)), "{listing}");
    // A chunk that says it starts anywhere but where the transfer is, is refused, not appended.
    let r = dav(&app, "PUT", &uploads("t1/0000000000000001"), &u)
        .header("oc-chunk-offset", "0")
        .body(body[..5 << 20].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "a repeated chunk");
    let r = dav(&app, "PUT", &uploads(&format!("t1/{:015}-{:015}", 5 << 20, body.len() - 1)), &u)
        .body(body[5 << 20..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "a chunk named by its range");
    assert!(app.names(&u, &u.root).await.is_empty(), "nothing appears before the MOVE");

    let destination = app.url(&files_path(&u, "assembled.bin"));
    let r = dav(&app, "MOVE", &uploads("t1/.file"), &u)
        .header("destination", &destination)
        .header("oc-total-length", (body.len() + 1).to_string())
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "chunks_incomplete").await;
    let r = dav(&app, "MOVE", &uploads("t1/.file"), &u)
        .header("destination", &destination)
        .header("oc-total-length", "many")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The client says which version it read: a destination that is not (or no longer) it wins.
    let r = dav(&app, "MOVE", &uploads("t1/.file"), &u)
        .header("destination", &destination)
        .header("if", format!("<{destination}> ([\"abc\"])"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = dav(&app, "MOVE", &uploads("t1/.file"), &u)
        .header("destination", &destination)
        .header("oc-total-length", body.len().to_string())
        .header("x-oc-mtime", "1700000000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["x-oc-mtime"], "accepted");
    assert!(r.headers().contains_key("oc-fileid") && r.headers().contains_key("oc-etag"));
    let id = app.by_path(&u, "/assembled.bin").await;
    assert_eq!(app.download(&u, &id).await, body);
    let node = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{id}"), &u).send().await.unwrap()).await;
    assert_eq!(node["modified_at"].as_str().unwrap(), "2023-11-14T22:13:20Z");
    assert_eq!(dav(&app, "PROPFIND", &uploads("t1"), &u).send().await.unwrap().status(), StatusCode::NOT_FOUND, "the transfer is gone");
    let r = dav(&app, "MOVE", &uploads("t1/.file"), &u).header("destination", &destination).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a second MOVE finds nothing to commit again");
    // A PUT over a file whose ETag moved since the client read it is refused.
    let r = dav(&app, "PUT", &files_path(&u, "assembled.bin"), &u).header("if-match", "\"stale\"").body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.download(&u, &id).await, body);
    assert_eq!(app.used(&u).await, body.len() as u64);

    // A file shared with eve (an editor) takes a chunked upload as a new version of itself.
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/shares"), &u).json(&json!({"user": "eve", "role": "editor"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let eves = |rest: &str| format!("/remote.php/dav/uploads/eve/{rest}");
    assert_eq!(dav(&app, "MKCOL", &eves("e1"), &eve).send().await.unwrap().status(), StatusCode::CREATED);
    let r = dav(&app, "PUT", &eves("e1/0000000000000000"), &eve).body(b"rewritten by eve".to_vec()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = dav(&app, "MOVE", &eves("e1/.file"), &eve)
        .header("destination", app.url(&files_path(&eve, "Shared/assembled.bin")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.download(&u, &id).await, b"rewritten by eve");
    let versions = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{id}/versions"), &u).send().await.unwrap()).await;
    assert_eq!(versions["items"].as_array().map_or(0, Vec::len), 2, "{versions}");
    let used = app.used(&u).await;

    // Over quota: refused while the chunks arrive, and nothing is left counted.
    assert_eq!(dav(&app, "MKCOL", &uploads("t2"), &u).send().await.unwrap().status(), StatusCode::CREATED);
    let room = (12usize << 20) - used as usize;
    let r = dav(&app, "PUT", &uploads("t2/0000000000000000"), &u).body(data(room + 1, 4)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(dav(&app, "DELETE", &uploads("t2"), &u).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(app.used(&u).await, used);
});

dual_test!(async fn status_ocs_and_app_passwords_answer_as_nextcloud(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("ocs").await;
    let status: Value = app.anon(Method::GET, "/status.php").send().await.unwrap().json().await.unwrap();
    assert_eq!(status["installed"], true);
    assert_eq!(status["productname"], "Stratus");
    let r = app.anon(Method::GET, "/ocs/v1.php/cloud/capabilities?format=json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let caps: Value = dav(&app, "GET", "/ocs/v1.php/cloud/capabilities?format=json", &u).send().await.unwrap().json().await.unwrap();
    assert_eq!(caps["ocs"]["meta"]["statuscode"], 100);
    assert_eq!(caps["ocs"]["data"]["capabilities"]["dav"]["chunking"], "1.0");
    let user: Value = dav(&app, "GET", "/ocs/v2.php/cloud/user?format=json", &u).send().await.unwrap().json().await.unwrap();
    assert_eq!(user["ocs"]["data"]["id"], "ocs");
    assert_eq!(user["ocs"]["meta"]["statuscode"], 200);

    // The login password buys an app password; it works for WebDAV and can be revoked.
    let r: Value = dav(&app, "GET", "/ocs/v2.php/core/getapppassword", &u).send().await.unwrap().json().await.unwrap();
    let secret = r["ocs"]["data"]["apppassword"].as_str().unwrap().to_string();
    let with_app = |method: &str, path: &str| {
        app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(path)).basic_auth("ocs", Some(&secret))
    };
    let r = with_app("PROPFIND", "/remote.php/webdav/").header("depth", "0").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert_eq!(with_app("GET", "/ocs/v2.php/core/getapppassword").send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(with_app("DELETE", "/ocs/v2.php/core/apppassword").send().await.unwrap().status(), StatusCode::OK);
    let r = with_app("PROPFIND", "/remote.php/webdav/").header("depth", "0").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a revoked app password stops at once");
    // A file time the clients would refuse is not kept (nor acknowledged); the upload is.
    for bad in ["nan", "-5", "0", "1e30", "inf", "soon"] {
        let r = dav(&app, "PUT", &files_path(&u, "t.txt"), &u).header("x-oc-mtime", bad).body("x").send().await.unwrap();
        assert!(r.status().is_success(), "{bad}: {}", r.status());
        assert!(r.headers().get("x-oc-mtime").is_none(), "{bad}");
    }
    // Another user's files path is not this caller's drive.
    app.register("other").await;
    let r = dav(&app, "PROPFIND", "/remote.php/dav/files/other/", &u).header("depth", "0").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
});

dual_test!(async fn login_flow_v2_gives_an_app_a_password_of_its_own(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("flow").await;
    let app = &app;
    let start = |agent: &'static str| async move {
        let r = app.anon(Method::POST, "/index.php/login/v2").header("user-agent", agent).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let start: Value = r.json().await.unwrap();
        let poll = start["poll"]["token"].as_str().unwrap().to_string();
        let endpoint = start["poll"]["endpoint"].as_str().unwrap().to_string();
        let token = start["login"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        assert_eq!(start["login"].as_str().unwrap(), app.url(&format!("/index.php/login/v2/flow/{token}")));
        (poll, endpoint, token)
    };
    let (poll, endpoint, token) = start("Mozilla/5.0 (Linux) mirall/3.7.3 (Nextcloud)").await;
    assert_eq!(endpoint, app.url("/index.php/login/v2/poll"));
    let page = app.anon(Method::GET, &format!("/index.php/login/v2/flow/{token}")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<script"), "the login URL opens the web app");
    let polled = || app.client.post(&endpoint).form(&[("token", poll.as_str())]).send();
    assert_eq!(polled().await.unwrap().status(), StatusCode::NOT_FOUND, "not granted yet");
    assert_eq!(app.client.post(&endpoint).send().await.unwrap().status(), StatusCode::BAD_REQUEST);

    // Only a signed-in user sees which app asks, and grants it, once.
    let flow_path = format!("/api/v1/login-flows/{token}");
    assert_eq!(app.anon(Method::GET, &flow_path).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let asked = ok_json(app.req(Method::GET, &flow_path, &u).send().await.unwrap()).await;
    assert!(asked["client"].as_str().unwrap().contains("mirall/3.7.3"), "{asked}");
    let grant = format!("{flow_path}/grant");
    assert_eq!(app.anon(Method::POST, &grant).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.req(Method::POST, &grant, &u).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(app.req(Method::POST, &grant, &u).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    let r = polled().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let granted: Value = r.json().await.unwrap();
    assert_eq!(granted["loginName"], "flow");
    assert_eq!(granted["server"].as_str().unwrap(), app.url(""));
    let password = granted["appPassword"].as_str().unwrap();
    let r = app
        .client
        .request(Method::from_bytes(b"PROPFIND").unwrap(), app.url("/remote.php/dav/files/flow/"))
        .basic_auth("flow", Some(password))
        .header("depth", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS, "the app password opens the drive");
    assert_eq!(polled().await.unwrap().status(), StatusCode::NOT_FOUND, "a flow is taken once");
    let tokens = ok_json(app.req(Method::GET, "/api/v1/me/tokens", &u).send().await.unwrap()).await;
    assert!(tokens.to_string().contains("Login flow: Mozilla/5.0 (Linux) mirall/3.7.3"), "revocable like any token: {tokens}");

    // A flow nobody grants runs out.
    let (_, _, late) = start("late app").await;
    app.clock.advance(chrono::Duration::minutes(21));
    let r = app.req(Method::POST, &format!("/api/v1/login-flows/{late}/grant"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
});

dual_test!(async fn the_trash_is_browsed_restored_and_emptied_as_the_apps_do(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("bin").await;
    let other = app.register("nosy").await;
    let photos = app.mkdir(&u, &u.root, "Photos").await["id"].as_str().unwrap().to_string();
    let file = app.upload(&u, &photos, "sea.jpg", b"waves".to_vec()).await["id"].as_str().unwrap().to_string();
    let r = dav(&app, "DELETE", &files_path(&u, "Photos/sea.jpg"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let trash = "/remote.php/dav/trashbin/bin/trash";
    let listing = dav(&app, "PROPFIND", trash, &u).header("depth", "1").send().await.unwrap();
    assert_eq!(listing.status(), StatusCode::MULTI_STATUS);
    let listing = listing.text().await.unwrap();
    assert!(listing.contains("<nc:trashbin-filename>sea.jpg</nc:trashbin-filename>"), "{listing}");
    assert!(listing.contains("<nc:trashbin-original-location>Photos/sea.jpg</nc:trashbin-original-location>"), "{listing}");
    let item = uuid::Uuid::parse_str(&file).unwrap().simple().to_string();
    assert!(listing.contains(&format!("{trash}/{item}</D:href>")), "{listing}");
    // Nobody else's trash.
    let r = dav(&app, "PROPFIND", trash, &other).header("depth", "1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = dav(&app, "DELETE", &format!("{trash}/{item}"), &other).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Restored where it was.
    let r = dav(&app, "MOVE", &format!("{trash}/{item}"), &u)
        .header("destination", app.url(&format!("/remote.php/dav/trashbin/bin/restore/{item}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.download(&u, &app.by_path(&u, "/Photos/sea.jpg").await).await, b"waves");

    // Purged one by one, or all at once; the quota follows.
    dav(&app, "DELETE", &files_path(&u, "Photos/sea.jpg"), &u).send().await.unwrap();
    let r = dav(&app, "DELETE", &format!("{trash}/{item}"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.used(&u).await, 0);
    app.upload(&u, &photos, "sky.jpg", b"clouds".to_vec()).await;
    dav(&app, "DELETE", &files_path(&u, "Photos"), &u).send().await.unwrap();
    let listing = dav(&app, "PROPFIND", trash, &u).header("depth", "1").send().await.unwrap().text().await.unwrap();
    assert!(listing.contains("<nc:trashbin-filename>Photos</nc:trashbin-filename>"), "{listing}");
    assert_eq!(dav(&app, "DELETE", trash, &u).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let listing = dav(&app, "PROPFIND", trash, &u).header("depth", "1").send().await.unwrap().text().await.unwrap();
    assert!(!listing.contains("trashbin-filename"), "{listing}");
    assert_eq!(app.used(&u).await, 0);
});
