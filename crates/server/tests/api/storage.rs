//! The storage engine through the API and the `stratus admin` CLI: pools and tiers,
//! replication, a lost volume, corrupt copies, a full disk, runtime volume changes,
//! encryption at rest and fsck.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stratus_server::config::VolumeConfig;

use crate::helpers::*;

pub async fn run_job(app: &TestApp, admin: &TestUser, job: &str) -> Value {
    let run =
        ok_json(app.req(Method::POST, &format!("/api/v1/admin/jobs/{job}/run"), admin).send().await.unwrap())
            .await;
    assert_eq!(run["outcome"], "ok", "{run}");
    serde_json::from_str(run["detail"].as_str().unwrap_or("null")).unwrap()
}

/// Every block file under a volume directory.
pub fn block_files(volume: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for prefix in std::fs::read_dir(volume).into_iter().flatten().flatten() {
        if !prefix.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(prefix.path()).unwrap().flatten() {
            let name = file.file_name().into_string().unwrap();
            if name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()) {
                out.push(file.path());
            }
        }
    }
    out.sort();
    out
}

fn volumes(dirs: &[(&str, &Path)]) -> Vec<VolumeConfig> {
    dirs.iter()
        .map(|(pool, dir)| VolumeConfig { pool: pool.to_string(), location: dir.display().to_string() })
        .collect()
}

pub async fn overview(app: &TestApp, admin: &TestUser) -> Value {
    ok_json(app.req(Method::GET, "/api/v1/admin/volumes", admin).send().await.unwrap()).await
}

/// Runs `stratus admin fsck --json` (with `extra` flags) and returns its report and exit code.
pub async fn fsck(app: &TestApp, extra: &[&str]) -> (Value, i32) {
    let mut args = vec!["admin", "fsck", "--json"];
    args.extend_from_slice(extra);
    let out = app.cli(&args).await;
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    (report, out.status.code().unwrap_or(-1))
}

dual_test!(async fn a_lost_volume_loses_nothing_and_repair_restores_two_copies(backend) {
    let disks = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (1..=3).map(|i| disks.path().join(format!("disk{i}"))).collect();
    let app = TestApp::spawn_with(backend, |c| {
        c.storage.replicas = 2;
        c.storage.volumes = volumes(&[("A", &dirs[0]), ("A", &dirs[1]), ("A", &dirs[2])]);
    })
    .await;
    let admin = app.admin("ops").await;
    let u = app.register("ann").await;
    let mut files = Vec::new();
    for i in 0..12u64 {
        // From empty to three blocks and a bit.
        let body = data((i as usize * 1_100_000) % (13 << 20), i);
        let node = app.upload(&u, &u.root, &format!("f{i}.bin"), body.clone()).await;
        files.push((node["id"].as_str().unwrap().to_string(), body));
    }
    let copies: Vec<usize> = dirs.iter().map(|d| block_files(d).len()).collect();
    let distinct: std::collections::HashSet<_> =
        dirs.iter().flat_map(|d| block_files(d)).map(|p| p.file_name().unwrap().to_owned()).collect();
    assert_eq!(copies.iter().sum::<usize>(), 2 * distinct.len(), "{copies:?}: every block on two volumes");
    assert!(copies.iter().all(|n| *n > 0), "placement spreads blocks: {copies:?}");
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!((code, report["found"]["under_replicated"].as_u64()), (0, Some(0)), "{report}");

    // The disk holding the most blocks dies.
    let dead = (0..3).max_by_key(|&i| copies[i]).unwrap();
    std::fs::remove_dir_all(&dirs[dead]).unwrap();
    for (id, body) in &files {
        assert!(app.download(&u, id).await == *body, "every file still downloads byte-identical");
    }
    let view = overview(&app, &admin).await;
    let dead_id = format!("A{}", dead + 1);
    let dead_view = view["volumes"].as_array().unwrap().iter().find(|v| v["id"] == dead_id.as_str()).unwrap().clone();
    assert_eq!(dead_view["health"], "offline", "{view}");
    assert!(view["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains(&dead_id)), "{view}");
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!(code, 1, "a lost volume is not clean: {report}");
    assert!(report["found"]["under_replicated"].as_u64().unwrap() > 0, "{report}");

    let repair = run_job(&app, &admin, "repair").await;
    assert_eq!(repair["lost"], 0, "{repair}");
    assert_eq!(repair["under_replicated"], 0, "{repair}");
    assert!(repair["copies_made"].as_u64().unwrap() > 0, "{repair}");
    let alive: Vec<&PathBuf> = dirs.iter().enumerate().filter(|(i, _)| *i != dead).map(|(_, d)| d).collect();
    for d in &alive {
        assert_eq!(block_files(d).len(), distinct.len(), "each survivor holds every block once more");
    }
    // Give the dead disk up; everything is clean again.
    let r = app.req(Method::DELETE, &format!("/api/v1/admin/volumes/{dead_id}"), &admin).send().await.unwrap();
    assert_problem(r, StatusCode::CONFLICT, "volume_offline").await;
    let r = app.req(Method::DELETE, &format!("/api/v1/admin/volumes/{dead_id}?force=true"), &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!(code, 0, "{report}");
    for (id, body) in &files {
        assert!(app.download(&u, id).await == *body);
    }
});

/// Flips a byte in the middle of a block file.
fn corrupt(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

dual_test!(async fn corrupt_copies_are_detected_never_served_and_repaired(backend) {
    let disks = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (1..=2).map(|i| disks.path().join(format!("disk{i}"))).collect();
    let app = TestApp::spawn_with(backend, |c| {
        c.storage.volumes = volumes(&[("A", &dirs[0]), ("A", &dirs[1])]);
    })
    .await;
    let admin = app.admin("ops").await;
    let u = app.register("ann").await;
    let mut files = Vec::new();
    for i in 0..200u64 {
        let body = data(BLOCKED, 1000 + i);
        let node = app.upload(&u, &u.root, &format!("s{i}.bin"), body.clone()).await;
        files.push((node["id"].as_str().unwrap().to_string(), body));
    }
    let all: Vec<PathBuf> = dirs.iter().flat_map(|d| block_files(d)).collect();
    assert_eq!(all.len(), 400);

    // 1 % of the block files rot: the scrub finds every one and repairs it.
    // Four distinct blocks (both volumes list the same blocks in the same order).
    for i in [0, 100, 250, 350] {
        corrupt(&all[i]);
    }
    let scrub = run_job(&app, &admin, "scrub").await;
    assert_eq!((scrub["copies_checked"].as_u64(), scrub["corrupt"].as_u64()), (Some(400), Some(4)), "{scrub}");
    assert_eq!((scrub["repaired"].as_u64(), scrub["unrepairable"].as_u64()), (Some(4), Some(0)), "{scrub}");
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!((code, report["found"]["corrupt_copies"].as_u64()), (0, Some(0)), "{report}");

    // Rot on the volume reads try first: every read detects it, serves the good copy and
    // heals the bad one.
    let first = block_files(&dirs[0]);
    for path in first.iter().step_by(50) {
        corrupt(path);
    }
    for (id, body) in &files {
        assert!(app.download(&u, id).await == *body, "nothing corrupt is served");
    }
    let view = overview(&app, &admin).await;
    assert_eq!(view["read_faults"], 4, "{view}");
    eventually("read repairs", || async { overview(&app, &admin).await["read_repairs"] == 4 }).await;
    let metrics = app.metrics().await;
    assert!(metrics.contains("stratus_block_read_faults_total 4"), "{metrics}");
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!(code, 0, "{report}");

    // Both copies rotten: refused, never served; fsck reports it and cannot repair it.
    let victim = &files[7];
    let name = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&victim.1))
    };
    for d in &dirs {
        corrupt(&d.join(&name[..2]).join(&name));
    }
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/content", victim.0), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let (report, code) = fsck(&app, &["--repair"]).await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["after"]["missing"], 1, "{report}");
    assert_eq!(report["after"]["corrupt_copies"], 2, "kept for forensics, never deleted: {report}");
});

dual_test!(async fn tiers_send_blocks_to_their_pool_and_volumes_change_at_runtime(backend) {
    let disks = tempfile::tempdir().unwrap();
    let [a1, b1, a2, a3] = ["a1", "b1", "a2", "a3"].map(|n| disks.path().join(n));
    let app = TestApp::spawn_with(backend, |c| {
        c.storage.volumes = volumes(&[("A", &a1), ("B", &b1)]);
    })
    .await;
    let admin = app.admin("ops").await;
    let free = app.register("free").await;
    app.upload(&free, &free.root, "a.bin", data(BLOCKED, 1)).await;
    assert_eq!((block_files(&a1).len(), block_files(&b1).len()), (1, 0), "free plan → pool A");
    // A 20 GB plan (issue 8 sells them; the default quota stands in here) → pool B.
    let app_b = TestApp::spawn_with(backend, |c| {
        c.database_url = Some(app.database_url());
        c.data_dir = app.data_dir();
        c.storage.volumes = volumes(&[("A", &a1), ("B", &b1)]);
        c.default_quota = 20 << 30;
    })
    .await;
    let paid = app_b.register("paid").await;
    app_b.upload(&paid, &paid.root, "b.bin", data(BLOCKED, 2)).await;
    assert_eq!((block_files(&a1).len(), block_files(&b1).len()), (1, 1), "20 GB plan → pool B");

    // The admin API: a volume that cannot be written is refused; non-admins are not let in.
    let not_a_dir = disks.path().join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let add = |loc: &Path| json!({"pool": "A", "location": loc.display().to_string()});
    let r = app.req(Method::POST, "/api/v1/admin/volumes", &admin).json(&add(&not_a_dir)).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "volume_unusable").await;
    let r = app.req(Method::POST, "/api/v1/admin/volumes", &free).json(&add(&a2)).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.req(Method::POST, "/api/v1/admin/volumes", &admin).json(&add(&a2)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let added: Value = r.json().await.unwrap();
    assert_eq!((added["id"].as_str(), added["health"].as_str()), (Some("A2"), Some("online")), "{added}");
    assert!(added["capacity_bytes"].as_u64().unwrap() > 0, "{added}");
    let r = app.req(Method::POST, "/api/v1/admin/volumes", &admin).json(&add(&a2)).send().await.unwrap();
    assert_problem(r, StatusCode::CONFLICT, "volume_exists").await;

    // `stratus admin volume add` while the server runs: picked up without a restart.
    let out = app.cli(&["admin", "volume", "add", "--pool", "A", a3.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually("the server sees A3", || async {
        app.stratus.storage_gauges(false).await.volumes.iter().any(|v| v.id == "A3" && v.health == "online")
    })
    .await;

    // A1 read-only: new blocks go to A2 and A3 only (two copies: the pool has three volumes).
    let r = app.req(Method::PATCH, "/api/v1/admin/volumes/A1", &admin).json(&json!({"state": "read_only"})).send().await;
    assert_eq!(ok_json(r.unwrap()).await["state"], "read_only");
    let big = data(9 << 20, 3);
    let node = app.upload(&free, &free.root, "big.bin", big.clone()).await;
    assert_eq!(block_files(&a1).len(), 1);
    assert_eq!((block_files(&a2).len(), block_files(&a3).len()), (3, 3));
    let r = app.req(Method::PATCH, "/api/v1/admin/volumes/A1", &admin).json(&json!({"state": "sideways"})).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Drain A1: its block moves, then it can be removed; a volume with blocks cannot.
    let r = app.req(Method::DELETE, "/api/v1/admin/volumes/A2", &admin).send().await.unwrap();
    assert_problem(r, StatusCode::CONFLICT, "volume_not_empty").await;
    let out = app.cli(&["admin", "volume", "drain", "A1"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let drain = run_job(&app, &admin, "drain").await;
    assert_eq!((drain["moved_off_draining"].as_u64(), drain["drained"].clone()), (Some(1), json!(["A1"])), "{drain}");
    assert!(block_files(&a1).is_empty());
    let r = app.req(Method::DELETE, "/api/v1/admin/volumes/A1", &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.download(&free, node["id"].as_str().unwrap()).await, big);
    let a_id = app.by_path(&free, "/a.bin").await;
    assert_eq!(app.download(&free, &a_id).await, data(BLOCKED, 1));
    let out = app.cli(&["admin", "volume", "list"]).await;
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("A2") && listing.contains("B1") && !listing.contains("\nA1\t"), "{listing}");
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!(code, 0, "{report}");
});

dual_test!(async fn blocks_are_encrypted_at_rest_and_a_wrong_key_is_refused(backend) {
    let key = "11".repeat(32);
    let app = TestApp::spawn_with(backend, |c| c.storage.encryption_key = Some(key.clone())).await;
    let u = app.register("ann").await;
    let body = b"a plaintext that must not reach the disk ".repeat(200_000);
    let node = app.upload(&u, &u.root, "secret.txt", body.clone()).await;
    let id = node["id"].as_str().unwrap();
    let files = block_files(&app.data_dir().join("blocks"));
    assert_eq!(files.len(), 2);
    for f in &files {
        let stored = std::fs::read(f).unwrap();
        assert!(!stored.windows(30).any(|w| w == &body[..30]), "no plaintext on disk");
    }
    // The address is still the plaintext's hash: the Dropbox content hash is unchanged.
    let first = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body[..4 << 20]))
    };
    assert!(files.iter().any(|f| f.file_name().unwrap() == first.as_str()));
    assert_eq!(app.download(&u, id).await, body);
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!(code, 0, "{report}");

    // The same data with another key: detected, nothing served.
    let wrong = TestApp::spawn_with(backend, |c| {
        c.database_url = Some(app.database_url());
        c.data_dir = app.data_dir();
        c.storage.encryption_key = Some("22".repeat(32));
    })
    .await;
    let admin = wrong.admin("ops").await;
    let view = overview(&wrong, &admin).await;
    assert!(view["volumes"][0]["problem"].as_str().unwrap().contains("encryption key"), "{view}");
    let r = wrong.req(Method::GET, &format!("/api/v1/nodes/{id}/content"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
});

dual_test!(async fn fsck_repairs_reference_counts_and_a_volume_can_be_reactivated(backend) {
    let disks = tempfile::tempdir().unwrap();
    let key_file = disks.path().join("key");
    std::fs::write(&key_file, "ab".repeat(32)).unwrap();
    let [a1, a2] = ["a1", "a2"].map(|n| disks.path().join(n));
    let app = TestApp::spawn_with(backend, |c| {
        c.storage.volumes = volumes(&[("A", &a1), ("A", &a2)]);
        c.storage.replicas = 1;
        c.storage.encryption_key_file = Some(key_file.clone());
    })
    .await;
    let u = app.register("ann").await;
    let body = data(5 << 20, 77);
    let node = app.upload(&u, &u.root, "f.bin", body.clone()).await;
    assert_eq!(app.download(&u, node["id"].as_str().unwrap()).await, body, "a key from a file works");

    // A reference count gone wrong behind the service's back.
    app.sql("UPDATE blocks SET refcount = refcount + 5").await;
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!((code, report["found"]["refcount_mismatches"].as_u64()), (1, Some(2)), "{report}");
    let (report, code) = fsck(&app, &["--repair"]).await;
    assert_eq!((code, report["refcounts_fixed"].as_u64()), (0, Some(2)), "{report}");
    assert_eq!(report["after"]["refcount_mismatches"], 0, "{report}");
    // A block row lost altogether: recreated, with its size, and the file still reads back.
    let sizes = "SELECT CAST(SUM(size) AS BIGINT) FROM blocks";
    let total = app.sql_i64(sizes).await;
    app.sql("DELETE FROM blocks WHERE hash = (SELECT hash FROM blocks ORDER BY hash LIMIT 1)").await;
    let (report, code) = fsck(&app, &[]).await;
    assert_eq!((code, report["found"]["refcount_mismatches"].as_u64()), (1, Some(1)), "{report}");
    let (report, code) = fsck(&app, &["--repair"]).await;
    assert_eq!((code, report["refcounts_fixed"].as_u64()), (0, Some(1)), "{report}");
    assert_eq!((app.sql_i64(sizes).await, report["after"]["refcount_mismatches"].as_u64()), (total, Some(0)));
    assert_eq!(app.download(&u, node["id"].as_str().unwrap()).await, body);

    // Read-only, then active again: new blocks land on it once more (A2 read-only by then,
    // so placement has one choice).
    let steps: [&[[&str; 2]]; 2] = [&[["readonly", "A1"]], &[["activate", "A1"], ["readonly", "A2"]]];
    for (round, commands) in steps.into_iter().enumerate() {
        for [state, id] in commands {
            let out = app.cli(&["admin", "volume", state, id]).await;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        app.stratus.sync_volumes().await.unwrap();
        let before = block_files(&a1).len();
        for i in 0..6 {
            // New content each round (the same bytes would dedup onto the first copies).
            app.upload(&u, &u.root, &format!("r{round}-{i}.bin"), data(BLOCKED, 1000 + 10 * round as u64 + i)).await;
        }
        let expected = if round == 0 { before } else { before + 6 };
        assert_eq!(block_files(&a1).len(), expected, "round {round}");
    }
});
