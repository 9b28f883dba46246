//! Three nodes as one, the way a load balancer without stickiness uses them: one PostgreSQL
//! database, one S3 bucket (moto), and every request of a user's whole flow sent to the next
//! node in turn — register, every upload path (tus PATCHes alternating nodes), download, share,
//! link, WebDAV locks across users, a fourth node killed mid-upload, jobs once per cluster.

use std::cell::Cell;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Duration as Span;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stratus_server::config::VolumeConfig;

use crate::{
    cluster::{beats_after, jobs, nodes, runs_of, stalled_upload},
    faults::{Process, s3_settings},
    helpers::*,
};

const MIB: usize = 1 << 20;
const BLOCK: usize = 4 << 20;

fn dav(app: &TestApp, method: &str, path: &str, user: &TestUser) -> reqwest::RequestBuilder {
    app.client
        .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&format!("/dav{path}")))
        .basic_auth(&user.username, Some(&user.password))
}

fn tus(app: &TestApp, method: Method, path: &str, u: &TestUser) -> reqwest::RequestBuilder {
    app.req(method, path, u).header("tus-resumable", "1.0.0")
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn three_nodes_on_one_database_and_one_bucket_work_as_one() {
    if skip_postgres() {
        return;
    }
    let Some(s3) = s3_settings() else { return };
    let url = fresh_postgres().await;
    let bucket = format!("s3://{}-cluster", std::env::var("STRATUS_TEST_S3_BUCKET").unwrap());
    let start = || {
        let (url, s3, bucket) = (url.clone(), s3.clone(), bucket.clone());
        TestApp::spawn_with(Backend::Postgres, move |c| {
            c.database_url = Some(url);
            c.storage.s3 = s3;
            c.storage.volumes = vec![VolumeConfig { pool: "A".into(), location: bucket }];
            c.heartbeat_secs = 1;
            c.node_timeout_secs = 10;
        })
    };
    // The first start of all three at the same moment, on the empty database.
    let (a, b, c) = tokio::join!(start(), start(), start());
    let ring = [&a, &b, &c];
    let turn = Cell::new(0);
    let next = || {
        turn.set(turn.get() + 1);
        ring[turn.get() % 3]
    };
    let admin = next().admin("ops").await;
    assert_eq!(nodes(next(), &admin).await.len(), 3);
    let ann = next().register("ann").await;
    let bob = next().register("bob").await;

    // Every upload path, each step on the next node.
    let raw = data(6 * MIB, 1);
    let raw_id = id(&next().upload(&ann, &ann.root, "raw.bin", raw.clone()).await);
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(b"A".to_vec()).file_name("album/a.txt"))
        .part("file", reqwest::multipart::Part::bytes(data(5 * MIB, 2)).file_name("album/b.bin"));
    let r = next()
        .req(Method::POST, &format!("/api/v1/nodes/{}/files", ann.root), &ann)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let blocks = data(9 * MIB + 3, 3);
    let hashes: Vec<String> =
        blocks.chunks(BLOCK).map(|c| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(c))).collect();
    let body = json!({"parent_id": ann.root, "name": "blocks.bin", "size": blocks.len(), "blocks": hashes, "on_conflict": "fail"});
    let session =
        ok_json_created(next().req(Method::POST, "/api/v1/uploads", &ann).json(&body).send().await.unwrap())
            .await;
    let upload = session["upload_id"].as_str().unwrap().to_string();
    for (index, chunk) in blocks.chunks(BLOCK).enumerate() {
        let r = next()
            .req(Method::PUT, &format!("/api/v1/uploads/{upload}/blocks/{index}"), &ann)
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let committed = ok_json_created(
        next().req(Method::POST, &format!("/api/v1/uploads/{upload}/commit"), &ann).send().await.unwrap(),
    )
    .await;
    let blocks_id = id(&committed);

    let tussed = data(7 * MIB + 11, 4);
    let meta = format!("filename {},parent_id {}", STANDARD.encode("tus.bin"), STANDARD.encode(&ann.root));
    let r = tus(next(), Method::POST, "/api/v1/tus/", &ann)
        .header("upload-length", tussed.len())
        .header("upload-metadata", &meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let mut offset = 0;
    let mut tus_id = None;
    for chunk in tussed.chunks(2 * MIB + 5) {
        // Each PATCH on the next node, after asking yet another for the offset.
        let head = tus(next(), Method::HEAD, &location, &ann).send().await.unwrap();
        assert_eq!(head.headers()["upload-offset"].to_str().unwrap(), offset.to_string());
        let r = tus(next(), Method::PATCH, &location, &ann)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset)
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        offset += chunk.len();
        tus_id = r.headers().get("stratus-node-id").map(|v| v.to_str().unwrap().to_string());
    }
    let tus_id = tus_id.expect("the last PATCH names the file");

    let r = dav(next(), "PUT", "/dav.txt", &ann).body("through webdav").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // Everything reads back byte for byte through any node.
    assert_eq!(next().download(&ann, &raw_id).await, raw);
    assert_eq!(next().download(&ann, &blocks_id).await, blocks);
    assert_eq!(next().download(&ann, &tus_id).await, tussed);
    let b_bin = next().by_path(&ann, "/album/b.bin").await;
    assert_eq!(next().download(&ann, &b_bin).await, data(5 * MIB, 2));
    let r = dav(next(), "GET", "/dav.txt", &ann).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), "through webdav");

    // A folder shared with bob as editor: he writes in it through one node, ann reads through another.
    let team = id(&next().mkdir(&ann, &ann.root, "team").await);
    let r = next()
        .req(Method::POST, &format!("/api/v1/nodes/{team}/shares"), &ann)
        .json(&json!({"user": "bob", "role": "editor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let bobs = next().upload(&bob, &team, "from-bob.txt", b"bob was here".to_vec()).await;
    assert_eq!(next().download(&ann, &id(&bobs)).await, b"bob was here");

    // A link that allows two downloads allows two across all nodes together.
    let created = ok_json_created(
        next()
            .req(Method::POST, &format!("/api/v1/nodes/{raw_id}/links"), &ann)
            .json(&json!({"max_downloads": 2}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let path = format!("/s/{}/download", created["token"].as_str().unwrap());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(next().anon(Method::GET, &path).send().await.unwrap().status());
    }
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::GONE, StatusCode::GONE]);

    // WebDAV locks hold across nodes and users: ann's lock stops bob, her token lets her write.
    let lockinfo = r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>ann</D:owner></D:lockinfo>"#;
    let r = dav(next(), "LOCK", "/team/from-bob.txt", &ann)
        .header("timeout", "Second-600")
        .body(lockinfo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = r.headers()["lock-token"].to_str().unwrap().to_string();
    let r = dav(next(), "PUT", "/Shared/team/from-bob.txt", &bob).body("bob again").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    let r = next()
        .req(Method::PUT, &format!("/api/v1/nodes/{}/content", id(&bobs)), &bob)
        .body("bob by rest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED, "the REST API honours the lock too");
    let r = dav(next(), "PUT", "/team/from-bob.txt", &ann)
        .header("if", format!("({token})"))
        .body("ann's edit")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r =
        dav(next(), "UNLOCK", "/team/from-bob.txt", &ann).header("lock-token", &token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = dav(next(), "PUT", "/Shared/team/from-bob.txt", &bob).body("bob again").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(next().download(&ann, &id(&bobs)).await, b"bob again");

    // A fourth node, a process of its own, takes a tus upload's first part and a PUT that is
    // still sending, and is killed (-9). The part it stored survives: the upload resumes on a
    // survivor. Its reservation is given back once its heartbeat has stopped for 10 s.
    let mut env = config_env(&a.config);
    env.push(("STRATUS_HEARTBEAT_SECS".into(), "1".into()));
    env.push(("STRATUS_NODE_TIMEOUT_SECS".into(), "10".into()));
    let mut doomed = Process::start(&env).await;
    let resumed = data(3 * MIB, 5);
    let meta =
        format!("filename {},parent_id {}", STANDARD.encode("resumed.bin"), STANDARD.encode(&ann.root));
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/v1/tus/", doomed.base))
        .bearer_auth(&ann.token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", resumed.len())
        .header("upload-metadata", &meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let r = client
        .patch(format!("{}{location}", doomed.base))
        .bearer_auth(&ann.token)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", 0)
        .body(resumed[..MIB].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let used_before = next().used(&ann).await;
    let _sending = stalled_upload(&doomed.base, &ann, 200 * MIB as u64).await;
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let reserved = || async {
        sqlx::query_scalar::<_, i64>("SELECT quota_reserved FROM users WHERE username = 'ann'")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    let tus_reserved = resumed.len() as i64;
    eventually("the doomed node holds the PUT's reservation", || async { reserved().await > tus_reserved })
        .await;
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    for node in ring {
        node.clock.advance(Span::seconds(30));
    }
    // Only the tus upload's own reservation is left: it is resumable, so it keeps its quota.
    eventually("the dead node's reservation is released", || async { reserved().await == tus_reserved })
        .await;
    let head = tus(next(), Method::HEAD, &location, &ann).send().await.unwrap();
    assert_eq!(head.headers()["upload-offset"].to_str().unwrap(), MIB.to_string());
    let r = tus(next(), Method::PATCH, &location, &ann)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", MIB)
        .body(resumed[MIB..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let resumed_id = r.headers()["stratus-node-id"].to_str().unwrap().to_string();
    assert_eq!(next().download(&ann, &resumed_id).await, resumed);
    assert_eq!(next().used(&ann).await, used_before + resumed.len() as u64, "the cut-off PUT left nothing");
    assert_eq!(reserved().await, 0);
    // Nothing committed before was lost.
    assert_eq!(next().download(&ann, &raw_id).await, raw);
    assert_eq!(next().download(&ann, &tus_id).await, tussed);

    // Two minutes pass everywhere: expire-links falls due and runs once in the whole cluster,
    // even after every node has looked at the schedule twice more.
    for node in ring {
        node.clock.advance(Span::seconds(121));
    }
    eventually("expire-links ran", || async {
        !runs_of(&jobs(next(), &admin).await, "expire-links").is_empty()
    })
    .await;
    let after = a.clock_now();
    let beats = beats_after(next(), &admin, 3, |_, at| at > after).await;
    beats_after(next(), &admin, 3, |id, at| beats.iter().any(|(i, before)| i == id && at > *before)).await;
    assert_eq!(runs_of(&jobs(next(), &admin).await, "expire-links").len(), 1);

    // A purged file's blocks are collected from the bucket a shard at a time once the grace
    // period is over; repair finds nothing to do; fsck finds the whole cluster's data clean
    // (copies, reference counts, usage counters).
    let r = next().req(Method::DELETE, &format!("/api/v1/nodes/{raw_id}"), &ann).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = next().req(Method::DELETE, &format!("/api/v1/trash/{raw_id}"), &ann).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for node in ring {
        node.clock.advance(Span::seconds(3601));
    }
    let run = |job: &'static str| {
        let req = next().req(Method::POST, &format!("/api/v1/admin/jobs/{job}/run"), &admin).send();
        async move { ok_json(req.await.unwrap()).await }
    };
    let gc = run("gc").await;
    assert!(gc["items"].as_u64().unwrap() >= 2, "the purged file's two blocks at least: {gc}");
    assert_eq!(run("gc").await["items"], 0, "nothing left to collect");
    let repair = run("repair").await;
    assert_eq!(repair["outcome"], "ok", "{repair}");
    assert_eq!(next().download(&ann, &tus_id).await, tussed);
    assert_eq!(next().download(&ann, &blocks_id).await, blocks);
    let (report, code) = crate::storage::fsck(&a, &[]).await;
    assert_eq!(code, 0, "{report}");
}

async fn ok_json_created(r: reqwest::Response) -> Value {
    assert!(r.status() == StatusCode::CREATED || r.status() == StatusCode::OK, "{}", r.status());
    r.json().await.unwrap()
}
