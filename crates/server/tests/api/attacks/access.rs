//! Reading or changing what is not yours: through WebDAV's `Shared/` folder, after a share is
//! revoked mid-operation, through locks, through block negotiation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::dav;
use crate::helpers::*;

pub async fn share(app: &TestApp, owner: &TestUser, node: &str, with: &str, role: &str) -> Value {
    let r = app
        .req(Method::POST, &format!("/api/v1/nodes/{node}/shares"), owner)
        .json(&json!({"user": with, "role": role}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn dav_get(app: &TestApp, u: &TestUser, path: &str) -> (StatusCode, Vec<u8>) {
    let r = dav(app, "GET", path, u).send().await.unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

// Finding 7: sharing a folder named like one already in your `Shared/` replaced it there.
dual_test!(async fn a_newer_share_never_hides_an_older_one_in_dav_shared(backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mallory = app.register("mallory").await;
    let private = app.mkdir(&bob, &bob.root, "Private").await;
    app.upload(&bob, private["id"].as_str().unwrap(), "plan.txt", b"bob's plan".to_vec()).await;
    share(&app, &bob, private["id"].as_str().unwrap(), "alice", "editor").await;
    assert_eq!(dav_get(&app, &alice, "/Shared/Private/plan.txt").await, (StatusCode::OK, b"bob's plan".to_vec()));

    // Mallory shares a folder of the same name, with a file alice might write into.
    let fake = app.mkdir(&mallory, &mallory.root, "Private").await;
    app.upload(&mallory, fake["id"].as_str().unwrap(), "plan.txt", b"mallory's bait".to_vec()).await;
    share(&app, &mallory, fake["id"].as_str().unwrap(), "alice", "editor").await;
    assert_eq!(dav_get(&app, &alice, "/Shared/Private/plan.txt").await, (StatusCode::OK, b"bob's plan".to_vec()));
    assert_eq!(dav_get(&app, &alice, "/Shared/Private%20(mallory)/plan.txt").await, (StatusCode::OK, b"mallory's bait".to_vec()));

    // Writing to the old path still reaches bob.
    let r = dav(&app, "PUT", "/Shared/Private/notes.txt", &alice).body("for bob").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.names(&bob, private["id"].as_str().unwrap()).await, ["notes.txt", "plan.txt"]);
    assert_eq!(app.names(&mallory, fake["id"].as_str().unwrap()).await, ["plan.txt"]);

    // Every name in the listing is unique, even when a third share collides with the suffix.
    let eve = app.register("eve").await;
    for name in ["Private", "Private (mallory)"] {
        let n = app.mkdir(&eve, &eve.root, name).await;
        share(&app, &eve, n["id"].as_str().unwrap(), "alice", "viewer").await;
    }
    let r = dav(&app, "PROPFIND", "/Shared/", &alice).header("depth", "1").send().await.unwrap();
    let text = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let mut hrefs: Vec<String> = doc.descendants().filter(|n| n.has_tag_name(("DAV:", "href"))).map(|n| n.text().unwrap().to_string()).collect();
    hrefs.sort();
    let before = hrefs.len();
    hrefs.dedup();
    assert_eq!((before, hrefs.len()), (5, 5), "{hrefs:?}");
    assert_eq!(dav_get(&app, &alice, "/Shared/Private/plan.txt").await.1, b"bob's plan".to_vec());
});
