//! Faults the storage engine must survive: a disk filling up, a server killed with `kill -9`
//! in the middle of parallel uploads, and blocks on S3 (moto_server on loopback, with
//! signature checking on).

use std::{path::Path, process::Stdio};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use stratus_server::config::VolumeConfig;

use crate::{helpers::*, storage::*};

/// A tmpfs of `mib` MiB mounted for the test's life (the suite runs as root, as CI does).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &Path, mib: u32) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mounting a {mib} MiB tmpfs at {} needs root", path.display());
        Self(path.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn temp_files(dir: &Path) -> usize {
    walk(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "tmp")).count()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

dual_test!(async fn a_full_disk_fails_the_upload_with_507_and_leaves_nothing(backend) {
    let disks = tempfile::tempdir().unwrap();
    let small = disks.path().join("small");
    let _mount = Tmpfs::mount(&small, 16);
    let volume = small.join("vol");
    let app = TestApp::spawn_with(backend, |c| {
        c.storage.volumes = vec![VolumeConfig { pool: "A".into(), location: volume.display().to_string() }];
    })
    .await;
    let admin = app.admin("ops").await;
    let u = app.register("ann").await;
    let big = data(32 << 20, 9);
    let r = app.put(&u, &u.root, "big.bin", big.clone(), "fail").await;
    assert_problem(r, StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage").await;
    assert!(app.names(&u, &u.root).await.is_empty(), "no file appears");
    assert_eq!(app.used(&u).await, 0, "no quota is kept");
    assert_eq!(temp_files(&volume), 0, "no partial block file");
    let view = overview(&app, &admin).await;
    assert_eq!(view["volumes"][0]["full"], true, "{view}");
    assert_eq!(view["volumes"][0]["nearly_full"], true, "{view}");
    assert!(view["warnings"][0].as_str().unwrap().contains("full"), "{view}");
    let metrics = app.metrics().await;
    assert!(metrics.contains("stratus_volume_nearly_full{volume=\"A1\",pool=\"A\"} 1"), "{metrics}");

    // The blocks it did write are garbage: the GC gives their room back.
    app.clock.advance(chrono::Duration::hours(2));
    run_job(&app, &admin, "gc").await;
    let small_file = app.upload(&u, &u.root, "small.bin", data(1 << 20, 1)).await;
    assert_eq!(app.download(&u, small_file["id"].as_str().unwrap()).await, data(1 << 20, 1));

    // Another volume in the pool takes what the full one cannot.
    let roomy = disks.path().join("roomy");
    let r = app
        .req(Method::POST, "/api/v1/admin/volumes", &admin)
        .json(&json!({"pool": "A", "location": roomy.display().to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let node = app.upload(&u, &u.root, "big.bin", big.clone()).await;
    assert_eq!(app.download(&u, node["id"].as_str().unwrap()).await, big);
    assert!(overview(&app, &admin).await["degraded_writes"].as_u64().unwrap() > 0);
    let repair = run_job(&app, &admin, "repair").await;
    assert!(repair["under_replicated"].as_u64().unwrap() > 0, "no room for a second copy: {repair}");
});

/// A `stratus serve` process of its own, to be killed.
pub(crate) struct Process {
    pub(crate) child: std::process::Child,
    pub(crate) base: String,
}

impl Process {
    pub(crate) async fn start(env: &[(String, String)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_stratus"))
            .arg("serve")
            .envs(env.iter().cloned())
            .env("STRATUS_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        eventually("the server answers", || async {
            client.get(format!("{base}/health")).send().await.is_ok()
        })
        .await;
        Self { child, base }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

dual_test!(async fn kill_9_during_parallel_uploads_loses_no_committed_file(backend) {
    let dir = tempfile::tempdir().unwrap();
    let disks: Vec<_> = (1..=2).map(|i| dir.path().join(format!("disk{i}"))).collect();
    // Uploads of unknown length reserve quota in 64 MiB steps: room for 20 at once.
    let mut config =
        stratus_server::Config { data_dir: dir.path().join("data"), default_quota: 4 << 30, ..Default::default() };
    config.storage.volumes = disks.iter().map(|d| VolumeConfig { pool: "A".into(), location: d.display().to_string() }).collect();
    if backend == Backend::Postgres {
        config.database_url = Some(fresh_postgres().await);
    }
    let env = config_env(&config);
    let server = Process::start(&env).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/v1/auth/register", server.base))
        .json(&json!({"username": "ann", "email": "ann@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let account: serde_json::Value = client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"login": "ann", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (token, root) = (account["token"].as_str().unwrap().to_string(), account["user"]["root_id"].as_str().unwrap().to_string());

    // 20 uploads of 6 MiB in 256 KiB pieces: 5 whole, 15 that stop after 3 MiB and wait
    // (on a notification only sent after the kill), so the kill lands in the middle of them.
    let (tx, mut acked) = tokio::sync::mpsc::unbounded_channel();
    let (half_tx, mut halfway) = tokio::sync::mpsc::unbounded_channel();
    let (release, hold) = tokio::sync::watch::channel(false);
    for i in 0..20u64 {
        let (url, token, tx) = (format!("{}/api/v1/nodes/{root}/files/f{i}.bin", server.base), token.clone(), tx.clone());
        let (hold, half_tx) = (hold.clone(), half_tx.clone());
        tokio::spawn(async move {
            let body = data(6 << 20, 100 + i);
            let pieces: Vec<Bytes> = body.chunks(256 << 10).map(Bytes::copy_from_slice).collect();
            let stream = futures_util::stream::iter(pieces.into_iter().enumerate()).then(move |(n, piece)| {
                let (hold, half_tx) = (hold.clone(), half_tx.clone());
                async move {
                    if i >= 5 && n == 12 {
                        let _ = half_tx.send(i);
                        let _ = hold.clone().wait_for(|go| *go).await;
                    }
                    Ok::<_, std::io::Error>(piece)
                }
            });
            let sent = reqwest::Client::new().put(url).bearer_auth(token).body(reqwest::Body::wrap_stream(stream)).send().await;
            if let Ok(r) = sent
                && r.status() == StatusCode::CREATED
            {
                let _ = tx.send(i);
            }
        });
    }
    drop((tx, half_tx));
    let mut committed = Vec::new();
    while committed.len() < 5 {
        committed.push(acked.recv().await.unwrap());
    }
    for _ in 5..20 {
        halfway.recv().await.unwrap();
    }
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let _ = release.send(true);
    while let Some(i) = acked.recv().await {
        committed.push(i);
    }
    assert!(committed.len() < 20, "the kill landed mid-upload");

    let server = Process::start(&env).await;
    let list: serde_json::Value = client
        .get(format!("{}/api/v1/nodes/{root}/children?limit=100", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<String> = list["items"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_string()).collect();
    for i in &committed {
        assert!(names.contains(&format!("f{i}.bin")), "acknowledged f{i}.bin survives: {names:?}");
    }
    for node in list["items"].as_array().unwrap() {
        let i: u64 = node["name"].as_str().unwrap()[1..].trim_end_matches(".bin").parse().unwrap();
        let got = client
            .get(format!("{}/api/v1/nodes/{}/content", server.base, node["id"].as_str().unwrap()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(got == data(6 << 20, 100 + i), "f{i}.bin is whole");
    }
    drop(server);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stratus")).args(["admin", "fsck"]).envs(env.iter().cloned()).output().unwrap();
    assert!(out.status.success(), "fsck is clean:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
});

/// The S3 service the test command starts (moto_server with signature checking on).
pub(crate) fn s3_settings() -> Option<stratus_server::config::S3Config> {
    let var = |n: &str| std::env::var(n).ok();
    let Some(endpoint) = var("STRATUS_TEST_S3_ENDPOINT") else {
        assert!(
            crate::helpers::skip_requested("STRATUS_TEST_SKIP_S3"),
            "the S3 tests need STRATUS_TEST_S3_ENDPOINT (scripts/test.sh starts moto_server); set STRATUS_TEST_SKIP_S3=1 to skip"
        );
        return None;
    };
    Some(stratus_server::config::S3Config {
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: var("STRATUS_TEST_S3_ACCESS_KEY_ID").unwrap(),
        secret_access_key: var("STRATUS_TEST_S3_SECRET_ACCESS_KEY").unwrap(),
    })
}

dual_test!(async fn a_pool_on_s3_round_trips_a_1_gib_file(backend) {
    let Some(s3) = s3_settings() else { return };
    // A bucket per engine, whole: moto's signature check rejects a listing prefix with a '/'
    // (boto3's too), so volumes here use no prefix. Blocks are content-addressed, so a rerun
    // against the same moto finds the same 256 objects.
    let engine = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    let prefix = format!("s3://{}-{engine}", std::env::var("STRATUS_TEST_S3_BUCKET").unwrap());
    let app = TestApp::spawn_with(backend, |c| {
        c.storage.s3 = s3.clone();
        c.storage.volumes = vec![VolumeConfig { pool: "A".into(), location: prefix.clone() }];
        c.default_quota = 2 << 30;
    })
    .await;
    let admin = app.admin("ops").await;
    let u = app.register("ann").await;
    // 1 GiB streamed up and down, compared by hash (it never sits in memory whole).
    let size: u64 = 1 << 30;
    let pieces = (0..size / (8 << 20)).map(|i| Ok::<_, std::io::Error>(Bytes::from(data(8 << 20, 7000 + i))));
    let r = app
        .req(Method::PUT, &format!("/api/v1/nodes/{}/files/big.bin", u.root), &u)
        .header("content-length", size)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let node: serde_json::Value = r.json().await.unwrap();
    let expected = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for i in 0..size / (8 << 20) {
            h.update(data(8 << 20, 7000 + i));
        }
        hex::encode(h.finalize())
    };
    let mut r = app.req(Method::GET, &format!("/api/v1/nodes/{}/content", node["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (mut got, mut h) = (0u64, <sha2::Sha256 as sha2::Digest>::new());
    while let Some(chunk) = r.chunk().await.unwrap() {
        got += chunk.len() as u64;
        sha2::Digest::update(&mut h, &chunk);
    }
    assert_eq!((got, hex::encode(sha2::Digest::finalize(h))), (size, expected));
    let view = overview(&app, &admin).await;
    assert_eq!(view["volumes"][0]["block_files"], 256, "{view}");
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!(code, 0, "{report}");

    // A wrong secret is refused by the service: the volume is offline, not silently empty.
    let wrong = TestApp::spawn_with(backend, |c| {
        c.database_url = Some(app.database_url());
        c.data_dir = app.data_dir();
        c.storage.s3 = stratus_server::config::S3Config { secret_access_key: "wrong".into(), ..s3.clone() };
    })
    .await;
    let view = wrong.stratus.storage_gauges(false).await;
    assert_eq!(view.volumes[0].health, "offline", "{view:?}");
});
