//! Block-negotiation uploads: declare, send only what is missing, commit.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const BLOCK: usize = 4 << 20;

fn block_hashes(bytes: &[u8]) -> Vec<String> {
    bytes.chunks(BLOCK).map(|c| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(c))).collect()
}

async fn start(app: &TestApp, u: &TestUser, name: &str, bytes: &[u8], policy: &str) -> reqwest::Response {
    app.req(Method::POST, "/api/v1/uploads", u)
        .json(&json!({"parent_id": u.root, "name": name, "size": bytes.len(), "blocks": block_hashes(bytes), "on_conflict": policy}))
        .send()
        .await
        .unwrap()
}

async fn put_block(app: &TestApp, u: &TestUser, id: &str, index: usize, bytes: &[u8]) -> reqwest::Response {
    let chunk = bytes.chunks(BLOCK).nth(index).unwrap().to_vec();
    app.req(Method::PUT, &format!("/api/v1/uploads/{id}/blocks/{index}"), u).body(chunk).send().await.unwrap()
}

dual_test!(async fn only_missing_blocks_cross_and_the_commit_is_atomic(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("negotiator").await;
    let bytes = data(10 * (1 << 20) + 7, 61);
    let r = start(&app, &u, "movie.mkv", &bytes, "fail").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let session: Value = r.json().await.unwrap();
    let id = session["upload_id"].as_str().unwrap().to_string();
    assert_eq!(session["missing"], json!([0, 1, 2]));
    // The quota is reserved, nothing is visible yet.
    assert!(app.names(&u, &u.root).await.is_empty());

    // Block 2 first, then a resume tells what is left; the rest in parallel.
    assert_eq!(put_block(&app, &u, &id, 2, &bytes).await.status(), StatusCode::NO_CONTENT);
    let state = ok_json(app.req(Method::GET, &format!("/api/v1/uploads/{id}"), &u).send().await.unwrap()).await;
    assert_eq!(state["missing"], json!([0, 1]));
    let r = app.req(Method::POST, &format!("/api/v1/uploads/{id}/commit"), &u).send().await.unwrap();
    assert_problem(r, StatusCode::CONFLICT, "blocks_missing").await;
    let (a, b) = tokio::join!(put_block(&app, &u, &id, 1, &bytes), put_block(&app, &u, &id, 0, &bytes));
    assert_eq!((a.status(), b.status()), (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT));
    let r = app.req(Method::POST, &format!("/api/v1/uploads/{id}/commit"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let node: Value = r.json().await.unwrap();
    assert_eq!(app.download(&u, node["id"].as_str().unwrap()).await, bytes);
    assert_eq!(app.used(&u).await, bytes.len() as u64);
    let r = app.req(Method::GET, &format!("/api/v1/uploads/{id}"), &u).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;

    // The same content again, under another name: nothing is missing, no block crosses.
    let files_before = app.stratus.stored_block_files().await.unwrap();
    let again: Value = start(&app, &u, "copy.mkv", &bytes, "fail").await.json().await.unwrap();
    assert_eq!(again["missing"], json!([]));
    let r = app.req(Method::POST, &format!("/api/v1/uploads/{}/commit", again["upload_id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.stratus.stored_block_files().await.unwrap(), files_before);
    // A changed middle block: only that one is missing (delta upload), as a new version.
    let mut edited = bytes.clone();
    edited[5 << 20] ^= 1;
    let delta: Value = start(&app, &u, "movie.mkv", &edited, "replace").await.json().await.unwrap();
    assert_eq!(delta["missing"], json!([1]));
    let delta_id = delta["upload_id"].as_str().unwrap().to_string();
    assert_eq!(put_block(&app, &u, &delta_id, 1, &edited).await.status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::POST, &format!("/api/v1/uploads/{delta_id}/commit"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a new version of the existing file");
    assert_eq!(app.download(&u, node["id"].as_str().unwrap()).await, edited);
});

dual_test!(async fn sessions_verify_blocks_and_hold_quota(backend) {
    let app = TestApp::spawn_with(backend, |c| c.default_quota = 10 << 20).await;
    let u = app.register("checker").await;
    let other = app.register("other").await;
    let bytes = data(6 << 20, 62);
    let session: Value = start(&app, &u, "a.bin", &bytes, "fail").await.json().await.unwrap();
    let id = session["upload_id"].as_str().unwrap().to_string();
    // Wrong data, wrong length, a block that does not exist, someone else's session.
    let r = app.req(Method::PUT, &format!("/api/v1/uploads/{id}/blocks/0"), &u).body(vec![0u8; BLOCK]).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "block_mismatch").await;
    let r = app.req(Method::PUT, &format!("/api/v1/uploads/{id}/blocks/1"), &u).body(vec![0u8; 10]).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "block_length_mismatch").await;
    let r = app.req(Method::PUT, &format!("/api/v1/uploads/{id}/blocks/9"), &u).body(vec![0u8; 10]).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(put_block(&app, &other, &id, 0, &bytes).await, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::PUT, &format!("/api/v1/uploads/{id}/blocks/0"), &u).body(vec![0u8; BLOCK + 5]).send().await.unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // The reservation counts: a second 6 MiB session does not fit in 10 MiB.
    let r = start(&app, &u, "b.bin", &data(6 << 20, 63), "fail").await;
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    // Declarations that do not add up are refused.
    let r = app.req(Method::POST, "/api/v1/uploads", &u).json(&json!({"parent_id": u.root, "name": "x", "size": 10, "blocks": []})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "block_count_mismatch").await;
    let r = app.req(Method::POST, "/api/v1/uploads", &u).json(&json!({"parent_id": u.root, "name": "x", "size": 1, "blocks": ["zz"]})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_blocks").await;
    let r = app.req(Method::POST, "/api/v1/uploads", &u).json(&json!({"parent_id": u.root, "name": "..", "size": 0, "blocks": []})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    let r = app.req(Method::POST, "/api/v1/uploads", &other).json(&json!({"parent_id": u.root, "name": "x", "size": 0, "blocks": []})).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;

    // Aborting gives the quota back; an empty file needs no block at all.
    let r = app.req(Method::DELETE, &format!("/api/v1/uploads/{id}"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(start(&app, &u, "b.bin", &data(6 << 20, 63), "fail").await.status(), StatusCode::CREATED);
    let empty: Value = start(&app, &u, "empty.txt", &[], "fail").await.json().await.unwrap();
    let r = app.req(Method::POST, &format!("/api/v1/uploads/{}/commit", empty["upload_id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.used(&u).await, 0);
});
