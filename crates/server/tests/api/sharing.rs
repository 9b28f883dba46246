//! Sharing with users and the public-access attribute.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn share(app: &TestApp, owner: &TestUser, node: &str, user: &str, role: &str) -> reqwest::Response {
    app.req(Method::POST, &format!("/api/v1/nodes/{node}/shares"), owner)
        .json(&json!({"user": user, "role": role}))
        .send()
        .await
        .unwrap()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

dual_test!(async fn viewers_read_and_editors_write_within_a_shared_folder(backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let viewer = app.register("viewer").await;
    let editor = app.register("editor").await;
    let team = app.mkdir(&owner, &owner.root, "Team").await;
    let team_id = id(&team);
    let sub = app.mkdir(&owner, &team_id, "sub").await;
    let report = app.upload(&owner, &team_id, "report.txt", b"quarterly".to_vec()).await;
    let private = app.upload(&owner, &owner.root, "private.txt", b"mine".to_vec()).await;

    assert_eq!(share(&app, &owner, &team_id, "viewer", "viewer").await.status(), StatusCode::CREATED);
    assert_eq!(share(&app, &owner, &team_id, "editor@example.com", "editor").await.status(), StatusCode::CREATED);
    let shared = ok_json(app.req(Method::GET, "/api/v1/shared-with-me", &viewer).send().await.unwrap()).await;
    let items = shared["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0]["role"].as_str(), items[0]["owner_username"].as_str()), (Some("viewer"), Some("owner")));
    assert_eq!(items[0]["node"]["id"], team["id"]);

    // The viewer reads everything inside, including what is added later, and nothing else.
    assert_eq!(app.names(&viewer, &team_id).await, ["sub", "report.txt"]);
    assert_eq!(app.download(&viewer, &id(&report)).await, b"quarterly");
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{}", id(&private)), &viewer).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    for r in [
        app.put(&viewer, &team_id, "v.txt", b"x".to_vec(), "fail").await,
        app.req(Method::POST, &format!("/api/v1/nodes/{team_id}/children"), &viewer).json(&json!({"name": "x", "kind": "folder"})).send().await.unwrap(),
        app.req(Method::PATCH, &format!("/api/v1/nodes/{}", id(&report)), &viewer).json(&json!({"name": "r.txt"})).send().await.unwrap(),
        app.req(Method::DELETE, &format!("/api/v1/nodes/{}", id(&report)), &viewer).send().await.unwrap(),
        app.req(Method::POST, &format!("/api/v1/nodes/{}/links", id(&report)), &viewer).json(&json!({})).send().await.unwrap(),
    ] {
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }

    // The editor uploads (charged to the owner), creates, renames, moves within, deletes.
    let owner_used = app.used(&owner).await;
    let up = app.upload(&editor, &team_id, "draft.txt", b"12345".to_vec()).await;
    assert_eq!(up["owner_id"].as_str(), Some(owner.id.as_str()));
    assert_eq!(app.used(&owner).await, owner_used + 5);
    assert_eq!(app.used(&editor).await, 0);
    assert!(app.names(&viewer, &team_id).await.contains(&"draft.txt".to_string()), "added later, still shared");
    app.mkdir(&editor, &team_id, "made-by-editor").await;
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{}", id(&up)), &editor).json(&json!({"name": "final.txt", "parent_id": sub["id"]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{}", id(&report)), &editor).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let trash = ok_json(app.req(Method::GET, "/api/v1/trash", &owner).send().await.unwrap()).await;
    assert_eq!(trash["items"][0]["name"], "report.txt", "it went to the owner's trash");
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{}", sub["id"].as_str().unwrap()), &editor).json(&json!({"public_access": "view"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // But only the owner shares, and the shared folder itself and its boundary are the owner's.
    let r = share(&app, &editor, &team_id, "viewer", "editor").await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{team_id}/shares"), &editor).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    for (method, body) in [(Method::PATCH, Some(json!({"name": "Mine now"}))), (Method::DELETE, None)] {
        let mut req = app.req(method, &format!("/api/v1/nodes/{team_id}"), &editor);
        if let Some(body) = body {
            req = req.json(&body);
        }
        assert_problem(req.send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    }
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{}", sub["id"].as_str().unwrap()), &editor).json(&json!({"parent_id": editor.root})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "cross_owner_move").await;
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{}", sub["id"].as_str().unwrap()), &editor).json(&json!({"parent_id": owner.root})).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    // Copying out into one's own drive is reading: allowed, charged to the copier.
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{}/copy", sub["id"].as_str().unwrap()), &viewer).json(&json!({"parent_id": viewer.root})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.used(&viewer).await, 5);
});

dual_test!(async fn shares_are_listed_updated_and_revoked(backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("sharer").await;
    let friend = app.register("friend").await;
    let stranger = app.register("stranger").await;
    let doc = app.upload(&owner, &owner.root, "doc.txt", b"text".to_vec()).await;
    let doc_id = id(&doc);
    let first: Value = share(&app, &owner, &doc_id, "friend", "viewer").await.json().await.unwrap();
    // Sharing again updates instead of duplicating.
    let again: Value = share(&app, &owner, &doc_id, "FRIEND", "editor").await.json().await.unwrap();
    assert_eq!((again["id"].clone(), again["role"].as_str()), (first["id"].clone(), Some("editor")));
    let list = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{doc_id}/shares"), &owner).send().await.unwrap()).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["username"], "friend");
    let share_id = first["id"].as_str().unwrap();
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{doc_id}/shares/{share_id}"), &owner).json(&json!({"role": "viewer"})).send().await.unwrap();
    assert_eq!(ok_json(r).await["role"], "viewer");

    for (user, role, status, code) in [
        ("sharer", "viewer", StatusCode::UNPROCESSABLE_ENTITY, "invalid_share"),
        ("nobody-here", "viewer", StatusCode::UNPROCESSABLE_ENTITY, "unknown_user"),
        ("friend", "owner", StatusCode::UNPROCESSABLE_ENTITY, "invalid_role"),
        ("friend", "admin", StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ] {
        assert_problem(share(&app, &owner, &doc_id, user, role).await, status, code).await;
    }
    // A stranger cannot see the shares, nor revoke one.
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{doc_id}/shares"), &stranger).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{doc_id}/shares/{share_id}"), &stranger).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;

    assert_eq!(app.download(&friend, &doc_id).await, b"text");
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{doc_id}/shares/{share_id}"), &owner).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{doc_id}"), &friend).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    assert!(ok_json(app.req(Method::GET, "/api/v1/shared-with-me", &friend).send().await.unwrap()).await["items"].as_array().unwrap().is_empty());
});

dual_test!(async fn public_access_is_inherited_and_lets_anyone_read_or_write(backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("publisher").await;
    let folder = app.mkdir(&owner, &owner.root, "Public").await;
    let folder_id = id(&folder);
    let file = app.upload(&owner, &folder_id, "hello.txt", b"hi all".to_vec()).await;
    let file_path = format!("/api/v1/nodes/{}/content", id(&file));
    let set = |access: &'static str| {
        app.req(Method::PATCH, &format!("/api/v1/nodes/{folder_id}"), &owner).json(&json!({"public_access": access})).send()
    };
    assert_problem(app.anon(Method::GET, &file_path).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;

    assert_eq!(set("view").await.unwrap().status(), StatusCode::OK);
    let r = app.anon(Method::GET, &file_path).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hi all");
    let listing = ok_json(app.anon(Method::GET, &format!("/api/v1/nodes/{folder_id}/children")).send().await.unwrap()).await;
    assert_eq!(listing["items"][0]["name"], "hello.txt");
    let r = app.anon(Method::PUT, &format!("/api/v1/nodes/{folder_id}/files/anon.txt")).body("x").send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    // Bad credentials are still refused, not treated as anonymous.
    let r = app.anon(Method::GET, &file_path).bearer_auth("stx_forged").send().await.unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    assert_eq!(set("edit").await.unwrap().status(), StatusCode::OK);
    let r = app.anon(Method::PUT, &format!("/api/v1/nodes/{folder_id}/files/anon.txt")).body("12345678").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.used(&owner).await, 6 + 8, "anonymous uploads count against the owner");
    // Public access never extends to the owner's other items, nor to sharing or deleting.
    let r = app.anon(Method::GET, &format!("/api/v1/nodes/{}", owner.root)).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;

    assert_eq!(set("none").await.unwrap().status(), StatusCode::OK);
    assert_problem(app.anon(Method::GET, &file_path).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
});
