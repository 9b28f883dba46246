//! WebDAV under `/dav/`: the litmus suite (every test), an rclone round trip, and the rules
//! the service keeps whatever the protocol (names, quota, trash, versions, sharing, locks in
//! the database).

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

fn dav(app: &TestApp, method: &str, path: &str, user: &TestUser) -> reqwest::RequestBuilder {
    app.client
        .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&format!("/dav{path}")))
        .basic_auth(user_name(user), Some(&user.password))
}

fn user_name(user: &TestUser) -> String {
    user.username.clone()
}

fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

dual_test!(async fn litmus_passes_every_test(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("lit").await;
    let dir = tempfile::tempdir().unwrap();
    let (url, name, password) = (app.url("/dav/"), user_name(&u), u.password.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("litmus").current_dir(dir.path()).args([&url, &name, &password]).output()
    })
    .await
    .unwrap()
    .expect("litmus (scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut total = 0;
    for suite in ["basic", "copymove", "props", "locks", "http"] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("summary for `{suite}'")))
            .unwrap_or_else(|| panic!("suite {suite} did not run:\n{text}"));
        assert!(line.contains(" 0 failed"), "{line}\n{text}");
        let run: u32 = line.split("of ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
        total += run;
    }
    assert_eq!(total, 104, "{text}");
});

fn write_tree(root: &Path, files: usize) {
    for i in 0..files {
        let dir = root.join(format!("d{}", i % 7)).join(format!("e{}", i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("file {i}.bin")), data(1000 + i * 37, i as u64)).unwrap();
    }
}

dual_test!(async fn rclone_copies_checks_syncs_and_purges(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("rclone").await;
    let local = tempfile::tempdir().unwrap();
    write_tree(local.path(), 200);
    let obscured = run_ok(std::process::Command::new("rclone").args(["obscure", &u.password])).stdout;
    let remote_env = [
        ("RCLONE_CONFIG_DRIVE_TYPE", "webdav".to_string()),
        ("RCLONE_CONFIG_DRIVE_URL", app.url("/dav/")),
        ("RCLONE_CONFIG_DRIVE_VENDOR", "other".to_string()),
        ("RCLONE_CONFIG_DRIVE_USER", user_name(&u)),
        ("RCLONE_CONFIG_DRIVE_PASS", String::from_utf8(obscured).unwrap().trim().to_string()),
        ("RCLONE_CONFIG", "/dev/null".to_string()),
    ];
    let src = local.path().display().to_string();
    let rclone = move |args: Vec<String>| {
        let env = remote_env.clone();
        async move {
            tokio::task::spawn_blocking(move || run_ok(std::process::Command::new("rclone").args(&args).envs(env)))
                .await
                .unwrap()
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    rclone(args(&["copy", &src, "drive:tree"])).await;
    rclone(args(&["check", "--download", &src, "drive:tree"])).await;
    let tree = app.by_path(&u, "/tree").await;
    let listed = app.names(&u, &tree).await;
    assert_eq!(listed.len(), 7, "{listed:?}");

    // Local changes: 20 files deleted, 5 rewritten, one new folder; sync makes the drive match.
    for i in 0..20 {
        std::fs::remove_file(local.path().join(format!("d{}/e{}/file {i}.bin", i % 7, i % 3))).unwrap();
    }
    for i in 100..105 {
        std::fs::write(local.path().join(format!("d{}/e{}/file {i}.bin", i % 7, i % 3)), b"rewritten").unwrap();
    }
    std::fs::create_dir_all(local.path().join("new")).unwrap();
    std::fs::write(local.path().join("new/x.txt"), b"x").unwrap();
    rclone(args(&["sync", &src, "drive:tree"])).await;
    rclone(args(&["check", "--download", &src, "drive:tree"])).await;
    let rewritten = app.by_path(&u, "/tree/d2/e1/file 100.bin").await;
    assert_eq!(app.download(&u, &rewritten).await, b"rewritten");
    let versions = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{rewritten}/versions"), &u).send().await.unwrap()).await;
    assert_eq!(versions["items"].as_array().map_or(0, Vec::len), 2, "a rewrite over WebDAV is a new version: {versions}");
    rclone(args(&["purge", "drive:tree"])).await;
    assert!(!app.names(&u, &u.root).await.contains(&"tree".to_string()));
    let trash = ok_json(app.req(Method::GET, "/api/v1/trash", &u).send().await.unwrap()).await;
    assert!(trash.to_string().contains("tree"), "purged over WebDAV lands in the trash: {trash}");
});

dual_test!(async fn webdav_keeps_the_drive_rules(backend) {
    let app = TestApp::spawn_with(backend, |c| c.default_quota = 1 << 20).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;

    // Authentication: a challenge without credentials; app tokens work as passwords.
    let r = app.client.request(Method::from_bytes(b"PROPFIND").unwrap(), app.url("/dav/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let token = ok_json_created(app.req(Method::POST, "/api/v1/me/tokens", &ann).json(&json!({"name": "dav"})).send().await.unwrap()).await;
    let r = app
        .client
        .request(Method::from_bytes(b"PROPFIND").unwrap(), app.url("/dav/"))
        .basic_auth("ann", Some(token["token"].as_str().unwrap()))
        .header("depth", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let r = app.client.request(Method::OPTIONS, app.url("/dav/")).send().await.unwrap();
    assert_eq!(r.headers()["dav"], "1, 2");

    // PUT: a new file, then a new version of it; the quota counts both.
    assert_eq!(dav(&app, "PUT", "/notes.txt", &ann).body("one").send().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(dav(&app, "PUT", "/notes.txt", &ann).body("two!").send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let id = app.by_path(&ann, "/notes.txt").await;
    assert_eq!(app.download(&ann, &id).await, b"two!");
    assert_eq!(app.used(&ann).await, 4);
    // Refused before the body is read, so the server closes that connection: a client of its own.
    let r = reqwest::Client::new()
        .put(app.url("/dav/big.bin"))
        .basic_auth("ann", Some(&ann.password))
        .body(vec![7u8; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE, "over quota: 507 (RFC 4331)");
    assert_eq!(app.used(&ann).await, 4);
    let r = dav(&app, "GET", "/notes.txt", &ann).header("range", "bytes=1-2").send().await.unwrap();
    assert_eq!((r.status(), r.text().await.unwrap()), (StatusCode::PARTIAL_CONTENT, "wo".to_string()));

    // Properties: getetag is the content hash; quota properties; dead properties survive MOVE and COPY.
    let body = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:quota-used-bytes/><D:quota-available-bytes/></D:prop></D:propfind>"#;
    let text = dav(&app, "PROPFIND", "/notes.txt", &ann).header("depth", "0").body(body).send().await.unwrap().text().await.unwrap();
    let node = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{id}"), &ann).send().await.unwrap()).await;
    assert!(text.contains(node["content_hash"].as_str().unwrap()), "{text}");
    assert!(text.contains("<D:quota-used-bytes>4</D:quota-used-bytes>"), "{text}");
    let set = r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:colour>blue</Z:colour></D:prop></D:set></D:propertyupdate>"#;
    assert_eq!(dav(&app, "PROPPATCH", "/notes.txt", &ann).body(set).send().await.unwrap().status(), StatusCode::MULTI_STATUS);
    let r = dav(&app, "MKCOL", "/docs", &ann).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let dest = app.url("/dav/docs/moved.txt");
    assert_eq!(dav(&app, "MOVE", "/notes.txt", &ann).header("destination", &dest).send().await.unwrap().status(), StatusCode::CREATED);
    let copy = app.url("/dav/docs/copied.txt");
    assert_eq!(dav(&app, "COPY", "/docs/moved.txt", &ann).header("destination", &copy).send().await.unwrap().status(), StatusCode::CREATED);
    let ask = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:colour xmlns:Z="urn:z"/></D:prop></D:propfind>"#;
    for path in ["/docs/moved.txt", "/docs/copied.txt"] {
        let text = dav(&app, "PROPFIND", path, &ann).header("depth", "0").body(ask).send().await.unwrap().text().await.unwrap();
        assert!(text.contains(">blue</colour>"), "{path}: {text}");
    }

    // Bad input.
    let r = dav(&app, "PROPFIND", "/", &ann).header("depth", "0").body("<D:propfind xmlns:D='DAV:'><oops").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = dav(&app, "PROPFIND", "/", &ann).header("depth", "infinity").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let here = app.url("/dav/docs/moved.txt");
    assert_eq!(dav(&app, "MOVE", "/docs/moved.txt", &ann).header("destination", &here).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let r = dav(&app, "MOVE", "/docs/moved.txt", &ann).header("destination", "http://elsewhere.example/dav/x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    for path in ["/docs/a%2Fb", "/docs/..%2f..%2fx"] {
        let r = dav(&app, "PUT", path, &ann).body("x").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    // Dot segments the client resolves itself land outside /dav/: nothing there.
    let r = dav(&app, "PUT", "/docs/%2e%2e/%2e%2e/etc", &ann).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let mut names = app.names(&ann, &ann.root).await;
    names.sort();
    assert_eq!(names, ["docs"], "nothing was written anywhere else");
    let r = dav(&app, "PUT", "/docs/bad%00name", &ann).body("x").send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = dav(&app, "UNLOCK", "/docs/moved.txt", &ann).header("lock-token", "<opaquelocktoken:not-held>").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Locks live in the database: a second server on it refuses a write without the token.
    let lockinfo = r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>ann</D:owner></D:lockinfo>"#;
    let r = dav(&app, "LOCK", "/docs/moved.txt", &ann).header("timeout", "Second-600").body(lockinfo).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = r.headers()["lock-token"].to_str().unwrap().to_string();
    let other = TestApp::spawn_with(backend, |c| {
        c.database_url = Some(app.database_url());
        c.data_dir = app.data_dir();
    })
    .await;
    let r = dav(&other, "PUT", "/docs/moved.txt", &ann).body("sneaky").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    let r = dav(&other, "PUT", "/docs/moved.txt", &ann).header("if", format!("({token})")).body("mine").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = dav(&app, "DELETE", "/docs", &ann).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED, "a locked member locks its folder's deletion");
    assert_eq!(dav(&other, "UNLOCK", "/docs/moved.txt", &ann).header("lock-token", &token).send().await.unwrap().status(), StatusCode::NO_CONTENT);

    // DELETE goes to the trash.
    assert_eq!(dav(&app, "DELETE", "/docs", &ann).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let trash = ok_json(app.req(Method::GET, "/api/v1/trash", &ann).send().await.unwrap()).await;
    assert!(trash.to_string().contains("docs"), "{trash}");

    // Shared items appear under /Shared with the share's permissions.
    let folder = app.mkdir(&bob, &bob.root, "Team").await;
    let folder = folder["id"].as_str().unwrap().to_string();
    app.upload(&bob, &folder, "plan.txt", b"bob's plan".to_vec()).await;
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{folder}/shares"), &bob).json(&json!({"user": "ann", "role": "viewer"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let listing = dav(&app, "PROPFIND", "/", &ann).header("depth", "1").send().await.unwrap().text().await.unwrap();
    assert!(listing.contains("<D:href>/dav/Shared/</D:href>"), "{listing}");
    let listing = dav(&app, "PROPFIND", "/Shared/", &ann).header("depth", "1").send().await.unwrap().text().await.unwrap();
    assert!(listing.contains("/dav/Shared/Team/"), "{listing}");
    let r = dav(&app, "GET", "/Shared/Team/plan.txt", &ann).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), &b"bob's plan"[..]);
    let r = dav(&app, "PUT", "/Shared/Team/plan.txt", &ann).body("ann's plan").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a viewer cannot write");
    let shares = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{folder}/shares"), &bob).send().await.unwrap()).await;
    let share = shares["items"][0]["id"].as_str().unwrap().to_string();
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{folder}/shares/{share}"), &bob).json(&json!({"role": "editor"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ann_used = app.used(&ann).await;
    let r = dav(&app, "PUT", "/Shared/Team/plan.txt", &ann).body("ann's plan").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "an editor can");
    assert_eq!((app.used(&ann).await, app.used(&bob).await), (ann_used, 10), "the owner's quota pays");
    assert_eq!(dav(&app, "DELETE", "/Shared", &ann).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(dav(&app, "MKCOL", "/Shared", &ann).send().await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
});

async fn ok_json_created(r: reqwest::Response) -> serde_json::Value {
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

dual_test!(async fn propfind_depth_one_lists_a_folder_of_many_pages_whole_and_in_order(backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("lister").await;
    let folder = app.mkdir(&ann, &ann.root, "many").await["id"].as_str().unwrap().to_string();
    // More children than two pages of the streamed listing, a dead property on the last one.
    let count = 1_001;
    for chunk in (0..count).collect::<Vec<_>>().chunks(50) {
        let names: Vec<String> = chunk.iter().map(|i| format!("item {i:04}.txt")).collect();
        futures_util::future::join_all(names.iter().map(|n| app.upload(&ann, &folder, n, vec![b'x'; 3]))).await;
    }
    app.mkdir(&ann, &folder, "zz folder").await;
    let set = r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:colour>green</Z:colour></D:prop></D:set></D:propertyupdate>"#;
    let r = dav(&app, "PROPPATCH", &format!("/many/item {:04}.txt", count - 1).replace(' ', "%20"), &ann).body(set).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);

    let r = dav(&app, "PROPFIND", "/many/", &ann).header("depth", "1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let text = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let hrefs: Vec<String> = doc.descendants().filter(|n| n.has_tag_name(("DAV:", "href"))).map(|n| n.text().unwrap().to_string()).collect();
    let mut expected = vec!["/dav/many/".to_string(), "/dav/many/zz%20folder/".to_string()];
    expected.extend((0..count).map(|i| format!("/dav/many/item%20{i:04}.txt")));
    assert_eq!(hrefs, expected, "the folder, then folders first, then every file by name, once");
    let colour: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name(("urn:z", "colour"))).filter_map(|n| n.text()).collect();
    assert_eq!(colour, ["green"], "the dead property of the last page's child");
});
