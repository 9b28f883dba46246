//! Background jobs: trash retention, link expiry, version retention and GC, with time moved
//! by the test; the admin API and CLI; one runner at a time across servers on one database.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn run_job(app: &TestApp, admin: &TestUser, job: &str) -> Value {
    ok_json(app.req(Method::POST, &format!("/api/v1/admin/jobs/{job}/run"), admin).send().await.unwrap())
        .await
}

dual_test!(async fn jobs_apply_retention_when_time_passes(backend) {
    // Sessions outlive the months this test moves through.
    let app = TestApp::spawn_with(backend, |c| c.session_days = 3650).await;
    let admin = app.admin("ops").await;
    let u = app.register("keeper").await;

    // Trash: an item deleted now is purged only once 30 days have passed.
    let old = app.upload(&u, &u.root, "old.bin", data(5 << 20, 51)).await;
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{}", old["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(run_job(&app, &admin, "purge-trash").await["items"], 0);
    app.clock.advance(Duration::days(29));
    let recent = app.upload(&u, &u.root, "recent.txt", b"recent".to_vec()).await;
    app.req(Method::DELETE, &format!("/api/v1/nodes/{}", recent["id"].as_str().unwrap()), &u).send().await.unwrap();
    app.clock.advance(Duration::days(2));
    let done = run_job(&app, &admin, "purge-trash").await;
    assert_eq!((done["outcome"].as_str(), done["items"].as_u64()), (Some("ok"), Some(1)));
    let trash = ok_json(app.req(Method::GET, "/api/v1/trash", &u).send().await.unwrap()).await;
    let names: Vec<&str> = trash["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["recent.txt"], "what can still be restored stays");
    assert_eq!(app.used(&u).await, 6);

    // Links: expired ones are removed.
    let file = app.upload(&u, &u.root, "shared.txt", b"v0".to_vec()).await;
    let file_id = file["id"].as_str().unwrap().to_string();
    let expires = (app.clock_now() + Duration::hours(1)).to_rfc3339();
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{file_id}/links"), &u).json(&json!({"expires_at": expires})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    app.req(Method::POST, &format!("/api/v1/nodes/{file_id}/links"), &u).json(&json!({})).send().await.unwrap();
    assert_eq!(run_job(&app, &admin, "expire-links").await["items"], 0);
    app.clock.advance(Duration::hours(2));
    assert_eq!(run_job(&app, &admin, "expire-links").await["items"], 1);
    let links = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{file_id}/links"), &u).send().await.unwrap()).await;
    assert_eq!(links["items"].as_array().unwrap().len(), 1, "the link without expiry stays");

    // Versions: at most 20 per file, none older than 90 days, never the current one.
    for i in 1..25 {
        let r = app.req(Method::PUT, &format!("/api/v1/nodes/{file_id}/content"), &u).body(format!("v{i}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let count = || async {
        ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{file_id}/versions"), &u).send().await.unwrap()).await["items"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count().await, 25);
    assert_eq!(run_job(&app, &admin, "version-retention").await["items"], 5);
    assert_eq!(count().await, 20);
    app.clock.advance(Duration::days(91));
    assert_eq!(run_job(&app, &admin, "version-retention").await["items"], 19);
    assert_eq!(count().await, 1);
    assert_eq!(app.download(&u, &file_id).await, b"v24");

    // GC: after the grace period, one run leaves exactly the referenced blocks on disk.
    let (referenced, _) = app.stratus.referenced_blocks().await.unwrap();
    assert!(app.stratus.stored_block_files().await.unwrap() > referenced);
    app.clock.advance(Duration::hours(2));
    let gc = run_job(&app, &admin, "gc").await;
    assert!(gc["items"].as_u64().unwrap() >= 2, "{gc}");
    assert_eq!(app.stratus.stored_block_files().await.unwrap(), referenced);
    assert_eq!(app.download(&u, &file_id).await, b"v24");

    let jobs = ok_json(app.req(Method::GET, "/api/v1/admin/jobs", &admin).send().await.unwrap()).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 10);
    let runs = jobs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 7);
    assert!(runs.iter().all(|r| r["outcome"] == "ok" && r["finished_at"].is_string()));
    assert_eq!(runs[0]["name"], "gc");

    // Only administrators see or run jobs; unknown jobs are not found.
    let r = app.req(Method::GET, "/api/v1/admin/jobs", &u).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.req(Method::POST, "/api/v1/admin/jobs/gc/run", &u).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.req(Method::POST, "/api/v1/admin/jobs/nope/run", &admin).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
});

dual_test!(async fn retention_settings_come_from_the_configuration(backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.versions_kept = 2;
        c.trash_days = 1;
    })
    .await;
    let admin = app.admin("ops").await;
    let u = app.register("brief").await;
    let file = app.upload(&u, &u.root, "f.txt", b"v0".to_vec()).await;
    let id = file["id"].as_str().unwrap();
    for i in 1..5 {
        app.req(Method::PUT, &format!("/api/v1/nodes/{id}/content"), &u).body(format!("v{i}")).send().await.unwrap();
    }
    assert_eq!(run_job(&app, &admin, "version-retention").await["items"], 3);
    let gone = app.upload(&u, &u.root, "gone.txt", b"x".to_vec()).await;
    app.req(Method::DELETE, &format!("/api/v1/nodes/{}", gone["id"].as_str().unwrap()), &u).send().await.unwrap();
    app.clock.advance(Duration::hours(25));
    assert_eq!(run_job(&app, &admin, "purge-trash").await["items"], 1);
});

dual_test!(async fn abandoned_uploads_give_their_quota_back_after_a_day(backend) {
    let app = TestApp::spawn_with(backend, |c| c.session_days = 3650).await;
    let admin = app.admin("ops").await;
    let u = app.register("crashed").await;
    // A reservation whose process died mid-upload, as the database would hold it.
    let db = stratus_meta::Db::connect(&app.database_url()).await.unwrap();
    let user: stratus_core::UserId = u.id.parse().unwrap();
    let expires = app.clock_now() + Duration::hours(24);
    db.reserve_quota(user, stratus_core::VersionId::new(), (1 << 30) - (1 << 20), expires, None).await.unwrap();
    let r = app.put(&u, &u.root, "big.bin", data(2 << 20, 1), "fail").await;
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    assert_eq!(run_job(&app, &admin, "expire-uploads").await["items"], 0);
    app.clock.advance(Duration::hours(25));
    assert_eq!(run_job(&app, &admin, "expire-uploads").await["items"], 1);
    let r = app.put(&u, &u.root, "fits.bin", data(2 << 20, 2), "fail").await;
    assert_eq!(r.status(), StatusCode::CREATED);
});

dual_test!(async fn jobs_run_on_demand_from_the_command_line(backend) {
    let app = TestApp::spawn(backend).await;
    let out = app.cli(&["admin", "run-job", "expire-uploads"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "expire-uploads: ok (0 items)");
    let out = app.cli(&["admin", "jobs"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("expire-uploads\t")).unwrap_or_default();
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!((fields.len(), fields[1], fields[3], fields[5]), (7, "600s", "ok", "0"), "{text}");
    let out = app.cli(&["admin", "run-job", "nope"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the jobs are purge-trash"));
});

dual_test!(async fn two_servers_on_one_database_never_run_a_job_at_once(backend) {
    let first = TestApp::spawn(backend).await;
    let url = first.database_url();
    let second = TestApp::spawn_with(backend, |c| c.database_url = Some(url)).await;
    let admin = first.admin("ops").await;
    // A lease held by a third process: both servers refuse to run the job.
    let db = stratus_meta::Db::connect(&first.database_url()).await.unwrap();
    let now = chrono::Utc::now();
    assert!(db.acquire_lease("gc", "elsewhere", now, now + Duration::minutes(5)).await.unwrap());
    for app in [&first, &second] {
        let r = app.req(Method::POST, "/api/v1/admin/jobs/gc/run", &admin).send().await.unwrap();
        assert_problem(r, StatusCode::CONFLICT, "job_busy").await;
    }
    db.release_lease("gc", "elsewhere").await.unwrap();
    // Many concurrent requests through both servers: runs never overlap in time.
    let tries = (0..12).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        app.req(Method::POST, "/api/v1/admin/jobs/gc/run", &admin).send()
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(tries).await.into_iter().map(|r| r.unwrap().status()).collect();
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT), "{statuses:?}");
    let runs = ok_json(first.req(Method::GET, "/api/v1/admin/jobs", &admin).send().await.unwrap()).await["runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), statuses.iter().filter(|s| **s == StatusCode::OK).count());
    // As times, not strings: RFC 3339 drops a zero fraction ("…05Z" is before "…05.002Z").
    let at = |v: &Value| v.as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let mut spans: Vec<_> = runs.iter().map(|r| (at(&r["started_at"]), at(&r["finished_at"]))).collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlap: {pair:?}");
    }
    let holders: std::collections::HashSet<&str> = runs.iter().map(|r| r["holder"].as_str().unwrap()).collect();
    assert!(!holders.is_empty());
});
