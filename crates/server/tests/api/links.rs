//! Public links, the public page, signed download URLs and folder archives.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn link(app: &TestApp, u: &TestUser, node: &str, body: Value) -> reqwest::Response {
    app.req(Method::POST, &format!("/api/v1/nodes/{node}/links"), u).json(&body).send().await.unwrap()
}

/// Python's zipfile reads the archive: `name:size:sha256` per file, sorted.
fn python_unzip(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.zip");
    std::fs::write(&path, bytes).unwrap();
    let script = "import sys,zipfile,hashlib\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n\
        print('\\n'.join(sorted(f'{i.filename}:{i.file_size}:{hashlib.sha256(z.read(i)).hexdigest()[:12]}' for i in z.infolist())))";
    let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn short_hash(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))[..12].to_string()
}

dual_test!(async fn folder_links_browse_and_download_inside_never_outside(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("linker").await;
    let album = app.mkdir(&u, &u.root, "Album").await;
    let album_id = album["id"].as_str().unwrap();
    let inner = app.mkdir(&u, album_id, "inner").await;
    let big = data(5 << 20, 21);
    app.upload(&u, album_id, "a.txt", b"alpha".to_vec()).await;
    app.upload(&u, inner["id"].as_str().unwrap(), "big.bin", big.clone()).await;
    app.upload(&u, &u.root, "secret.txt", b"outside".to_vec()).await;

    let r = link(&app, &u, album_id, json!({"password": "open sesame"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 22, "at least 128 bits");
    assert_eq!(created["url"], format!("/s/{token}"));
    assert_eq!(created["has_password"], true);
    assert!(created.get("password_hash").is_none() && created.get("password").is_none());

    let view = |query: &str, password: Option<&str>| {
        let mut req = app.anon(Method::GET, &format!("/api/v1/public/{token}{query}"));
        if let Some(p) = password {
            req = req.header("x-link-password", p);
        }
        req.send()
    };
    for password in [None, Some("wrong")] {
        let r = view("", password).await.unwrap();
        let text = r.text().await.unwrap();
        assert!(text.contains("link_password") && !text.contains("Album") && !text.contains("a.txt"), "{text}");
    }
    let seen = ok_json(view("", Some("open sesame")).await.unwrap()).await;
    assert_eq!(seen["node"]["name"], "Album");
    let names: Vec<&str> = seen["children"]["items"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["inner", "a.txt"]);
    assert!(seen["node"].get("owner_id").is_none());
    let deeper = ok_json(view("?path=/inner", Some("open sesame")).await.unwrap()).await;
    assert_eq!(deeper["children"]["items"][0]["name"], "big.bin");
    // The query form of the password works too; paths cannot climb out.
    assert_eq!(view("?password=open%20sesame", None).await.unwrap().status(), StatusCode::OK);
    let r = view("?path=/../secret.txt", Some("open sesame")).await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    let r = view("?path=/secret.txt", Some("open sesame")).await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;

    let download = |path: &str| {
        app.anon(Method::GET, &format!("/s/{token}/download?path={path}")).header("x-link-password", "open sesame").send()
    };
    assert_eq!(download("/a.txt").await.unwrap().bytes().await.unwrap().as_ref(), b"alpha");
    let r = download("/inner/big.bin").await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), big);
    // The whole folder as an archive that Python reads back.
    let r = download("/").await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/zip");
    let listing = python_unzip(&r.bytes().await.unwrap());
    let expected = format!("a.txt:5:{}\ninner/:0:{}\ninner/big.bin:{}:{}", short_hash(b"alpha"), short_hash(b""), 5 << 20, short_hash(&big));
    assert_eq!(listing.trim(), expected);

    // The browser page is the web app (it asks for the password itself), with a status that
    // already tells whether the link works, and a CSP that allows no inline script.
    let r = app.anon(Method::GET, &format!("/s/{token}?password=open%20sesame")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert!(r.text().await.unwrap().contains("<script type=\"module\" src=\"/assets/app.js\">"));
    let r = app.anon(Method::GET, &format!("/s/{token}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");

    // Deactivated, then deleted: gone.
    let link_id = created["id"].as_str().unwrap();
    let r = app.req(Method::PATCH, &format!("/api/v1/links/{link_id}"), &u).json(&json!({"active": false})).send().await.unwrap();
    assert_eq!(ok_json(r).await["active"], false);
    assert_problem(view("", Some("open sesame")).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::DELETE, &format!("/api/v1/links/{link_id}"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let list = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{album_id}/links"), &u).send().await.unwrap()).await;
    assert!(list["items"].as_array().unwrap().is_empty());
});

dual_test!(async fn download_limits_hold_under_concurrency_and_links_expire(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("limiter").await;
    let file = app.upload(&u, &u.root, "once.txt", b"limited".to_vec()).await;
    let file_id = file["id"].as_str().unwrap();
    let created: Value = link(&app, &u, file_id, json!({"max_downloads": 2})).await.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let path = format!("/s/{token}/download");
    // Looking (HEAD) is not downloading: it does not count.
    for _ in 0..3 {
        assert_eq!(app.anon(Method::HEAD, &path).send().await.unwrap().status(), StatusCode::OK);
    }
    let tries = (0..8).map(|_| app.anon(Method::GET, &path).send());
    let statuses: Vec<StatusCode> = futures_util::future::join_all(tries).await.into_iter().map(|r| r.unwrap().status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::GONE).count(), 6, "{statuses:?}");
    assert_problem(app.anon(Method::GET, &path).send().await.unwrap(), StatusCode::GONE, "link_exhausted").await;

    let soon = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let created: Value = link(&app, &u, file_id, json!({"expires_at": soon})).await.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    eventually("the link expires", || async {
        app.anon(Method::GET, &format!("/api/v1/public/{token}")).send().await.unwrap().status() == StatusCode::GONE
    })
    .await;

    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    for (body, code) in [
        (json!({"expires_at": past}), "invalid_expiry"),
        (json!({"max_downloads": -1}), "invalid_limit"),
        (json!({"max_downloads": 0}), "invalid_limit"),
        (json!({"password": "x".repeat(1025)}), "invalid_password"),
        (json!({"upload_only": true}), "not_a_folder"),
    ] {
        assert_problem(link(&app, &u, file_id, body).await, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let r = link(&app, &u, file_id, json!({"max_downloads": "lots"})).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    assert_problem(app.anon(Method::GET, "/api/v1/public/not-a-token").send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
});

dual_test!(async fn file_drops_take_uploads_and_show_nothing(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("dropper").await;
    let inbox = app.mkdir(&u, &u.root, "Inbox").await;
    let inbox_id = inbox["id"].as_str().unwrap();
    app.upload(&u, inbox_id, "existing.txt", b"private".to_vec()).await;
    let created: Value = link(&app, &u, inbox_id, json!({"upload_only": true})).await.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();

    let part = |name: &str, body: &[u8]| reqwest::multipart::Part::bytes(body.to_vec()).file_name(name.to_string());
    for _ in 0..2 {
        let form = reqwest::multipart::Form::new().part("file", part("existing.txt", b"from a visitor"));
        let r = app.anon(Method::POST, &format!("/api/v1/public/{token}/files")).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert_eq!(app.names(&u, inbox_id).await, ["existing (1).txt", "existing (2).txt", "existing.txt"]);
    let existing = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/Inbox/existing.txt", &u).send().await.unwrap()).await;
    assert_eq!(app.download(&u, existing["id"].as_str().unwrap()).await, b"private", "a drop never overwrites");
    assert_eq!(app.used(&u).await, 7 + 2 * 14);

    let seen = ok_json(app.anon(Method::GET, &format!("/api/v1/public/{token}")).send().await.unwrap()).await;
    assert_eq!(seen["link"]["upload_only"], true);
    assert!(seen.get("children").is_none() && !seen.to_string().contains("existing"));
    let r = app.anon(Method::GET, &format!("/s/{token}/download?path=/existing.txt")).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.anon(Method::GET, &format!("/s/{token}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A link that is not a drop takes no uploads.
    let plain: Value = link(&app, &u, inbox_id, json!({})).await.json().await.unwrap();
    let form = reqwest::multipart::Form::new().part("file", part("x.txt", b"x"));
    let r = app.anon(Method::POST, &format!("/api/v1/public/{}/files", plain["token"].as_str().unwrap())).multipart(form).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
});

dual_test!(async fn signed_urls_work_without_auth_until_expiry_or_deletion(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("signer").await;
    let other = app.register("nosy").await;
    let file = app.upload(&u, &u.root, "report.pdf", b"%PDF-1.7".to_vec()).await;
    let file_id = file["id"].as_str().unwrap();
    let sign = |who: &TestUser, body: Value| app.req(Method::POST, &format!("/api/v1/nodes/{file_id}/download-url"), who).json(&body).send();
    let signed = ok_json(sign(&u, json!({"expires_in": 60})).await.unwrap()).await;
    let url = signed["url"].as_str().unwrap().to_string();
    let r = app.anon(Method::GET, &url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.7");
    let r = app.anon(Method::GET, &url).header("range", "bytes=1-3").send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"PDF");

    let tampered = url.replace("signature=", "signature=00");
    assert_problem(app.anon(Method::GET, &tampered).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let other_file = app.upload(&u, &u.root, "other.txt", b"other".to_vec()).await;
    let swapped = url.replace(file_id, other_file["id"].as_str().unwrap());
    assert_problem(app.anon(Method::GET, &swapped).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(sign(&other, json!({"expires_in": 60})).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    for bad in [0, 700_000] {
        assert_problem(sign(&u, json!({"expires_in": bad})).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_expiry").await;
    }

    let short = ok_json(sign(&u, json!({"expires_in": 1})).await.unwrap()).await;
    let short_url = short["url"].as_str().unwrap().to_string();
    eventually("the URL expires", || async {
        app.anon(Method::GET, &short_url).send().await.unwrap().status() == StatusCode::GONE
    })
    .await;
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{file_id}"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(app.anon(Method::GET, &url).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
});

dual_test!(async fn folders_download_as_streamed_zip_archives(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("zipper").await;
    let docs = app.mkdir(&u, &u.root, "Docs").await;
    let docs_id = docs["id"].as_str().unwrap();
    let deep = app.mkdir(&u, docs_id, "déjà vu").await;
    app.mkdir(&u, docs_id, "empty").await;
    let big = data(9 << 20, 31);
    app.upload(&u, deep["id"].as_str().unwrap(), "big.bin", big.clone()).await;
    app.upload(&u, docs_id, "note.txt", b"hello".to_vec()).await;
    app.upload(&u, docs_id, "nothing.txt", vec![]).await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{docs_id}/zip"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("Docs.zip"));
    let listing = python_unzip(&r.bytes().await.unwrap());
    let expected = [
        format!("déjà vu/:0:{}", short_hash(b"")),
        format!("déjà vu/big.bin:{}:{}", 9 << 20, short_hash(&big)),
        format!("empty/:0:{}", short_hash(b"")),
        format!("note.txt:5:{}", short_hash(b"hello")),
        format!("nothing.txt:0:{}", short_hash(b"")),
    ];
    assert_eq!(listing.trim(), expected.join("\n"));
    let file = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/Docs/note.txt", &u).send().await.unwrap()).await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/zip", file["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "not_a_folder").await;
});

dual_test!(async fn a_selection_downloads_as_one_archive_of_what_the_caller_may_read(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("picker").await;
    let eve = app.register("eve").await;
    let album = app.mkdir(&u, &u.root, "Album").await;
    let album_id = album["id"].as_str().unwrap();
    app.upload(&u, album_id, "a.txt", b"alpha".to_vec()).await;
    let inner = app.mkdir(&u, album_id, "inner").await;
    let big = data(5 << 20, 22);
    app.upload(&u, inner["id"].as_str().unwrap(), "big.bin", big.clone()).await;
    let note = app.upload(&u, &u.root, "note.txt", b"a note".to_vec()).await;
    let note_id = note["id"].as_str().unwrap();
    let zip = |who: &TestUser, items: String| app.req(Method::GET, &format!("/api/v1/zip?items={items}"), who).send();

    let r = zip(&u, format!("{album_id},{note_id}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let listing = python_unzip(&r.bytes().await.unwrap());
    let expected = [
        "Album/:0:e3b0c44298fc".to_string(),
        format!("Album/a.txt:5:{}", short_hash(b"alpha")),
        "Album/inner/:0:e3b0c44298fc".to_string(),
        format!("Album/inner/big.bin:{}:{}", big.len(), short_hash(&big)),
        format!("note.txt:6:{}", short_hash(b"a note")),
    ];
    assert_eq!(listing.lines().collect::<Vec<_>>(), expected);

    // Two items of one name (from two folders) are both kept.
    let other = app.upload(&u, album_id, "note.txt", b"another note".to_vec()).await;
    let r = zip(&u, format!("{note_id},{}", other["id"].as_str().unwrap())).await.unwrap();
    let listing = python_unzip(&r.bytes().await.unwrap());
    assert!(listing.contains("note.txt:6:") && listing.contains("note (2).txt:12:"), "{listing}");

    // Names that differ only in case would overwrite each other on extraction: numbered too.
    // The drive's top is named "drive", and an item named twice is in once.
    let upper = app.upload(&u, &u.root, "NOTE.txt", b"loud".to_vec()).await;
    let r = zip(&u, format!("{note_id},{},{note_id},{}", upper["id"].as_str().unwrap(), u.root)).await.unwrap();
    let listing = python_unzip(&r.bytes().await.unwrap());
    assert!(listing.lines().any(|l| l.starts_with("NOTE (2).txt:4:")), "{listing}");
    assert_eq!(listing.lines().filter(|l| l.starts_with("note.txt:")).count(), 1, "{listing}");
    assert!(listing.lines().any(|l| l.starts_with("drive/Album/a.txt:5:")), "{listing}");
    assert!(!listing.lines().any(|l| l.starts_with('/')), "{listing}");
    // One item the caller may not read refuses the whole archive, before a byte is sent.
    assert_problem(zip(&eve, note_id.to_string()).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(zip(&u, String::new()).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_items").await;
    assert_problem(zip(&u, "x,y".into()).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_items").await;
    let many = vec![note_id; 1001].join(",");
    assert_problem(zip(&u, many).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_items").await;
});
