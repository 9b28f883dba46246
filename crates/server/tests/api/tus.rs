//! tus 1.0, driven by tuspy (a client nobody here wrote) and by hand for the edge cases.

use std::io::{BufRead, BufReader};

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{Method, StatusCode};

use crate::helpers::*;

const CLIENT: &str = r#"
import os, sys
from tusclient import client
from tusclient.storage import filestorage
base, token, path, parent, chunk, store = sys.argv[1:7]
c = client.TusClient(base + "/api/v1/tus/", headers={"Authorization": "Bearer " + token})
up = c.uploader(path, chunk_size=int(chunk), metadata={"filename": os.path.basename(path), "parent_id": parent},
                store_url=True, url_storage=filestorage.FileStorage(store), upload_checksum=True)
print("offset", up.offset, flush=True)
if not up.url:
    up.set_url(up.create_url())
print("url", up.url, flush=True)
up.upload()
print("done", up.offset, flush=True)
"#;

fn tus(app: &TestApp, method: Method, path: &str, u: &TestUser) -> reqwest::RequestBuilder {
    app.req(method, path, u).header("tus-resumable", "1.0.0")
}

dual_test!(async fn a_tus_client_uploads_and_resumes_after_being_killed(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("tusser").await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(24 << 20, 71);
    let file = dir.path().join("video.mp4");
    std::fs::write(&file, &bytes).unwrap();
    let script = dir.path().join("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let store = dir.path().join("urls.json");
    let command = || {
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(&script)
            .args([&app.base, &u.token])
            .arg(&file)
            .args([&u.root, &(64 * 1024).to_string()])
            .arg(&store)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    // First run: killed once the server holds 2 MiB of it.
    let mut child = command().spawn().expect("python3 with tuspy (scripts/test.sh installs it)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "offset 0");
    let url = lines.next().unwrap().unwrap().strip_prefix("url ").unwrap().to_string();
    let path = url.strip_prefix(&app.base).unwrap().to_string();
    let offset = || async { tus(&app, Method::HEAD, &path, &u).send().await.unwrap().headers()["upload-offset"].to_str().unwrap().parse::<usize>().unwrap() };
    eventually("2 MiB arrived", || async { offset().await >= 2 << 20 }).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let reached = offset().await;
    assert!(reached < bytes.len(), "killed before the end");
    assert!(app.names(&u, &u.root).await.is_empty(), "nothing visible before the last byte");

    // Second run: tuspy finds its upload again and resumes where the server stands.
    let mut again = command();
    let out = tokio::task::spawn_blocking(move || again.output().unwrap()).await.unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    let first = printed.lines().next().unwrap();
    let resumed_from: usize = first.strip_prefix("offset ").unwrap().parse().unwrap();
    assert!(resumed_from >= reached && resumed_from > 0, "{printed}{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains(&format!("done {}", bytes.len())), "{printed}{}", String::from_utf8_lossy(&out.stderr));
    let node = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/video.mp4", &u).send().await.unwrap()).await;
    assert_eq!(app.download(&u, node["id"].as_str().unwrap()).await, bytes);
    assert_eq!(app.used(&u).await, bytes.len() as u64);
    let r = tus(&app, Method::HEAD, &path, &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a finished upload is gone");
});

dual_test!(async fn tus_protocol_edges(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("tusedge").await;
    let r = app.anon(Method::OPTIONS, "/api/v1/tus/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let ext = r.headers()["tus-extension"].to_str().unwrap();
    for e in ["creation", "creation-with-upload", "creation-defer-length", "termination", "checksum", "expiration"] {
        assert!(ext.split(',').any(|x| x == e), "{ext}");
    }
    assert_eq!(r.headers()["tus-checksum-algorithm"], "sha1,sha256");
    let r = app.req(Method::POST, "/api/v1/tus/", &u).header("upload-length", "5").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.headers()["tus-version"], "1.0.0");

    let meta = format!("filename {},parent_id {}", STANDARD.encode("notes.txt"), STANDARD.encode(&u.root));
    // Deferred length, then two chunks; the length arrives with the last one.
    let r = tus(&app, Method::POST, "/api/v1/tus/", &u).header("upload-defer-length", "1").header("upload-metadata", &meta).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().contains_key("upload-expires"));
    let path = r.headers()["location"].to_str().unwrap().to_string();
    let head = tus(&app, Method::HEAD, &path, &u).send().await.unwrap();
    assert_eq!((head.headers()["upload-offset"].to_str().unwrap(), head.headers()["upload-defer-length"].to_str().unwrap()), ("0", "1"));
    let patch = |offset: &str, body: &'static [u8]| {
        tus(&app, Method::PATCH, &path, &u).header("content-type", "application/offset+octet-stream").header("upload-offset", offset).body(body)
    };
    assert_eq!(patch("0", b"hello ").send().await.unwrap().headers()["upload-offset"], "6");
    // Wrong offset: 409. Wrong type: 415. A checksum that does not match: 460, nothing kept.
    assert_eq!(patch("3", b"x").send().await.unwrap().status(), StatusCode::CONFLICT);
    let r = tus(&app, Method::PATCH, &path, &u).header("upload-offset", "6").body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let wrong = format!("sha256 {}", STANDARD.encode([0u8; 32]));
    let r = patch("6", b"world").header("upload-checksum", wrong).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 460);
    let right = format!("sha256 {}", STANDARD.encode(<sha2::Sha256 as sha2::Digest>::digest(b"world")));
    let r = patch("6", b"world").header("upload-checksum", right).header("upload-length", "11").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let id = r.headers()["stratus-node-id"].to_str().unwrap().to_string();
    assert_eq!(app.download(&u, &id).await, b"hello world");

    // creation-with-upload, then termination of another.
    let meta = format!("filename {}", STANDARD.encode("one-shot.txt"));
    let r = tus(&app, Method::POST, "/api/v1/tus/", &u)
        .header("upload-length", "3")
        .header("upload-metadata", &meta)
        .header("content-type", "application/offset+octet-stream")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!((r.status(), r.headers()["upload-offset"].to_str().unwrap()), (StatusCode::CREATED, "3"));
    let meta = format!("filename {}", STANDARD.encode("dropped.bin"));
    let r = tus(&app, Method::POST, "/api/v1/tus/", &u).header("upload-length", "1000").header("upload-metadata", &meta).send().await.unwrap();
    let dropped = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(tus(&app, Method::DELETE, &dropped, &u).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(tus(&app, Method::HEAD, &dropped, &u).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(app.names(&u, &u.root).await, ["notes.txt", "one-shot.txt"]);
    assert_eq!(app.used(&u).await, 14);
    // Bad creations.
    let r = tus(&app, Method::POST, "/api/v1/tus/", &u).header("upload-length", "1").send().await.unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "missing_filename").await;
    let r = tus(&app, Method::POST, "/api/v1/tus/", &u).header("upload-metadata", &meta).send().await.unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "missing_length").await;
    let r = tus(&app, Method::POST, "/api/v1/tus/", &u).header("upload-length", "2000000000").header("upload-metadata", &meta).send().await.unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
});
