//! The trash: delete, list, restore to the original place, purge, empty, and quota.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

async fn trash(app: &TestApp, u: &TestUser) -> Vec<Value> {
    ok_json(app.req(Method::GET, "/api/v1/trash", u).send().await.unwrap()).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn delete(app: &TestApp, u: &TestUser, id: &str) {
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{id}"), u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn restore(app: &TestApp, u: &TestUser, id: &str) -> Value {
    ok_json(app.req(Method::POST, &format!("/api/v1/trash/{id}/restore"), u).send().await.unwrap()).await
}

dual_test!(async fn deleted_folders_go_to_the_trash_and_come_back_whole(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("trasher").await;
    let photos = app.mkdir(&u, &u.root, "Photos").await;
    let photos_id = photos["id"].as_str().unwrap();
    let year = app.mkdir(&u, photos_id, "2024").await;
    let pic = app.upload(&u, year["id"].as_str().unwrap(), "beach.jpg", data(3000, 9)).await;
    app.upload(&u, photos_id, "cover.jpg", data(1000, 10)).await;

    delete(&app, &u, photos_id).await;
    assert!(app.names(&u, &u.root).await.is_empty());
    for gone in [photos_id, pic["id"].as_str().unwrap()] {
        let r = app.req(Method::GET, &format!("/api/v1/nodes/{gone}"), &u).send().await.unwrap();
        assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let r = app.req(Method::GET, "/api/v1/nodes/by-path?path=/Photos/cover.jpg", &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let items = trash(&app, &u).await;
    assert_eq!(items.len(), 1, "only the deleted folder is listed, not its content");
    assert_eq!((items[0]["name"].as_str(), items[0]["kind"].as_str()), (Some("Photos"), Some("folder")));
    assert_eq!((items[0]["size"].as_u64(), items[0]["original_path"].as_str()), (Some(4000), Some("/")));
    assert!(items[0]["trashed_at"].is_string());
    // The trash still counts against the quota.
    assert_eq!(app.used(&u).await, 4000);
    // The name is free again while the original is in the trash.
    app.mkdir(&u, &u.root, "Photos").await;

    let back = restore(&app, &u, photos_id).await;
    assert_eq!(back["name"], "Photos (1)", "a clash keeps both");
    let found = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/Photos%20(1)/2024/beach.jpg", &u).send().await.unwrap()).await;
    assert_eq!(app.download(&u, found["id"].as_str().unwrap()).await, data(3000, 9));
    assert!(trash(&app, &u).await.is_empty());
    // The root cannot be deleted.
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{}", u.root), &u).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "root_folder").await;
});

dual_test!(async fn restore_recreates_missing_parents(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("restorer").await;
    let a = app.mkdir(&u, &u.root, "a").await;
    let b = app.mkdir(&u, a["id"].as_str().unwrap(), "b").await;
    let file = app.upload(&u, b["id"].as_str().unwrap(), "f.txt", b"keep me".to_vec()).await;
    let file_id = file["id"].as_str().unwrap();
    delete(&app, &u, file_id).await;
    assert_eq!(trash(&app, &u).await[0]["original_path"], "/a/b");
    // Its folders go too, then for good.
    delete(&app, &u, a["id"].as_str().unwrap()).await;
    let r = app.req(Method::DELETE, &format!("/api/v1/trash/{}", a["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let back = restore(&app, &u, file_id).await;
    assert_eq!(back["id"].as_str(), Some(file_id));
    let found = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/a/b/f.txt", &u).send().await.unwrap()).await;
    assert_eq!(found["id"].as_str(), Some(file_id));
    assert_eq!(app.download(&u, file_id).await, b"keep me");
});

dual_test!(async fn purge_and_empty_free_the_quota_for_good(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("purger").await;
    let one = app.upload(&u, &u.root, "one.bin", data(5 << 20, 1)).await;
    let two = app.upload(&u, &u.root, "two.bin", data(100, 2)).await;
    let three = app.upload(&u, &u.root, "three.bin", data(200, 3)).await;
    let referenced = app.stratus.referenced_blocks().await.unwrap().0;
    for n in [&one, &two, &three] {
        delete(&app, &u, n["id"].as_str().unwrap()).await;
    }
    assert_eq!(app.used(&u).await, (5 << 20) + 300);
    let one_id = one["id"].as_str().unwrap();
    let r = app.req(Method::DELETE, &format!("/api/v1/trash/{one_id}"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.used(&u).await, 300);
    assert_eq!(app.stratus.referenced_blocks().await.unwrap().0, referenced - 2, "its two blocks lost their last reference");
    let r = app.req(Method::POST, &format!("/api/v1/trash/{one_id}/restore"), &u).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    // A live node is not a trash item.
    let live = app.upload(&u, &u.root, "live.txt", data(BLOCKED, 7)).await;
    let r = app.req(Method::DELETE, &format!("/api/v1/trash/{}", live["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;

    let r = app.req(Method::DELETE, "/api/v1/trash", &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(trash(&app, &u).await.is_empty());
    assert_eq!(app.used(&u).await, BLOCKED as u64);
    // Purged blocks leave the disk at the next collection; what is live stays and still reads.
    assert!(app.stratus.stored_block_files().await.unwrap() > 1);
    app.gc().await;
    assert_eq!(app.stratus.stored_block_files().await.unwrap(), 1);
    assert_eq!(app.download(&u, live["id"].as_str().unwrap()).await, data(BLOCKED, 7));
});
