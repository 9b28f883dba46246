//! The authorisation matrix: every node endpoint × every actor × a file and a folder, with the
//! expected status written down; then every link endpoint × every kind of link holder. A
//! refusal never carries the target's name or content.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const ACTORS: [&str; 5] = ["owner", "editor", "viewer", "stranger", "anonymous"];

/// (method, path after `/api/v1/nodes/{id}`, body, expected for a file, expected for a folder),
/// the statuses in `ACTORS` order. `{root}` is the acting user's root folder.
type Row = (Method, &'static str, Option<Value>, [u16; 5], [u16; 5]);

fn rows() -> Vec<Row> {
    use Method as M;
    vec![
        (M::GET, "", None, [200, 200, 200, 404, 404], [200, 200, 200, 404, 404]),
        (M::GET, "/children", None, [422, 422, 422, 404, 404], [200, 200, 200, 404, 404]),
        (M::GET, "/content", None, [200, 200, 200, 404, 404], [422, 422, 422, 404, 404]),
        (M::GET, "/versions", None, [200, 200, 200, 404, 404], [422, 422, 422, 404, 404]),
        (M::GET, "/zip", None, [422, 422, 422, 404, 404], [200, 200, 200, 404, 404]),
        (
            M::POST,
            "/children",
            Some(json!({"name": "new", "kind": "folder"})),
            [422, 422, 403, 404, 404],
            [201, 201, 403, 404, 404],
        ),
        (M::PUT, "/files/new.txt", None, [422, 422, 403, 404, 404], [201, 201, 403, 404, 404]),
        (M::PUT, "/content", None, [200, 200, 403, 404, 404], [422, 422, 403, 404, 404]),
        (
            M::PATCH,
            "",
            Some(json!({"public_access": "none"})),
            [200, 200, 403, 404, 401],
            [200, 200, 403, 404, 401],
        ),
        (
            M::POST,
            "/copy",
            Some(json!({"parent_id": "{root}"})),
            [201, 201, 201, 404, 401],
            [201, 201, 201, 404, 401],
        ),
        (M::GET, "/shares", None, [200, 403, 403, 404, 401], [200, 403, 403, 404, 401]),
        (
            M::POST,
            "/shares",
            Some(json!({"user": "stranger", "role": "viewer"})),
            [201, 403, 403, 404, 401],
            [201, 403, 403, 404, 401],
        ),
        (M::POST, "/links", Some(json!({})), [201, 201, 403, 404, 401], [201, 201, 403, 404, 401]),
        (M::GET, "/links", None, [200, 200, 403, 404, 401], [200, 200, 403, 404, 401]),
        (
            M::POST,
            "/download-url",
            Some(json!({"expires_in": 60})),
            [200, 200, 200, 404, 401],
            [422, 422, 422, 404, 401],
        ),
        (M::DELETE, "", None, [204, 204, 403, 404, 401], [204, 204, 403, 404, 401]),
    ]
}

dual_test!(async fn every_endpoint_answers_every_actor_as_written_down(backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let editor = app.register("editor").await;
    let viewer = app.register("viewer").await;
    let stranger = app.register("stranger").await;
    let shared = app.mkdir(&owner, &owner.root, "Shared").await;
    let shared_id = shared["id"].as_str().unwrap().to_string();
    for (user, role) in [("editor", "editor"), ("viewer", "viewer")] {
        let r = app
            .req(Method::POST, &format!("/api/v1/nodes/{shared_id}/shares"), &owner)
            .json(&json!({"user": user, "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let users = [Some(&owner), Some(&editor), Some(&viewer), Some(&stranger), None];
    let mut failures = Vec::new();
    for (row, (method, suffix, body, on_file, on_folder)) in rows().into_iter().enumerate() {
        for (actor, user) in users.iter().enumerate() {
            for (kind, expected) in [("file", on_file[actor]), ("folder", on_folder[actor])] {
                // Fresh targets for each cell, so destructive calls do not disturb the others.
                let name = format!("{kind}-{row}-{actor}-secretname");
                let target = if kind == "file" {
                    app.upload(&owner, &shared_id, &name, b"secret content".to_vec()).await
                } else {
                    let folder = app.mkdir(&owner, &shared_id, &name).await;
                    app.upload(&owner, folder["id"].as_str().unwrap(), "inside.txt", b"secret content".to_vec()).await;
                    folder
                };
                let path = format!("/api/v1/nodes/{}{suffix}", target["id"].as_str().unwrap());
                let mut req = match user {
                    Some(u) => app.req(method.clone(), &path, u),
                    None => app.anon(method.clone(), &path),
                };
                if let Some(body) = &body {
                    let root = user.map_or(String::new(), |u| u.root.clone());
                    req = req.json(&serde_json::from_str::<Value>(&body.to_string().replace("{root}", &root)).unwrap());
                } else if method == Method::PUT {
                    req = req.body("new bytes");
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                if status != expected {
                    failures.push(format!("{method} {suffix:<14} {kind:<6} as {:<9}: {status}, expected {expected}", ACTORS[actor]));
                }
                if status >= 400 && (text.contains("secretname") || text.contains("secret content")) {
                    failures.push(format!("{method} {suffix} {kind} as {}: the refusal leaks: {text}", ACTORS[actor]));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
});

dual_test!(async fn every_link_endpoint_answers_every_link_holder_as_written_down(backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("linkowner").await;
    let folder = app.mkdir(&owner, &owner.root, "folder-secretname").await;
    let folder_id = folder["id"].as_str().unwrap().to_string();
    let file = app.upload(&owner, &folder_id, "file-secretname.txt", b"secret content".to_vec()).await;
    let file_id = file["id"].as_str().unwrap().to_string();
    let make = |node: String, body: Value| {
        let app = &app;
        let owner = &owner;
        async move {
            let r = app.req(Method::POST, &format!("/api/v1/nodes/{node}/links"), owner).json(&body).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
        }
    };
    let soon = || (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let mut links = Vec::new();
    for (kind, node) in [("file", file_id.clone()), ("folder", folder_id.clone())] {
        links.push((kind, "holder", make(node.clone(), json!({"password": "pw"})).await));
        links.push((kind, "wrong password", make(node.clone(), json!({"password": "pw"})).await));
        links.push((kind, "expired link", make(node.clone(), json!({"expires_at": soon()})).await));
    }
    for (_, holder, token) in &links {
        if *holder == "expired link" {
            eventually("the link expires", || async {
                app.anon(Method::GET, &format!("/api/v1/public/{token}")).send().await.unwrap().status() == StatusCode::GONE
            })
            .await;
        }
    }
    // (method, path with {t}, expected for: holder, wrong password, expired) per target kind.
    let table: [(Method, &str, [u16; 3], [u16; 3]); 4] = [
        (Method::GET, "/api/v1/public/{t}", [200, 401, 410], [200, 401, 410]),
        (Method::GET, "/s/{t}/download", [200, 401, 410], [200, 401, 410]),
        (Method::GET, "/s/{t}", [200, 401, 410], [200, 401, 410]),
        (Method::POST, "/api/v1/public/{t}/files", [403, 401, 410], [403, 401, 410]),
    ];
    let mut failures = Vec::new();
    for (method, template, on_file, on_folder) in table {
        for (kind, holder, token) in &links {
            let column = ["holder", "wrong password", "expired link"].iter().position(|h| h == holder).unwrap();
            let expected = if *kind == "file" { on_file[column] } else { on_folder[column] };
            let password = if *holder == "holder" { "pw" } else { "nope" };
            let mut req = app.anon(method.clone(), &template.replace("{t}", token)).header("x-link-password", password);
            if method == Method::POST {
                let part = reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("drop.txt");
                req = req.multipart(reqwest::multipart::Form::new().part("file", part));
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            if status != expected {
                failures.push(format!("{method} {template} {kind} as {holder}: {status}, expected {expected}"));
            }
            if status >= 400 && (text.contains("secretname") || text.contains("secret content")) {
                failures.push(format!("{method} {template} {kind} as {holder}: the refusal leaks: {text}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
});
