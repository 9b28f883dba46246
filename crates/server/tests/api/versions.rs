//! File versions: list, download any version, restore one (it becomes the newest).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

dual_test!(async fn versions_download_and_restore_keep_the_history(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("historian").await;
    let reader = app.register("reader").await;
    let v1 = data(5 << 20, 41);
    let file = app.upload(&u, &u.root, "essay.txt", v1.clone()).await;
    let id = file["id"].as_str().unwrap().to_string();
    for body in [b"second draft".to_vec(), b"third".to_vec()] {
        let r = app.req(Method::PUT, &format!("/api/v1/nodes/{id}/content"), &u).body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let list = |who: &TestUser| app.req(Method::GET, &format!("/api/v1/nodes/{id}/versions"), who).send();
    let versions = ok_json(list(&u).await.unwrap()).await["items"].as_array().unwrap().clone();
    let sizes: Vec<u64> = versions.iter().map(|v| v["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [5, 12, 5 << 20]);
    let oldest = versions[2]["id"].as_str().unwrap().to_string();

    // Any version downloads, with its own ETag and ranges.
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{id}/versions/{oldest}/content"), &u).send().await.unwrap();
    assert_eq!(r.headers()["etag"].to_str().unwrap(), format!("\"{}\"", versions[2]["content_hash"].as_str().unwrap()));
    assert_eq!(r.bytes().await.unwrap().to_vec(), v1);
    let r = app
        .req(Method::GET, &format!("/api/v1/nodes/{id}/versions/{oldest}/content"), &u)
        .header("range", "bytes=4194300-4194309")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), v1[4194300..=4194309]);

    // Restoring makes it the newest version; nothing of the history is lost.
    let blocks_before = app.stratus.stored_block_files().await.unwrap();
    let restored = ok_json(app.req(Method::POST, &format!("/api/v1/nodes/{id}/versions/{oldest}/restore"), &u).send().await.unwrap()).await;
    assert_eq!((restored["id"].as_str(), restored["size"].as_u64()), (Some(id.as_str()), Some(5 << 20)));
    assert_eq!(restored["content_hash"], versions[2]["content_hash"]);
    assert_eq!(app.download(&u, &id).await, v1);
    let after = ok_json(list(&u).await.unwrap()).await["items"].as_array().unwrap().clone();
    let sizes: Vec<u64> = after.iter().map(|v| v["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [5 << 20, 5, 12, 5 << 20]);
    assert_eq!(app.used(&u).await, 5 << 20, "the quota follows the current version");
    assert_eq!(app.stratus.stored_block_files().await.unwrap(), blocks_before, "versions share blocks");

    // Someone else's version ids, or ids of another file's versions, are not found.
    let other = app.upload(&u, &u.root, "other.txt", b"x".to_vec()).await;
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{}/versions/{oldest}/restore", other["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{id}/versions/{oldest}/content"), &reader).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    // A viewer may download versions, not restore them.
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/shares"), &u).json(&json!({"user": "reader", "role": "viewer"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{id}/versions/{oldest}/content"), &reader).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/versions/{oldest}/restore"), &reader).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
});
