//! Usage statistics equal a recount after a random sequence of operations.

use std::collections::{BTreeMap, HashSet};

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

/// The test's own model of one file.
#[derive(Debug, Clone)]
struct File {
    id: String,
    /// (size, content seed) of the current version, then older ones.
    current: (u64, u64),
    older: Vec<(u64, u64)>,
    trashed: bool,
}

/// The test's own category table, for the names it uses.
fn category(name: &str) -> &'static str {
    match name.rsplit('.').next().map(str::to_lowercase).as_deref() {
        Some("jpg" | "jpeg" | "png") => "images",
        Some("mp4" | "mov") => "video",
        Some("mp3" | "flac") => "audio",
        Some("pdf" | "txt" | "docx") => "documents",
        Some("zip" | "7z") => "archives",
        _ => "other",
    }
}

fn content(size: u64, seed: u64) -> Vec<u8> {
    data(size as usize, seed)
}

dual_test!(async fn statistics_equal_a_recount_after_random_operations(backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin("ops").await;
    let u = app.register("counted").await;
    let names = ["a.jpg", "B.JPEG", "c.mp4", "d.mp3", "e.pdf", "f.txt", "g.zip", "h.bin", "i", "j.docx", "k.png", "l.flac"];
    let mut files: BTreeMap<String, File> = BTreeMap::new();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut seed = 100;
    for _ in 0..60 {
        let name = names[next(names.len() as u64) as usize].to_string();
        // Both sides of the inline limit: kept in the database, or a block.
        let size = if next(5) == 0 { 0 } else { 1 + next(3 * BLOCKED as u64 / 2) };
        seed += 1;
        match (files.get(&name).cloned(), next(4)) {
            (None, _) => {
                let node = app.upload(&u, &u.root, &name, content(size, seed)).await;
                let id = node["id"].as_str().unwrap().to_string();
                files.insert(name, File { id, current: (size, seed), older: vec![], trashed: false });
            }
            (Some(f), 0 | 1) if !f.trashed => {
                let r = app.req(Method::PUT, &format!("/api/v1/nodes/{}/content", f.id), &u).body(content(size, seed)).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let entry = files.get_mut(&name).unwrap();
                entry.older.push(entry.current);
                entry.current = (size, seed);
            }
            (Some(f), 2) if !f.trashed => {
                let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{}", f.id), &u).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::NO_CONTENT);
                files.get_mut(&name).unwrap().trashed = true;
            }
            (Some(f), 3) if f.trashed => {
                let r = app.req(Method::DELETE, &format!("/api/v1/trash/{}", f.id), &u).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::NO_CONTENT);
                files.remove(&name);
            }
            (Some(f), _) if f.trashed => {
                let r = app.req(Method::POST, &format!("/api/v1/trash/{}/restore", f.id), &u).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                files.get_mut(&name).unwrap().trashed = false;
            }
            _ => {}
        }
    }
    // A duplicate of a live file's content, so storage dedups something.
    let dup_of = files.values().find(|f| !f.trashed && f.current.0 > 0).cloned().unwrap();
    let dup = app.upload(&u, &u.root, "dup.bin", content(dup_of.current.0, dup_of.current.1)).await;
    files.insert("dup.bin".into(), File { id: dup["id"].as_str().unwrap().into(), current: dup_of.current, older: vec![], trashed: false });

    let stats = ok_json(app.req(Method::GET, "/api/v1/me/stats", &u).send().await.unwrap()).await;
    let mut expected: BTreeMap<&str, (u64, u64)> = ["images", "video", "audio", "documents", "archives", "other"].iter().map(|c| (*c, (0, 0))).collect();
    for (name, f) in files.iter().filter(|(_, f)| !f.trashed) {
        let e = expected.get_mut(category(name)).unwrap();
        e.0 += 1;
        e.1 += f.current.0;
    }
    for c in stats["by_category"].as_array().unwrap() {
        let want = expected[c["category"].as_str().unwrap()];
        assert_eq!((c["files"].as_u64().unwrap(), c["bytes"].as_u64().unwrap()), want, "{c}");
    }
    let trashed: Vec<&File> = files.values().filter(|f| f.trashed).collect();
    assert_eq!(stats["trash_files"].as_u64(), Some(trashed.len() as u64));
    assert_eq!(stats["trash_bytes"].as_u64(), Some(trashed.iter().map(|f| f.current.0).sum()));
    assert_eq!(stats["versions"].as_u64(), Some(files.values().map(|f| f.older.len() as u64).sum()));
    assert_eq!(stats["version_bytes"].as_u64(), Some(files.values().flat_map(|f| &f.older).map(|v| v.0).sum()));
    assert_eq!(stats["quota"]["used"].as_u64(), Some(files.values().map(|f| f.current.0).sum()));
    // The live figures also match a walk of the drive through the API.
    let listed: u64 = app.children(&u, &u.root).await.iter().map(|n| n["size"].as_u64().unwrap()).sum();
    assert_eq!(listed, files.values().filter(|f| !f.trashed).map(|f| f.current.0).sum::<u64>());

    let system = ok_json(app.req(Method::GET, "/api/v1/admin/stats", &admin).send().await.unwrap()).await;
    let versions: Vec<(u64, u64)> = files.values().flat_map(|f| std::iter::once(f.current).chain(f.older.iter().copied())).collect();
    // Blocks dedup; what is kept inline is kept once per version.
    let inline = stratus_blob::INLINE_MAX;
    let distinct: HashSet<(u64, u64)> = versions.iter().copied().filter(|v| v.0 > inline).collect();
    let inline_bytes: u64 = versions.iter().map(|v| v.0).filter(|&s| s <= inline).sum();
    assert_eq!(system["users"].as_u64(), Some(2));
    assert_eq!(system["logical_bytes"].as_u64(), Some(versions.iter().map(|v| v.0).sum()));
    assert_eq!(system["inline_bytes"].as_u64(), Some(inline_bytes));
    assert_eq!(system["stored_bytes"].as_u64(), Some(distinct.iter().map(|v| v.0).sum::<u64>() + inline_bytes));
    assert_eq!(system["blocks"].as_u64(), Some(distinct.len() as u64));
    let ratio = system["logical_bytes"].as_f64().unwrap() / system["stored_bytes"].as_f64().unwrap();
    assert!((system["dedup_ratio"].as_f64().unwrap() - ratio).abs() < 1e-9, "{system}");
    // The volume also holds blocks the GC has yet to collect.
    assert!(system["volumes"][0]["bytes"].as_u64().unwrap() >= system["stored_bytes"].as_u64().unwrap() - inline_bytes);
    assert!(system["volumes"][0]["block_files"].as_u64().unwrap() >= distinct.len() as u64);
    let r = app.req(Method::GET, "/api/v1/admin/stats", &u).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
});

dual_test!(async fn the_usage_series_has_a_point_per_day(backend) {
    let app = TestApp::spawn_with(backend, |c| c.session_days = 3650).await;
    let admin = app.admin("ops").await;
    let u = app.register("grower").await;
    app.upload(&u, &u.root, "one.txt", vec![1; 1000]).await;
    let run = app.req(Method::POST, "/api/v1/admin/jobs/refresh-stats/run", &admin).send().await.unwrap();
    assert_eq!(ok_json(run).await["items"], 2);
    let first_day = app.clock_now().format("%Y-%m-%d").to_string();
    app.clock.advance(Duration::days(1));
    app.upload(&u, &u.root, "two.txt", vec![2; 500]).await;
    let stats = ok_json(app.req(Method::GET, "/api/v1/me/stats", &u).send().await.unwrap()).await;
    let daily: Vec<(String, u64, u64)> = stats["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d: &Value| (d["day"].as_str().unwrap().to_string(), d["bytes"].as_u64().unwrap(), d["files"].as_u64().unwrap()))
        .collect();
    let today = app.clock_now().format("%Y-%m-%d").to_string();
    assert_eq!(daily, [(first_day, 1000, 1), (today, 1500, 2)]);
});

// The counters behind `/me/stats` follow every extension of `stratus_core::CATEGORIES`, renames,
// whole folders going to the trash and back, and an emptied trash; `fsck` finds counters
// changed behind the service's back and sets them right.
dual_test!(async fn usage_counters_follow_every_change_and_fsck_recounts_them(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("sorted").await;
    let top = app.mkdir(&u, &u.root, "all").await["id"].as_str().unwrap().to_string();
    let sub = app.mkdir(&u, &top, "sub").await["id"].as_str().unwrap().to_string();
    let mut expected: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut id_of_jpg = String::new();
    for (i, (category, exts)) in stratus_core::CATEGORIES.iter().enumerate() {
        for (j, ext) in exts.iter().enumerate() {
            // Upper case every other time: the extension's case does not matter.
            let ext = if j % 2 == 0 { ext.to_string() } else { ext.to_uppercase() };
            let size = (i * 100 + j + 1) as u64;
            let folder = if j % 3 == 0 { &sub } else { &top };
            let node = app.upload(&u, folder, &format!("f{i}.{j}.{ext}"), vec![7; size as usize]).await;
            if ext == "jpg" {
                id_of_jpg = node["id"].as_str().unwrap().to_string();
            }
            let e = expected.entry(category).or_default();
            e.0 += 1;
            e.1 += size;
        }
    }
    for name in ["no-extension", "trailing-dot.", ".hidden", "x.unknown"] {
        app.upload(&u, &sub, name, vec![1; 10]).await;
        let e = expected.entry("other").or_default();
        e.0 += 1;
        e.1 += 10;
    }
    let stats_of = |stats: &Value| -> BTreeMap<String, (u64, u64)> {
        stats["by_category"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["files"] != 0)
            .map(|c| (c["category"].as_str().unwrap().to_string(), (c["files"].as_u64().unwrap(), c["bytes"].as_u64().unwrap())))
            .collect()
    };
    let stats = |app: &TestApp| {
        let req = app.req(Method::GET, "/api/v1/me/stats", &u).send();
        async move { ok_json(req.await.unwrap()).await }
    };
    let want = |e: &BTreeMap<&str, (u64, u64)>| e.iter().filter(|(_, v)| v.0 != 0).map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>();
    let s = stats(&app).await;
    assert_eq!(stats_of(&s), want(&expected));
    assert_eq!(s["folders"], 2);

    // A rename that changes the category moves the file between them.
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{id_of_jpg}"), &u).json(&serde_json::json!({"name": "now.mp4"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let jpg = expected.get_mut("images").unwrap();
    *jpg = (jpg.0 - 1, jpg.1 - 1);
    let video = expected.entry("video").or_default();
    *video = (video.0 + 1, video.1 + 1);
    assert_eq!(stats_of(&stats(&app).await), want(&expected));

    // The whole folder to the trash: every file counts as trash, no folder is left.
    let live: (u64, u64) = expected.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{top}"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let s = stats(&app).await;
    assert_eq!(stats_of(&s), BTreeMap::new());
    assert_eq!((s["trash_files"].as_u64().unwrap(), s["trash_bytes"].as_u64().unwrap(), s["folders"].as_u64().unwrap()), (live.0, live.1, 0));
    let r = app.req(Method::POST, &format!("/api/v1/trash/{top}/restore"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let s = stats(&app).await;
    assert_eq!((stats_of(&s), s["trash_files"].as_u64(), s["folders"].as_u64()), (want(&expected), Some(0), Some(2)));
    let (report, code) = crate::storage::fsck(&app, &[]).await;
    assert_eq!((code, report["found"]["usage_mismatches"].as_u64()), (0, Some(0)), "{report}");

    // Counters changed behind the service's back: fsck finds the user, repair recounts.
    app.sql("UPDATE usage_counters SET files = files + 3, bytes = bytes - 1 WHERE bucket IN ('images', 'folders')").await;
    let (report, code) = crate::storage::fsck(&app, &[]).await;
    assert_eq!((code, report["found"]["usage_mismatches"].as_u64()), (1, Some(1)), "{report}");
    let (report, code) = crate::storage::fsck(&app, &["--repair"]).await;
    assert_eq!((code, report["usage_fixed"].as_u64(), report["after"]["usage_mismatches"].as_u64()), (0, Some(1), Some(0)), "{report}");
    let s = stats(&app).await;
    assert_eq!((stats_of(&s), s["folders"].as_u64()), (want(&expected), Some(2)));

    // Trashed and then purged for good: nothing is left anywhere.
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{top}"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::DELETE, &format!("/api/v1/trash/{top}"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let s = stats(&app).await;
    assert_eq!((stats_of(&s), s["trash_files"].as_u64(), s["versions"].as_u64(), s["folders"].as_u64()), (BTreeMap::new(), Some(0), Some(0), Some(0)));
});

// Many writers of one user at once — new versions of files in a folder while it is trashed,
// restored and trashed again, moves and renames — never meet in a deadlock or a 5xx, and the
// counters still equal a recount afterwards.
dual_test!(async fn concurrent_changes_of_one_user_keep_the_counters_exact(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("busy").await;
    let folder = app.mkdir(&u, &u.root, "hot").await["id"].as_str().unwrap().to_string();
    let other = app.mkdir(&u, &u.root, "cold").await["id"].as_str().unwrap().to_string();
    let mut files = Vec::new();
    for i in 0..6 {
        let node = app.upload(&u, &folder, &format!("f{i}.txt"), data(3000 + i, i as u64)).await;
        files.push(node["id"].as_str().unwrap().to_string());
    }
    for round in 0..3u64 {
        let mut requests = Vec::new();
        for (i, id) in files.iter().enumerate() {
            requests.push(app.req(Method::PUT, &format!("/api/v1/nodes/{id}/content"), &u).body(data(5000 + i, round * 10 + i as u64)).send());
        }
        requests.push(app.req(Method::DELETE, &format!("/api/v1/nodes/{folder}"), &u).send());
        requests.push(app.req(Method::POST, &format!("/api/v1/trash/{folder}/restore"), &u).send());
        let moved = &files[round as usize];
        requests.push(app.req(Method::PATCH, &format!("/api/v1/nodes/{moved}"), &u).json(&serde_json::json!({"parent_id": other})).send());
        requests.push(app.req(Method::PATCH, &format!("/api/v1/nodes/{moved}"), &u).json(&serde_json::json!({"name": format!("r{round}.jpg")})).send());
        for r in futures_util::future::join_all(requests).await {
            let r = r.unwrap();
            assert!(!r.status().is_server_error(), "{}: {}", r.status(), r.text().await.unwrap());
        }
        // Whatever won each race, the folder ends up live for the next round.
        let _ = app.req(Method::POST, &format!("/api/v1/trash/{folder}/restore"), &u).send().await.unwrap();
    }
    let (report, code) = crate::storage::fsck(&app, &[]).await;
    assert_eq!((code, report["found"]["usage_mismatches"].as_u64()), (0, Some(0)), "{report}");
});
