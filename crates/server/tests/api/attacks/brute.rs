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
        c.limits.hash_queue = 4;
    })
    .await;
    let u = app.register("victim").await;
    let before = rss_kib();
    let tries = (0..60).map(|i| {
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
    // (The whole test process is measured, other tests included; unbounded, 60 hashes at once
    // took over a gigabyte.)
    assert!(grown_mib < 500, "memory grew by {grown_mib} MiB");
    // Once the flood is over, the real owner logs in.
    app.login("victim", &u.password).await;
});

fn from(r: reqwest::RequestBuilder, ip: &str) -> reqwest::RequestBuilder {
    r.header("x-forwarded-for", ip)
}

// Finding 10: link passwords had no limit; Basic-auth failures were not counted with logins;
// username and email were counted apart; strangers could lock the owner out; share-by-email
// answered, unthrottled, which emails have accounts.
dual_test!(async fn guessing_is_throttled_without_locking_out_the_owner(backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.trust_proxy = true;
        c.limits.free_failures = 3;
    })
    .await;
    let u = app.register("target").await;
    let login = |who: &str, password: &str, ip: &str| {
        from(app.anon(Method::POST, "/api/v1/auth/login"), ip).json(&json!({"login": who, "password": password})).send()
    };

    // Two wrong guesses by username and one over WebDAV Basic: one account, one count, so the
    // next attempt (by email) already waits.
    assert_eq!(login("target", "guess one", "10.0.0.66").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("target", "guess two", "10.0.0.66").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let dav = from(app.client.request(Method::from_bytes(b"PROPFIND").unwrap(), app.url("/dav/")), "10.0.0.66")
        .basic_auth("target", Some("guess three"));
    assert_eq!(dav.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("target@example.com", "guess four", "10.0.0.66").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // The attacker's address now waits, even with the right password…
    let r = login("target", &u.password, "10.0.0.66").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let dav = from(app.client.request(Method::from_bytes(b"PROPFIND").unwrap(), app.url("/dav/")), "10.0.0.66")
        .basic_auth("target", Some(&u.password));
    assert_eq!(dav.send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // …while the owner, elsewhere, is not locked out.
    assert_eq!(login("target", &u.password, "192.0.2.1").await.unwrap().status(), StatusCode::OK);
    // Many failures from many addresses still leave the owner in.
    for i in 0..12 {
        let _ = login("target", "spray", &format!("10.1.0.{i}")).await.unwrap();
    }
    assert_eq!(login("target", &u.password, "192.0.2.1").await.unwrap().status(), StatusCode::OK);

    // Link passwords: guesses from one address are slowed, another visitor is not.
    let file = app.upload(&u, &u.root, "secret.txt", b"s3cret".to_vec()).await;
    let link: serde_json::Value = app.req(Method::POST, &format!("/api/v1/nodes/{}/links", file["id"].as_str().unwrap()), &u)
        .json(&json!({"password": "the real one"})).send().await.unwrap().json().await.unwrap();
    let token = link["token"].as_str().unwrap().to_string();
    let visit = |password: &str, ip: &str| {
        from(app.anon(Method::GET, &format!("/api/v1/public/{token}")), ip).header("x-link-password", password).send()
    };
    for guess in ["a", "b", "c"] {
        assert_eq!(visit(guess, "10.0.0.66").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let r = visit("d", "10.0.0.66").await.unwrap();
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(visit("the real one", "10.0.0.66").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(visit("the real one", "192.0.2.1").await.unwrap().status(), StatusCode::OK);
    app.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(visit("the real one", "10.0.0.66").await.unwrap().status(), StatusCode::OK, "the delay ends");

    // Probing which emails have accounts through the share dialog.
    let folder = app.mkdir(&u, &u.root, "f").await;
    let share = |who: String| app.req(Method::POST, &format!("/api/v1/nodes/{}/shares", folder["id"].as_str().unwrap()), &u)
        .json(&json!({"user": who, "role": "viewer"})).send();
    for i in 0..20 {
        assert_problem(share(format!("probe{i}@example.com")).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "unknown_user").await;
    }
    assert_problem(share("probe20@example.com".into()).await.unwrap(), StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
});
