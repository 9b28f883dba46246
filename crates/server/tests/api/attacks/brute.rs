//! Brute force and exhaustion: password hashing under a flood of logins.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

// Finding 13: every concurrent login hashed on a thread of its own (~19 MiB each), so wrong
// passwords sent in parallel took gigabytes and every login's latency with them.
dual_test!(async fn a_flood_of_logins_is_queued_or_refused_and_memory_stays_flat(backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.login_per_ip = 100_000;
        c.limits.login_per_account = 100_000;
        c.limits.free_failures = 100_000;
    })
    .await;
    let u = app.register("victim").await;
    let before = rss_kib();
    let tries = (0..150).map(|i| {
        app.anon(Method::POST, "/api/v1/auth/login").json(&json!({"login": format!("nobody{i}"), "password": "wrong password"})).send()
    });
    let answers = futures_util::future::join_all(tries).await;
    let mut busy = 0;
    for r in answers {
        let r = r.unwrap();
        match r.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(r.headers().contains_key("retry-after"));
                assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "server_busy").await;
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "beyond the queue, logins are refused at once");
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 200, "memory grew by {grown_mib} MiB");
    // Once the flood is over, the real owner logs in.
    app.login("victim", &u.password).await;
});
