//! WebDAV locks bind everyone: the owner, other grantees, and every REST write; two LOCKs at
//! once, on one server or two, never both win.

use reqwest::{Method, StatusCode};

use super::{access::share, dav};
use crate::helpers::*;

const EXCLUSIVE: &str = r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>me</D:owner></D:lockinfo>"#;

async fn lock(app: &TestApp, u: &TestUser, path: &str, depth: &str) -> reqwest::Response {
    dav(app, "LOCK", path, u)
        .header("depth", depth)
        .header("timeout", "Second-600")
        .body(EXCLUSIVE)
        .send()
        .await
        .unwrap()
}

fn token_of(r: &reqwest::Response) -> String {
    r.headers()["lock-token"].to_str().unwrap().trim_matches(['<', '>']).to_string()
}

// Finding 8: locks bound only the user who took them, by path; REST ignored them; two
// concurrent exclusive LOCKs could both succeed.
dual_test!(async fn locks_bind_every_user_and_every_door(backend) {
    let app = TestApp::spawn(backend).await;
    let other = TestApp::spawn_with(backend, |c| c.database_url = Some(app.database_url())).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let team = app.mkdir(&alice, &alice.root, "Team").await;
    let team_id = team["id"].as_str().unwrap().to_string();
    let doc = app.upload(&alice, &team_id, "doc.txt", b"v1".to_vec()).await;
    let doc_id = doc["id"].as_str().unwrap().to_string();
    share(&app, &alice, &team_id, "bob", "editor").await;

    let r = lock(&app, &alice, "/Team/doc.txt", "0").await;
    assert_eq!(r.status(), StatusCode::OK);
    let token = token_of(&r);
    // Bob, through WebDAV and REST, and alice herself without the token: 423.
    let r = dav(&app, "PUT", "/Shared/Team/doc.txt", &bob).body("bob's").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    let put = |u: &TestUser| app.req(Method::PUT, &format!("/api/v1/nodes/{doc_id}/content"), u).body("changed");
    assert_problem(put(&bob).send().await.unwrap(), StatusCode::LOCKED, "locked").await;
    assert_problem(put(&alice).send().await.unwrap(), StatusCode::LOCKED, "locked").await;
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{doc_id}"), &bob).send().await.unwrap();
    assert_problem(r, StatusCode::LOCKED, "locked").await;
    // Replacing it by name is a write to it too, by a relative path from above as well.
    assert_problem(app.put(&bob, &team_id, "doc.txt", b"by name".to_vec(), "replace").await, StatusCode::LOCKED, "locked").await;
    let by_path = |path: &str, policy: &str| {
        let part = reqwest::multipart::Part::bytes(b"by path".to_vec()).file_name(path.to_string());
        let url = format!("/api/v1/nodes/{}/files?on_conflict={policy}", alice.root);
        app.req(Method::POST, &url, &alice).multipart(reqwest::multipart::Form::new().part("file", part)).send()
    };
    assert_problem(by_path("Team/doc.txt", "replace").await.unwrap(), StatusCode::LOCKED, "locked").await;
    // Managing it (a public link) is not a change to it.
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{doc_id}/links"), &alice).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Deleting the folder that holds it is refused too, on the other server as well.
    let r = other.req(Method::DELETE, &format!("/api/v1/nodes/{team_id}"), &alice).send().await.unwrap();
    assert_problem(r, StatusCode::LOCKED, "locked").await;
    // Bob cannot lock it either.
    assert_eq!(lock(&other, &bob, "/Shared/Team/doc.txt", "0").await.status(), StatusCode::LOCKED);
    assert_eq!(app.download(&alice, &doc_id).await, b"v1");
    // With the token, the REST write goes through.
    let r = put(&alice).header("if", format!("(<{token}>)")).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = dav(&app, "UNLOCK", "/Team/doc.txt", &alice).header("lock-token", format!("<{token}>")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(put(&bob).send().await.unwrap().status().is_success(), "unlocked, bob writes");

    // A deep lock on the folder keeps everyone else from adding to it.
    let r = lock(&app, &alice, "/Team", "infinity").await;
    assert_eq!(r.status(), StatusCode::OK);
    let deep = token_of(&r);
    let r = app.put(&bob, &team_id, "new.txt", b"x".to_vec(), "fail").await;
    assert_problem(r, StatusCode::LOCKED, "locked").await;
    let r = dav(&other, "MKCOL", "/Shared/Team/sub", &bob).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    assert_problem(by_path("Team/deeper/new.txt", "fail").await.unwrap(), StatusCode::LOCKED, "locked").await;
    let r = dav(&app, "UNLOCK", "/Team", &alice).header("lock-token", format!("<{deep}>")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.put(&bob, &team_id, "new.txt", b"x".to_vec(), "fail").await.status(), StatusCode::CREATED);

    // Two exclusive LOCKs at once, through two servers: exactly one wins.
    let plan = app.upload(&alice, &alice.root, "plan.txt", b"p".to_vec()).await;
    share(&app, &alice, plan["id"].as_str().unwrap(), "bob", "editor").await;
    for _ in 0..3 {
        let (a, b) = tokio::join!(lock(&app, &alice, "/plan.txt", "0"), lock(&other, &bob, "/Shared/plan.txt", "0"));
        let statuses = [a.status(), b.status()];
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
        assert!(statuses.contains(&StatusCode::LOCKED), "{statuses:?}");
        let (winner, app_of, path) = if a.status() == StatusCode::OK { (&alice, &app, "/plan.txt") } else { (&bob, &other, "/Shared/plan.txt") };
        let token = if a.status() == StatusCode::OK { token_of(&a) } else { token_of(&b) };
        let r = dav(app_of, "UNLOCK", path, winner).header("lock-token", format!("<{token}>")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
});
