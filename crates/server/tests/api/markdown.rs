//! Markdown files rendered on the server, through HTTP: a tree of elements from a short list (no
//! raw HTML, no unsafe link, no picture fetched), the first MiB only, and the usual access rules.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

dual_test!(async fn markdown_files_render_to_elements_without_raw_html_or_unsafe_links(backend) {
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
    let blocks = body["blocks"].to_string();
    assert_eq!(body["blocks"][0], json!({"t": "h1", "c": ["Notes"]}));
    assert!(blocks.contains(r#"{"c":["mon"],"t":"td"}"#) && blocks.contains("☑ packed"), "{blocks}");
    assert!(blocks.contains(r#""<script>alert(1)</script>\n""#), "raw HTML is text: {blocks}");
    assert!(!blocks.contains("javascript:"), "{blocks}");
    assert!(blocks.contains(r#"{"c":["site"],"href":"https://example.com/","t":"a"}"#), "{blocks}");
    assert!(blocks.contains(r#"{"c":["map"],"href":"/api/v1/me","t":"a"}"#), "a picture is a link to it: {blocks}");
    // Only elements from the short list, anywhere in the tree.
    fn tags(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Array(items) => items.iter().for_each(|i| tags(i, out)),
            serde_json::Value::Object(o) => {
                out.push(o["t"].as_str().unwrap().to_string());
                if let Some(c) = o.get("c") {
                    tags(c, out);
                }
            }
            _ => {}
        }
    }
    let mut seen = Vec::new();
    tags(&body["blocks"], &mut seen);
    let allowed = ["p", "h1", "table", "thead", "tr", "th", "td", "ul", "li", "a"];
    assert!(seen.iter().all(|t| allowed.contains(&t.as_str())), "{seen:?}");
    assert_eq!(body["truncated"], false);

    // Past the first MiB, the rest is left out, and said so.
    let mut long = "word ".repeat(300_000).into_bytes();
    long.extend_from_slice(b"\n\n# The end\n");
    let long = app.upload(&u, &u.root, "long.markdown", long).await["id"].as_str().unwrap().to_string();
    let body = ok_json(rendered(&u, &long).await.unwrap()).await;
    assert_eq!(body["truncated"], true);
    assert!(!body["blocks"].to_string().contains("The end"));

    // Who may read the file may read it rendered; nobody else learns it exists.
    assert_problem(rendered(&eve, &id).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/shares"), &u).json(&json!({"user": "reader", "role": "viewer"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(ok_json(rendered(&friend, &id).await.unwrap()).await["blocks"][0]["c"][0], "Notes");
    let r = app.anon(Method::GET, &format!("/api/v1/nodes/{id}/markdown")).send().await.unwrap();
    assert!(matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND), "{}", r.status());

    // Only Markdown files are rendered.
    let text = app.upload(&u, &u.root, "notes.txt", b"# not rendered".to_vec()).await["id"].as_str().unwrap().to_string();
    assert_problem(rendered(&u, &text).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "not_markdown").await;
    assert_problem(rendered(&u, &u.root).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "not_markdown").await;
    let empty = app.upload(&u, &u.root, "empty.md", Vec::new()).await["id"].as_str().unwrap().to_string();
    assert_eq!(ok_json(rendered(&u, &empty).await.unwrap()).await["blocks"], json!([]));
});
