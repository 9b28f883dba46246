//! Nothing acknowledged is lost: a WebDAV COPY or MOVE that replaces its destination and then
//! fails must leave the destination as it was.

use reqwest::{Method, StatusCode};

use super::{access::share, dav};
use crate::helpers::*;

async fn trash_len(app: &TestApp, u: &TestUser) -> usize {
    ok_json(app.req(Method::GET, "/api/v1/trash", u).send().await.unwrap()).await["items"]
        .as_array()
        .unwrap()
        .len()
}

// Finding 3: `Overwrite: T` trashed the destination first, then the copy or move failed.
dual_test!(async fn a_failed_overwriting_copy_or_move_leaves_the_destination(backend) {
    let app = TestApp::spawn_with(backend, |c| c.default_quota = 1 << 20).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.upload(&alice, &alice.root, "big.bin", data(700_000, 1)).await;
    app.upload(&alice, &alice.root, "small.txt", b"keep me".to_vec()).await;
    let dest = app.url("/dav/small.txt");

    // The copy does not fit the quota.
    let r = dav(&app, "COPY", "/big.bin", &alice).header("destination", &dest).header("overwrite", "T").send().await.unwrap();
    assert!(r.status().is_client_error() || r.status() == StatusCode::INSUFFICIENT_STORAGE, "{}", r.status());
    assert_eq!(dav(&app, "GET", "/small.txt", &alice).send().await.unwrap().bytes().await.unwrap(), "keep me");
    assert_eq!(trash_len(&app, &alice).await, 0);

    // The move crosses owners (into bob's shared folder, over bob's file): refused, bob's file stays.
    let project = app.mkdir(&bob, &bob.root, "Project").await;
    app.upload(&bob, project["id"].as_str().unwrap(), "report.txt", b"bob's report".to_vec()).await;
    share(&app, &bob, project["id"].as_str().unwrap(), "alice", "editor").await;
    let r = dav(&app, "MOVE", "/small.txt", &alice)
        .header("destination", app.url("/dav/Shared/Project/report.txt")).header("overwrite", "T").send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(app.names(&bob, project["id"].as_str().unwrap()).await, ["report.txt"]);
    assert_eq!(dav(&app, "GET", "/Shared/Project/report.txt", &alice).send().await.unwrap().bytes().await.unwrap(), "bob's report");
    assert_eq!(trash_len(&app, &bob).await, 0);
    assert_eq!(dav(&app, "GET", "/small.txt", &alice).send().await.unwrap().bytes().await.unwrap(), "keep me");

    // A depth-0 copy of a folder over a file the caller may not delete (the shared item itself).
    app.mkdir(&alice, &alice.root, "Folder").await;
    let r = dav(&app, "COPY", "/Folder", &alice).header("depth", "0")
        .header("destination", app.url("/dav/Shared/Project")).header("overwrite", "T").send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(app.names(&bob, project["id"].as_str().unwrap()).await, ["report.txt"]);

    // When it succeeds, the old destination is in the trash, restorable.
    let r = dav(&app, "COPY", "/small.txt", &alice).header("destination", app.url("/dav/copy.txt")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = dav(&app, "MOVE", "/copy.txt", &alice).header("destination", &dest).header("overwrite", "T").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(trash_len(&app, &alice).await, 1);
    assert_eq!(app.names(&alice, &alice.root).await, ["Folder", "big.bin", "small.txt"]);
    let r = dav(&app, "COPY", "/Folder", &alice).header("depth", "0").header("destination", &dest).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "a folder's depth-0 copy takes a file's place");
    assert_eq!(trash_len(&app, &alice).await, 2);
});
