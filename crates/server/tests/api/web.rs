//! The web app as the server delivers it: the page at every app path, its modules, the
//! headers that keep it safe, and files shown in the page (previews, thumbnails). The app's
//! behaviour itself is tested in a real browser by `web-tests/` (the README's test command).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};

use crate::helpers::*;

dual_test!(async fn the_app_and_every_module_it_imports_are_served_with_a_strict_policy(backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/", "/login", "/files", &format!("/files/{}", uuid::Uuid::now_v7()), "/trash", "/shared", "/search?q=x", "/admin/users"] {
        let r = app.anon(Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let html = r.text().await.unwrap();
        assert!(html.contains("<title>Stratus</title>") && !html.contains("<script>"), "no inline script");
    }
    // Every module reachable from app.js is served as JavaScript (a missing one would break
    // the app in the browser only).
    let mut seen = BTreeSet::new();
    let mut todo = vec!["/assets/app.js".to_string()];
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let r = app.anon(Method::GET, &path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8", "{path}");
        let source = r.text().await.unwrap();
        assert!(!source.contains("innerHTML") && !source.contains("insertAdjacentHTML"), "{path} builds HTML from strings");
        for part in source.split("from \"").skip(1) {
            todo.push(part.split('"').next().unwrap().to_string());
        }
    }
    assert!(seen.len() >= 10, "{seen:?}");
    let css = app.anon(Method::GET, "/assets/app.css").send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.text().await.unwrap().contains("prefers-color-scheme: dark"));
    assert_eq!(app.anon(Method::GET, "/assets/nope.js").send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(app.anon(Method::GET, "/assets/..%2Fsrc%2Flib.rs").send().await.unwrap().status(), StatusCode::NOT_FOUND);
});

dual_test!(async fn files_are_shown_inline_only_when_they_cannot_run_script(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("viewer").await;
    let content = |id: &str, query: &str| app.req(Method::GET, &format!("/api/v1/nodes/{id}/content{query}"), &u).send();
    for (name, inline) in [("photo.png", true), ("clip.mp4", true), ("song.mp3", true), ("paper.pdf", true), ("page.html", false), ("vector.svg", false), ("notes.txt", false)] {
        let node = app.upload(&u, &u.root, name, b"bytes".to_vec()).await;
        let id = node["id"].as_str().unwrap();
        let r = content(id, "?inline=true").await.unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
        assert_eq!(disposition.starts_with("inline;"), inline, "{name}: {disposition}");
        assert!(disposition.contains(&format!("filename=\"{name}\"")), "{disposition}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"bytes");
        let r = content(id, "").await.unwrap();
        assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"), "{name} is saved by default");
    }
    // Ranges still work inline (media seeking).
    let clip = app.by_path(&u, "/clip.mp4").await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{clip}/content?inline=true"), &u).header("range", "bytes=1-2").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"yt");
    assert_problem(content(&clip, "?inline=maybe").await.unwrap(), StatusCode::BAD_REQUEST, "invalid_query").await;
});
