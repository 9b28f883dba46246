//! Markdown files rendered on the server, through HTTP: what the page may insert as it is (no
//! raw HTML, no unsafe link, no picture fetched), the first MiB only, and the usual access rules.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

dual_test!(async fn markdown_files_render_to_html_without_raw_html_or_unsafe_links(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("writer").await;
    let friend = app.register("reader").await;
    let eve = app.register("eve").await;
    let doc = "# Notes\n\n| day | km |\n|---|---|\n| mon | 5 |\n\n- [x] packed\n\n<script>alert(1)</script>\n\n\
               <img src=x onerror=alert(2)> [go](javascript:alert(3)) [site](https://example.com/) ![map](/api/v1/me)\n";
    let id = app.upload(&u, &u.root, "README.md", doc.as_bytes().to_vec()).await["id"].as_str().unwrap().to_string();
    let rendered = |who: &TestUser, id: &str| app.req(Method::GET, &format!("/api/v1/nodes/{id}/markdown"), who).send();

    let r = rendered(&u, &id).await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    let body = ok_json(r).await;
    let html = body["html"].as_str().unwrap();
    assert!(html.contains("<h1>Notes</h1>") && html.contains("<td>mon</td>") && html.contains("<li>☑ packed</li>"), "{html}");
    assert!(!html.contains("<script") && !html.contains("<img"), "raw HTML is text: {html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(html.contains(r#"<a href="https://example.com/">site</a>"#) && html.contains(r#"<a href="/api/v1/me">map</a>"#), "{html}");
    assert_eq!(body["truncated"], false);

    // Past the first MiB, the rest is left out, and said so.
    let mut long = "word ".repeat(300_000).into_bytes();
    long.extend_from_slice(b"\n\n# The end\n");
    let long = app.upload(&u, &u.root, "long.markdown", long).await["id"].as_str().unwrap().to_string();
    let body = ok_json(rendered(&u, &long).await.unwrap()).await;
    assert_eq!(body["truncated"], true);
    assert!(!body["html"].as_str().unwrap().contains("The end"));

    // Who may read the file may read it rendered; nobody else learns it exists.
    assert_problem(rendered(&eve, &id).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/shares"), &u).json(&json!({"user": "reader", "role": "viewer"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(ok_json(rendered(&friend, &id).await.unwrap()).await["html"].as_str().unwrap().contains("<h1>Notes</h1>"));
    let r = app.anon(Method::GET, &format!("/api/v1/nodes/{id}/markdown")).send().await.unwrap();
    assert!(matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND), "{}", r.status());

    // Only Markdown files are rendered.
    let text = app.upload(&u, &u.root, "notes.txt", b"# not rendered".to_vec()).await["id"].as_str().unwrap().to_string();
    assert_problem(rendered(&u, &text).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "not_markdown").await;
    assert_problem(rendered(&u, &u.root).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "not_markdown").await;
    let empty = app.upload(&u, &u.root, "empty.md", Vec::new()).await["id"].as_str().unwrap().to_string();
    assert_eq!(ok_json(rendered(&u, &empty).await.unwrap()).await["html"], "");
});
