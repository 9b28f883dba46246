//! Many nodes as one: servers starting together on an empty database, jobs scheduled once per
//! cluster, a dead node's reservations given back, and storage outages answered 503.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use chrono::Duration as Span;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use stratus_server::config::VolumeConfig;
use tokio::io::AsyncWriteExt;

use crate::{
    faults::{Process, s3_settings},
    helpers::*,
};

/// The nodes whose heartbeat is current, as the admin API lists them: id → last beat.
pub(crate) async fn nodes(app: &TestApp, admin: &TestUser) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    let r = app.req(Method::GET, "/api/v1/admin/nodes", admin).send().await.unwrap();
    let nodes = ok_json(r).await;
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_string(), n["seen_at"].as_str().unwrap().parse().unwrap()))
        .collect()
}

/// Waits until the latest heartbeats of all `count` nodes pass `newer`, and returns them.
pub(crate) async fn beats_after(
    app: &TestApp,
    admin: &TestUser,
    count: usize,
    newer: impl Fn(&str, chrono::DateTime<chrono::Utc>) -> bool,
) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = nodes(app, admin).await;
        if now.len() == count && now.iter().all(|(id, at)| newer(id, *at)) {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for every node to beat: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn jobs(app: &TestApp, admin: &TestUser) -> Value {
    ok_json(app.req(Method::GET, "/api/v1/admin/jobs", admin).send().await.unwrap()).await
}

pub(crate) fn runs_of<'a>(view: &'a Value, name: &str) -> Vec<&'a Value> {
    view["runs"].as_array().unwrap().iter().filter(|r| r["name"] == name).collect()
}

#[tokio::test]
async fn nodes_started_together_on_an_empty_database_all_come_up() {
    if skip_postgres() {
        return;
    }
    let url = fresh_postgres().await;
    let shared = tempfile::tempdir().unwrap();
    let volume = shared.path().join("disk").display().to_string();
    let start = || {
        let (url, volume) = (url.clone(), volume.clone());
        TestApp::spawn_with(Backend::Postgres, move |c| {
            c.database_url = Some(url);
            c.storage.volumes = vec![VolumeConfig { pool: "A".into(), location: volume }];
        })
    };
    // The same moment, the same empty database, the same configured volume.
    let (a, b, c) = tokio::join!(start(), start(), start());
    let admin = a.admin("ops").await;
    let volumes = ok_json(b.req(Method::GET, "/api/v1/admin/volumes", &admin).send().await.unwrap()).await;
    assert_eq!(volumes["volumes"].as_array().map(Vec::len), Some(1), "one volume registered: {volumes}");
    assert_eq!(nodes(&c, &admin).await.len(), 3);
    // And they work as one: written through one, read through another.
    let u = a.register("ann").await;
    let file = b.upload(&u, &u.root, "one.txt", b"from b".to_vec()).await;
    assert_eq!(c.download(&u, file["id"].as_str().unwrap()).await, b"from b");
}

dual_test!(async fn a_job_runs_once_per_interval_across_the_cluster(backend) {
    let first = TestApp::spawn_with(backend, |c| c.heartbeat_secs = 1).await;
    let url = first.database_url();
    let second = TestApp::spawn_with(backend, |c| {
        c.database_url = Some(url);
        c.heartbeat_secs = 1;
    })
    .await;
    let admin = first.admin("ops").await;
    // Every job is listed before it ever ran, with its interval and when it is due.
    let view = jobs(&first, &admin).await;
    let listed = view["jobs"].as_array().unwrap();
    assert_eq!(listed.len(), 10);
    for job in listed {
        assert!(job["next_due_at"].is_string(), "{job}");
        assert!(job["last_run"].is_null(), "{job}");
    }
    let out = first.cli(&["admin", "jobs"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.lines().any(|l| l.starts_with("expire-links\t120s\t") && l.contains("\tnever\t")), "{text}");
    assert_eq!(text.lines().count(), 11, "a header and every job: {text}");

    for round in 1..=2 {
        // Two minutes pass on both nodes: expire-links (every 120 s) falls due once.
        first.clock.advance(Span::seconds(121));
        second.clock.advance(Span::seconds(121));
        eventually("expire-links ran", || async { runs_of(&jobs(&first, &admin).await, "expire-links").len() >= round }).await;
        // Let both nodes look at the schedule again: a heartbeat after one that follows the
        // run means a whole pass of claims ran after it. Neither runs it a second time.
        let after = first.clock_now();
        let beats = beats_after(&first, &admin, 2, |_, at| at > after).await;
        beats_after(&first, &admin, 2, |id, at| beats.iter().any(|(i, before)| i == id && at > *before)).await;
        let view = jobs(&second, &admin).await;
        assert_eq!(runs_of(&view, "expire-links").len(), round, "once per interval: {view}");
        let job = view["jobs"].as_array().unwrap().iter().find(|j| j["name"] == "expire-links").unwrap().clone();
        assert_eq!(job["last_run"]["outcome"], "ok");
        let due: chrono::DateTime<chrono::Utc> = job["next_due_at"].as_str().unwrap().parse().unwrap();
        assert!(due > first.clock_now(), "the next run is in the future: {job}");
    }
    // Nothing else was due.
    let view = jobs(&first, &admin).await;
    assert!(view["runs"].as_array().unwrap().iter().all(|r| r["name"] == "expire-links"), "{view}");
});

/// An upload whose body stops after its first MiB, against `base`: the server has reserved
/// the whole declared length. The sender keeps the body open.
pub(crate) async fn stalled_upload(
    base: &str,
    user: &TestUser,
    declared: u64,
) -> tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(Ok(Bytes::from(data(1 << 20, 5)))).await.unwrap();
    let request = reqwest::Client::new()
        .put(format!("{base}/api/v1/nodes/{}/files/stalled.bin", user.root))
        .bearer_auth(&user.token)
        .header("content-length", declared)
        .body(reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })));
    tokio::spawn(request.send());
    tx
}

#[tokio::test]
async fn a_node_killed_mid_upload_gives_its_reservation_back() {
    if skip_postgres() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.heartbeat_secs = 1;
        c.node_timeout_secs = 10;
    })
    .await;
    let u = app.register("ann").await;
    // A second node, a process of its own: the same database and volume.
    let mut env = config_env(&app.config);
    env.push(("STRATUS_HEARTBEAT_SECS".into(), "1".into()));
    env.push(("STRATUS_NODE_TIMEOUT_SECS".into(), "10".into()));
    env.push(("STRATUS_VOLUMES".into(), format!("A={}", app.config.blocks_dir().display())));
    let mut other = Process::start(&env).await;
    // Nearly the whole quota, reserved by an upload on the other node that is still sending.
    let _body = stalled_upload(&other.base, &u, (1 << 30) - (1 << 20)).await;
    let db = sqlx::PgPool::connect(&app.database_url()).await.unwrap();
    eventually("the other node holds the reservation", || async {
        let reserved: i64 = sqlx::query_scalar("SELECT quota_reserved FROM users WHERE id = $1")
            .bind(&u.id)
            .fetch_one(&db)
            .await
            .unwrap();
        reserved > 0
    })
    .await;
    let r = app.put(&u, &u.root, "probe.bin", data(2 << 20, 1), "fail").await;
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    // While the node lives (it beats every second; it is dead after 10 s of silence), its
    // reservation stands as the survivor goes on beating and looking for dead nodes: wait for
    // two of its heartbeats.
    let admin = app.admin("ops").await;
    let me = app.stratus.node_name().to_string();
    let beat = |list: &[(String, chrono::DateTime<chrono::Utc>)]| {
        list.iter().find(|(id, _)| *id == me).map(|(_, at)| *at)
    };
    let mut last = beat(&nodes(&app, &admin).await);
    for _ in 0..2 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = beat(&nodes(&app, &admin).await);
            if now > last {
                last = now;
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the survivor stopped beating");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let r = app.put(&u, &u.root, "probe.bin", data(2 << 20, 1), "fail").await;
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    // kill -9 mid-upload: its heartbeat stops, and the survivor gives the quota back.
    other.child.kill().unwrap();
    other.child.wait().unwrap();
    app.clock.advance(Span::seconds(30));
    eventually("the dead node's reservation is released", || async {
        app.put(&u, &u.root, "probe.bin", data(2 << 20, 1), "fail").await.status() == StatusCode::CREATED
    })
    .await;
    // Nothing half-written appeared.
    assert_eq!(app.names(&u, &u.root).await, vec!["probe.bin"]);
}

/// A TCP relay in front of the S3 service, to take it away: `FORWARD` relays, `DROP` closes
/// each connection at once (S3 down), `HANG` accepts and never answers (S3 hanging).
struct Relay {
    endpoint: String,
    mode: Arc<AtomicU8>,
}

const FORWARD: u8 = 0;
const DROP: u8 = 1;
const HANG: u8 = 2;

impl Relay {
    async fn start(upstream: &str) -> Self {
        let target = upstream.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let m = mode.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (target, mode) = (target.clone(), m.load(Ordering::SeqCst));
                tokio::spawn(async move {
                    match mode {
                        FORWARD => {
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        }
                        DROP => {
                            let _ = inbound.shutdown().await;
                        }
                        _ => tokio::time::sleep(Duration::from_secs(300)).await,
                    }
                });
            }
        });
        Self { endpoint, mode }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

dual_test!(async fn an_s3_outage_is_answered_503_and_ready_says_so_in_time(backend) {
    let Some(mut s3) = s3_settings() else { return };
    let relay = Relay::start(s3.endpoint.as_deref().unwrap()).await;
    s3.endpoint = Some(relay.endpoint.clone());
    let engine = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    let bucket = format!("s3://{}-outage-{engine}", std::env::var("STRATUS_TEST_S3_BUCKET").unwrap());
    let app = TestApp::spawn_with(backend, |c| {
        c.storage.s3 = s3.clone();
        c.storage.volumes = vec![VolumeConfig { pool: "A".into(), location: bucket.clone() }];
    })
    .await;
    let u = app.register("ann").await;
    // Files large enough to be blocks (a small one lives in the database and is served
    // through an outage of the block store, as the end of this test checks).
    let kept = app.upload(&u, &u.root, "kept.txt", data(BLOCKED, 1)).await;
    let r = app.anon(Method::GET, "/ready").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // S3 goes away: uploads and downloads are 503 storage_unavailable with Retry-After, and
    // nothing is half-created.
    relay.set(DROP);
    let r = app.put(&u, &u.root, "new.txt", data(BLOCKED, 2), "fail").await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable").await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/content", kept["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable").await;
    assert_eq!(app.names(&u, &u.root).await, vec!["kept.txt"]);
    let r = app.anon(Method::GET, "/ready").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["database"], "ok", "{body}");
    assert!(body["storage"].as_str().unwrap().starts_with("unavailable"), "{body}");
    // A small file lives in the database: it is stored and served through the outage.
    let small = app.upload(&u, &u.root, "note.txt", b"written during the outage".to_vec()).await;
    assert_eq!(app.download(&u, small["id"].as_str().unwrap()).await, b"written during the outage");

    // S3 hangs: `/ready` still answers at once (its checks have a 1.5 s deadline; the bound
    // here leaves room for a loaded machine, far below the minutes S3 clients may wait).
    relay.set(HANG);
    let started = std::time::Instant::now();
    let r = app.anon(Method::GET, "/ready").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(4), "/ready took {:?}", started.elapsed());

    // S3 is back: so is everything, with nothing lost.
    relay.set(FORWARD);
    eventually("ready again", || async {
        app.anon(Method::GET, "/ready").send().await.unwrap().status() == StatusCode::OK
    })
    .await;
    assert_eq!(app.download(&u, kept["id"].as_str().unwrap()).await, data(BLOCKED, 1));
    let r = app.put(&u, &u.root, "new.txt", b"after the outage".to_vec(), "fail").await;
    assert_eq!(r.status(), StatusCode::CREATED);
});

#[tokio::test]
async fn an_exhausted_database_pool_is_answered_503() {
    if skip_postgres() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.db_pool_size = 2;
        c.db_acquire_timeout_secs = 1;
    })
    .await;
    let u = app.register("ann").await;
    // Slow queries hold the pool's two connections: a lock taken from outside stalls them.
    use sqlx::Connection;
    let mut outside = sqlx::PgConnection::connect(&app.database_url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut outside).await.unwrap();
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE").execute(&mut outside).await.unwrap();
    let slow: Vec<_> = (0..2).map(|_| tokio::spawn(app.req(Method::GET, "/api/v1/me", &u).send())).collect();
    // A third request finds no free connection within the timeout: 503, not a hang or a 500.
    eventually("the pool is exhausted", || async {
        // (A probe that got a connection is stalled too: it gives up, and the next one asks.)
        let Ok(r) = app.req(Method::GET, "/api/v1/me", &u).timeout(Duration::from_secs(5)).send().await
        else {
            return false;
        };
        if r.status() != StatusCode::SERVICE_UNAVAILABLE {
            return false;
        }
        assert!(r.headers().contains_key("retry-after"));
        assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "database_unavailable").await;
        true
    })
    .await;
    sqlx::query("ROLLBACK").execute(&mut outside).await.unwrap();
    // The stalled requests finish once the lock goes (or were among those refused at once).
    for request in slow {
        let status = request.await.unwrap().unwrap().status();
        assert!(status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE, "{status}");
    }
    let r = app.req(Method::GET, "/api/v1/me", &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
