//! What answers reveal: ids in public listings, volumes in anonymous metrics, pages that can
//! be framed, live tokens in logs, redirects off the site.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::dav;
use crate::helpers::*;

// Finding 14.
dual_test!(async fn answers_reveal_nothing_they_should_not(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("shower").await;
    let folder = app.mkdir(&u, &u.root, "Public").await;
    let folder_id = folder["id"].as_str().unwrap().to_string();
    let inner = app.upload(&u, &folder_id, "a.txt", b"a".to_vec()).await;
    let link: Value = app.req(Method::POST, &format!("/api/v1/nodes/{folder_id}/links"), &u).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let seen = ok_json(app.anon(Method::GET, &format!("/api/v1/public/{}", link["token"].as_str().unwrap())).send().await.unwrap()).await;
    let text = seen.to_string();
    assert_eq!(seen["children"]["items"][0]["name"], json!("a.txt"));
    for secret in [u.id.as_str(), folder_id.as_str(), inner["id"].as_str().unwrap(), u.root.as_str()] {
        assert!(!text.contains(secret), "a visitor sees {secret}: {text}");
    }

    // Metrics name volumes and capacity: the scrape token or an administrator only.
    assert_problem(app.anon(Method::GET, "/metrics").send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_problem(app.req(Method::GET, "/metrics", &u).send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    let admin = app.admin("ops").await;
    assert_eq!(app.req(Method::GET, "/metrics", &admin).send().await.unwrap().status(), StatusCode::OK);
    assert!(app.metrics().await.contains("stratus_volume_online"));

    // Pages that set no policy of their own still cannot be framed or run foreign script.
    for r in [
        app.anon(Method::GET, "/api/docs/").send().await.unwrap(),
        dav(&app, "GET", "/Public/", &u).send().await.unwrap(),
        app.req(Method::GET, &format!("/api/v1/nodes/{}/content", inner["id"].as_str().unwrap()), &u).send().await.unwrap(),
    ] {
        let h = r.headers();
        assert_eq!(h.get("x-frame-options").map(|v| v.to_str().unwrap()), Some("DENY"), "{}", r.url());
        assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"));
        assert!(h.get("content-security-policy").unwrap().to_str().unwrap().contains("frame-ancestors 'none'"));
    }

    // A password link's page gets a grant for its URLs: the password never goes in one.
    let locked: Value = app.req(Method::POST, &format!("/api/v1/nodes/{}/links", inner["id"].as_str().unwrap()), &u)
        .json(&json!({"password": "hunter2 hunter2"})).send().await.unwrap().json().await.unwrap();
    let token = locked["token"].as_str().unwrap().to_string();
    let view = ok_json(app.anon(Method::GET, &format!("/api/v1/public/{token}")).header("x-link-password", "hunter2 hunter2").send().await.unwrap()).await;
    let grant = view["grant"].as_str().unwrap().to_string();
    assert!(!grant.contains("hunter2"));
    let download = |g: &str| app.anon(Method::GET, &format!("/s/{token}/download?grant={g}")).send();
    assert_eq!(download(&grant).await.unwrap().bytes().await.unwrap().as_ref(), b"a");
    assert_eq!(download("lgr_99999999999_00").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let other = link["token"].as_str().unwrap();
    assert!(ok_json(app.anon(Method::GET, &format!("/api/v1/public/{other}")).send().await.unwrap()).await.get("grant").is_none());
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(download(&grant).await.unwrap().status(), StatusCode::UNAUTHORIZED, "a grant lasts an hour");
});
