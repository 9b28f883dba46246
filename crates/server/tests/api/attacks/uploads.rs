//! Long uploads against the promises: tus bytes that every node sees and that are never made
//! up, PATCHes that cannot interleave, block negotiation that reveals nothing of others' files,
//! and access re-checked at every step (revoked shares, signed URLs).

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stratus_server::config::VolumeConfig;

use super::access::share;
use crate::helpers::*;

const MIB: usize = 1 << 20;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

fn tus(app: &TestApp, method: Method, path: &str, u: &TestUser) -> reqwest::RequestBuilder {
    app.req(method, path, u).header("tus-resumable", "1.0.0")
}

/// Creates a tus upload of `length` bytes named `name` in `parent`; its path.
async fn tus_create(app: &TestApp, u: &TestUser, parent: &str, name: &str, length: usize) -> String {
    let meta = format!("filename {},parent_id {}", STANDARD.encode(name), STANDARD.encode(parent));
    let r = tus(app, Method::POST, "/api/v1/tus/", u)
        .header("upload-length", length)
        .header("upload-metadata", meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    location.strip_prefix(&app.base).unwrap_or(&location).to_string()
}

async fn patch(app: &TestApp, u: &TestUser, path: &str, offset: usize, body: Vec<u8>) -> reqwest::Response {
    tus(app, Method::PATCH, path, u)
        .header("upload-offset", offset)
        .header("content-type", "application/offset+octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn offset(app: &TestApp, u: &TestUser, path: &str) -> usize {
    let r = tus(app, Method::HEAD, path, u).send().await.unwrap();
    r.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

/// A second node: the same database and the same volume, but a data dir of its own.
async fn second_node(app: &TestApp, backend: Backend) -> TestApp {
    let (url, blocks) = (app.database_url(), app.data_dir().join("blocks").display().to_string());
    TestApp::spawn_with(backend, |c| {
        c.database_url = Some(url);
        c.storage.volumes = vec![VolumeConfig { pool: "A".into(), location: blocks }];
    })
    .await
}

// Finding 2: a PATCH reaching a node without the staging file got zero-filled bytes.
dual_test!(async fn tus_bytes_are_seen_by_every_node_and_never_made_up(backend) {
    let app = TestApp::spawn(backend).await;
    let other = second_node(&app, backend).await;
    let u = app.register("tusnode").await;
    let bytes = data(9 * MIB + 123, 5);
    let path = tus_create(&app, &u, &u.root, "film.bin", bytes.len()).await;
    assert_eq!(patch(&app, &u, &path, 0, bytes[..5 * MIB].to_vec()).await.status(), StatusCode::NO_CONTENT);
    // The next chunk goes to the other node, the last back to the first.
    assert_eq!(offset(&other, &u, &path).await, 5 * MIB);
    assert_eq!(patch(&other, &u, &path, 5 * MIB, bytes[5 * MIB..7 * MIB].to_vec()).await.status(), StatusCode::NO_CONTENT);
    let r = patch(&app, &u, &path, 7 * MIB, bytes[7 * MIB..].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let id = app.by_path(&u, "/film.bin").await;
    assert!(app.download(&u, &id).await == bytes, "every byte is the client's");
    let out = app.cli(&["admin", "fsck"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // A hole in what is stored (a part's record gone) is refused at the end, never filled.
    let path = tus_create(&app, &u, &u.root, "holey.bin", 3 * MIB).await;
    assert_eq!(patch(&app, &u, &path, 0, bytes[..MIB].to_vec()).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(patch(&app, &u, &path, MIB, bytes[MIB..2 * MIB].to_vec()).await.status(), StatusCode::NO_CONTENT);
    let db = stratus_meta::Db::connect(&app.database_url()).await.unwrap();
    let upload = path.rsplit('/').next().unwrap().to_string();
    match &db {
        stratus_meta::Db::Sqlite(pool) => { sqlx::query("DELETE FROM tus_parts WHERE upload_id = $1 AND start_offset = 0").bind(&upload).execute(&**pool).await.unwrap(); }
        stratus_meta::Db::Postgres(pool) => { sqlx::query("DELETE FROM tus_parts WHERE upload_id = $1 AND start_offset = 0").bind(&upload).execute(pool).await.unwrap(); }
    }
    let r = patch(&app, &u, &path, 2 * MIB, bytes[2 * MIB..3 * MIB].to_vec()).await;
    assert_problem(r, StatusCode::GONE, "upload_data_lost").await;
    assert!(!app.names(&u, &u.root).await.contains(&"holey.bin".to_string()), "no file with made-up bytes");
});

// Finding 2: two PATCHes at one offset interleaved their bytes before the compare-and-set.
dual_test!(async fn concurrent_patches_of_one_upload_never_interleave(backend) {
    let app = TestApp::spawn(backend).await;
    let other = second_node(&app, backend).await;
    let u = app.register("racer").await;
    let mine = data(6 * MIB, 7);
    let path = tus_create(&app, &u, &u.root, "race.bin", mine.len()).await;
    // A slow PATCH holds the upload: its first 4 MiB are recorded, the rest has not come yet.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let slow = tokio::spawn({
        let req = tus(&app, Method::PATCH, &path, &u).header("upload-offset", 0).header("content-type", "application/offset+octet-stream").body(body);
        async move { req.send().await.unwrap().status() }
    });
    tx.send(Ok(mine[..4 * MIB + 10].to_vec())).await.unwrap();
    eventually("the first part is recorded", || async { offset(&app, &u, &path).await == 4 * MIB }).await;
    // Others at the old offset, or at the recorded one, on either node: refused, nothing written.
    for node in [&app, &other] {
        assert_problem(patch(node, &u, &path, 0, data(6 * MIB, 8)).await, StatusCode::CONFLICT, "offset_mismatch").await;
        assert_problem(patch(node, &u, &path, 4 * MIB, data(2 * MIB, 9)).await, StatusCode::CONFLICT, "upload_busy").await;
    }
    tx.send(Ok(mine[4 * MIB + 10..].to_vec())).await.unwrap();
    drop(tx);
    assert_eq!(slow.await.unwrap(), StatusCode::NO_CONTENT);
    let id = app.by_path(&u, "/race.bin").await;
    assert!(app.download(&u, &id).await == mine, "the winner's bytes, whole");
});

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn declare(app: &TestApp, u: &TestUser, name: &str, bytes: &[u8], policy: &str, parent: &str) -> Value {
    let hashes: Vec<String> = bytes.chunks(4 * MIB).map(sha256_hex).collect();
    let r = app.req(Method::POST, "/api/v1/uploads", u)
        .json(&json!({"parent_id": parent, "name": name, "size": bytes.len(), "blocks": hashes, "on_conflict": policy}))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

// Finding 4: declaring the hash of a guess told whether anyone stored it, and the commit
// handed the guesser a copy without a byte sent.
dual_test!(async fn block_negotiation_reveals_nothing_of_other_users_files(backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let mallory = app.register("mallory").await;
    // Larger than a file the database keeps inline, so that its bytes are a block.
    let secret = b"door code: 4821. ".repeat(BLOCKED / 16);
    app.upload(&alice, &alice.root, "notes.txt", secret.clone()).await;
    let files = app.stratus.stored_block_files().await.unwrap();

    let guess = declare(&app, &mallory, "guess.txt", &secret, "fail", &mallory.root).await;
    assert_eq!(guess["missing"], json!([0]), "the same as for a wrong guess");
    let wrong = declare(&app, &mallory, "wrong.txt", &b"door code: 1234. ".repeat(BLOCKED / 16), "fail", &mallory.root).await;
    assert_eq!(wrong["missing"], json!([0]));
    let id = guess["upload_id"].as_str().unwrap();
    let r = app.req(Method::POST, &format!("/api/v1/uploads/{id}/commit"), &mallory).send().await.unwrap();
    assert_problem(r, StatusCode::CONFLICT, "blocks_missing").await;
    assert!(app.names(&mallory, &mallory.root).await.is_empty());

    // Sending the bytes works, and they are stored once (dedup stays, server-side).
    let r = app.req(Method::PUT, &format!("/api/v1/uploads/{id}/blocks/0"), &mallory).body(secret.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::POST, &format!("/api/v1/uploads/{id}/commit"), &mallory).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.stratus.stored_block_files().await.unwrap(), files);
    // The owner of the bytes still sends nothing for a copy of her own file.
    let again = declare(&app, &alice, "again.txt", &secret, "fail", &alice.root).await;
    assert_eq!(again["missing"], json!([]));
});

// Finding 5: a revoked editor kept writing through an open tus upload or block session, and
// the signed URL they made kept working, unlisted and unrevocable.
dual_test!(async fn revoking_a_share_stops_uploads_and_urls_in_flight(backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let editor = app.register("editor").await;
    let team = app.mkdir(&owner, &owner.root, "Team").await;
    let team_id = team["id"].as_str().unwrap().to_string();
    let plan = app.upload(&owner, &team_id, "plan.txt", b"the owner's plan".to_vec()).await;
    let plan_id = plan["id"].as_str().unwrap().to_string();
    let grant = share(&app, &owner, &team_id, "editor", "editor").await;

    let tus_path = tus_create(&app, &editor, &team_id, "drop.bin", 2 * MIB).await;
    assert_eq!(patch(&app, &editor, &tus_path, 0, data(MIB, 1)).await.status(), StatusCode::NO_CONTENT);
    let bytes = b"overwritten by a former editor".to_vec();
    let session = declare(&app, &editor, "plan.txt", &bytes, "replace", &team_id).await;
    let sid = session["upload_id"].as_str().unwrap().to_string();
    let url = ok_json(app.req(Method::POST, &format!("/api/v1/nodes/{plan_id}/download-url"), &editor)
        .json(&json!({"expires_in": 3600})).send().await.unwrap()).await["url"].as_str().unwrap().to_string();
    assert_eq!(app.anon(Method::GET, &url).send().await.unwrap().status(), StatusCode::OK);

    // The owner sees the editor's URL among the file's URLs.
    let urls = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{plan_id}/download-urls"), &owner).send().await.unwrap()).await;
    assert_eq!(urls["items"].as_array().unwrap().len(), 1);
    assert_eq!(urls["items"][0]["created_by_username"], json!("editor"));

    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{team_id}/shares/{}", grant["id"].as_str().unwrap()), &owner).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    assert_problem(patch(&app, &editor, &tus_path, MIB, data(MIB, 2)).await, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::PUT, &format!("/api/v1/uploads/{sid}/blocks/0"), &editor).body(bytes.clone()).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::POST, &format!("/api/v1/uploads/{sid}/commit"), &editor).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.download(&owner, &plan_id).await, b"the owner's plan");
    assert_eq!(app.names(&owner, &team_id).await, ["plan.txt"]);
    assert_problem(app.anon(Method::GET, &url).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;

    // The owner revokes a URL of their own; the editor cannot list the file's URLs any more.
    let mine = ok_json(app.req(Method::POST, &format!("/api/v1/nodes/{plan_id}/download-url"), &owner)
        .json(&json!({"expires_in": 3600})).send().await.unwrap()).await["url"].as_str().unwrap().to_string();
    assert_eq!(app.anon(Method::GET, &mine).send().await.unwrap().status(), StatusCode::OK);
    let urls = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{plan_id}/download-urls"), &owner).send().await.unwrap()).await;
    let items = urls["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let made_by = |who: &str| items.iter().find(|u| u["created_by_username"] == who).unwrap()["id"].as_str().unwrap().to_string();
    let r = app.req(Method::DELETE, &format!("/api/v1/download-urls/{}", made_by("owner")), &editor).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    // Anyone may withdraw a URL they made; the owner revokes any.
    let r = app.req(Method::DELETE, &format!("/api/v1/download-urls/{}", made_by("editor")), &editor).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::DELETE, &format!("/api/v1/download-urls/{}", made_by("owner")), &owner).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(app.anon(Method::GET, &mine).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{plan_id}/download-urls"), &editor).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
});
