//! The tree: folders, listing with sort and cursor pagination, names, rename, move, copy,
//! lookup by path, and that nobody reaches another user's nodes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn all_pages(app: &TestApp, user: &TestUser, folder: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("/api/v1/nodes/{folder}/children?{query}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = ok_json(app.req(Method::GET, &url, user).send().await.unwrap()).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

fn names(items: &[Value]) -> Vec<&str> {
    items.iter().map(|n| n["name"].as_str().unwrap()).collect()
}

dual_test!(async fn listing_sorts_folders_first_and_pages_with_cursors(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("lister").await;
    for name in ["beta", "Alpha", "gamma"] {
        app.mkdir(&u, &u.root, name).await;
    }
    // Files of distinct sizes, uploaded in an order that differs from name and size order.
    let files = [("b.txt", 30), ("C.txt", 10), ("a.txt", 20), ("d.txt", 0), ("e.txt", 50)];
    for (name, size) in files {
        app.upload(&u, &u.root, name, data(size, 1), ).await;
    }
    let by_name = all_pages(&app, &u, &u.root, "limit=3").await;
    assert_eq!(names(&by_name), ["Alpha", "beta", "gamma", "a.txt", "b.txt", "C.txt", "d.txt", "e.txt"]);
    let desc = all_pages(&app, &u, &u.root, "limit=2&order=desc").await;
    assert_eq!(names(&desc), ["gamma", "beta", "Alpha", "e.txt", "d.txt", "C.txt", "b.txt", "a.txt"]);
    let by_size = all_pages(&app, &u, &u.root, "sort=size&order=desc&limit=4").await;
    assert_eq!(&names(&by_size)[3..], ["e.txt", "b.txt", "a.txt", "C.txt", "d.txt"]);
    let by_modified = all_pages(&app, &u, &u.root, "sort=modified&limit=1").await;
    assert_eq!(&names(&by_modified)[3..], ["b.txt", "C.txt", "a.txt", "d.txt", "e.txt"]);

    // One page with everything has no next cursor; a page boundary does. The first page
    // says how many items the folder holds (trashed ones not counted), later pages do not.
    let page = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{}/children?limit=8", u.root), &u).send().await.unwrap()).await;
    assert!(page["next_cursor"].is_null());
    assert_eq!(page["total"], 8);
    let page = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{}/children?limit=7", u.root), &u).send().await.unwrap()).await;
    assert_eq!(page["total"], 8);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let last = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{}/children?limit=7&cursor={cursor}", u.root), &u).send().await.unwrap()).await;
    assert!(last["total"].is_null());
    let gone = by_name[7]["id"].as_str().unwrap();
    let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{gone}"), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let page = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{}/children?limit=2", u.root), &u).send().await.unwrap()).await;
    assert_eq!(page["total"], 7);

    // A cursor is tied to its sort; garbage and out-of-range limits are refused.
    let bad = [
        format!("sort=size&cursor={cursor}"),
        "cursor=not-a-cursor".to_string(),
        "limit=0".to_string(),
        "limit=1001".to_string(),
    ];
    for query in bad {
        let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/children?{query}", u.root), &u).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/children?sort=colour", u.root), &u).send().await.unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_query").await;
    // Listing a file is not possible.
    let file = &by_name[3]["id"];
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/children", file.as_str().unwrap()), &u).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "not_a_folder").await;
});

dual_test!(async fn names_are_validated_and_normalised(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("namer").await;
    let long = "x".repeat(256);
    for bad in ["", ".", "..", "a/b", "nul\u{0}here", long.as_str()] {
        let r = app
            .req(Method::POST, &format!("/api/v1/nodes/{}/children", u.root), &u)
            .json(&json!({"name": bad, "kind": "folder"}))
            .send()
            .await
            .unwrap();
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    }
    let r = app
        .req(Method::POST, &format!("/api/v1/nodes/{}/children", u.root), &u)
        .json(&json!({"name": "x", "kind": "file"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_kind").await;
    // 255 bytes is fine; a decomposed "é" is stored composed and found either way.
    app.mkdir(&u, &u.root, &"y".repeat(255)).await;
    let folder = app.mkdir(&u, &u.root, "cafe\u{301}").await;
    assert_eq!(folder["name"], "caf\u{e9}");
    let r = app
        .req(Method::POST, &format!("/api/v1/nodes/{}/children", u.root), &u)
        .json(&json!({"name": "caf\u{e9}", "kind": "folder"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::CONFLICT, "name_conflict").await;
    let found = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/cafe%CC%81", &u).send().await.unwrap()).await;
    assert_eq!(found["id"], folder["id"]);
    // Names that break the rules are refused on upload and rename too.
    assert_problem(app.put(&u, &u.root, "nul\u{0}", b"x".to_vec(), "fail").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    assert_problem(app.put(&u, &u.root, "a/b", b"x".to_vec(), "fail").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    let id = folder["id"].as_str().unwrap();
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{id}"), &u).json(&json!({"name": "."})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
});

dual_test!(async fn rename_and_move_keep_the_tree_sound(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("mover").await;
    let a = app.mkdir(&u, &u.root, "a").await;
    let a_id = a["id"].as_str().unwrap();
    let b = app.mkdir(&u, a_id, "b").await;
    let b_id = b["id"].as_str().unwrap();
    let file = app.upload(&u, b_id, "notes.txt", b"hello".to_vec()).await;
    let file_id = file["id"].as_str().unwrap();
    app.mkdir(&u, &u.root, "taken").await;
    let patch = |id: &str, body: Value| app.req(Method::PATCH, &format!("/api/v1/nodes/{id}"), &u).json(&body).send();

    let renamed = ok_json(patch(file_id, json!({"name": "todo.txt"})).await.unwrap()).await;
    assert_eq!((renamed["name"].as_str(), renamed["id"].as_str()), (Some("todo.txt"), Some(file_id)));
    assert_problem(patch(a_id, json!({"name": "taken"})).await.unwrap(), StatusCode::CONFLICT, "name_conflict").await;
    // A folder cannot move into itself or below itself.
    assert_problem(patch(a_id, json!({"parent_id": b_id})).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_move").await;
    assert_problem(patch(a_id, json!({"parent_id": a_id})).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_move").await;
    // Nor into a file, nor can the root be renamed or moved.
    assert_problem(patch(a_id, json!({"parent_id": file_id})).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "not_a_folder").await;
    assert_problem(patch(&u.root, json!({"name": "x"})).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "root_folder").await;

    let moved = ok_json(patch(b_id, json!({"parent_id": u.root, "name": "b2"})).await.unwrap()).await;
    assert_eq!(moved["parent_id"].as_str(), Some(u.root.as_str()));
    let found = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/b2/todo.txt", &u).send().await.unwrap()).await;
    assert_eq!(found["id"].as_str(), Some(file_id));
    assert_eq!(app.download(&u, file_id).await, b"hello");
    assert!(app.names(&u, a_id).await.is_empty());
    let r = app.req(Method::GET, "/api/v1/nodes/by-path?path=/a/b", &u).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    let root = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/", &u).send().await.unwrap()).await;
    assert_eq!(root["id"].as_str(), Some(u.root.as_str()));
    // Public access is an attribute set by PATCH.
    let public = ok_json(patch(file_id, json!({"public_access": "view"})).await.unwrap()).await;
    assert_eq!(public["public_access"], "view");
    assert_problem(patch(file_id, json!({"public_access": "everyone"})).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
});

dual_test!(async fn concurrent_renames_into_one_name_let_exactly_one_win(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("racer").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(app.mkdir(&u, &u.root, &format!("f{i}")).await["id"].as_str().unwrap().to_string());
    }
    let renames = ids.iter().map(|id| {
        app.req(Method::PATCH, &format!("/api/v1/nodes/{id}"), &u).json(&json!({"name": "winner"})).send()
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(renames).await.into_iter().map(|r| r.unwrap().status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT), "{statuses:?}");
    assert_eq!(app.names(&u, &u.root).await.iter().filter(|n| *n == "winner").count(), 1);
});

dual_test!(async fn copies_share_blocks_and_count_against_quota(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("copier").await;
    let docs = app.mkdir(&u, &u.root, "docs").await;
    let docs_id = docs["id"].as_str().unwrap();
    let inner = app.mkdir(&u, docs_id, "inner").await;
    let big = data(5 << 20, 7);
    app.upload(&u, docs_id, "big.bin", big.clone()).await;
    app.upload(&u, inner["id"].as_str().unwrap(), "small.txt", b"small".to_vec()).await;
    let blocks_before = app.stratus.stored_block_files().await.unwrap();
    let used_before = app.used(&u).await;

    let r = app.req(Method::POST, &format!("/api/v1/nodes/{docs_id}/copy"), &u).json(&json!({"parent_id": u.root, "name": "docs copy"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let copy: Value = r.json().await.unwrap();
    assert_ne!(copy["id"], docs["id"]);
    let copied = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/docs%20copy/big.bin", &u).send().await.unwrap()).await;
    assert_eq!(app.download(&u, copied["id"].as_str().unwrap()).await, big);
    let small = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/docs%20copy/inner/small.txt", &u).send().await.unwrap()).await;
    assert_eq!(app.download(&u, small["id"].as_str().unwrap()).await, b"small");
    assert_eq!(app.stratus.stored_block_files().await.unwrap(), blocks_before, "no byte was copied");
    assert_eq!(app.used(&u).await, used_before * 2);

    // A copy of a file, next to it, under the default name, clashes.
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{}/copy", copied["id"].as_str().unwrap()), &u).json(&json!({"parent_id": copy["id"]})).send().await.unwrap();
    assert_problem(r, StatusCode::CONFLICT, "name_conflict").await;
    // A folder cannot be copied into itself.
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{docs_id}/copy"), &u).json(&json!({"parent_id": inner["id"]})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_move").await;
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{docs_id}/copy"), &u).json(&json!({"name": "no parent"})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
});

dual_test!(async fn copies_that_would_exceed_the_quota_are_refused(backend) {
    let app = TestApp::spawn_with(backend, |c| c.default_quota = 6 << 20).await;
    let u = app.register("frugal").await;
    let file = app.upload(&u, &u.root, "four.bin", data(4 << 20, 3)).await;
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{}/copy", file["id"].as_str().unwrap()), &u).json(&json!({"parent_id": u.root, "name": "again.bin"})).send().await.unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    assert_eq!(app.used(&u).await, 4 << 20);
    assert_eq!(app.names(&u, &u.root).await, ["four.bin"]);
});

dual_test!(async fn other_users_nodes_answer_not_found(backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let other = app.register("intruder").await;
    let folder = app.mkdir(&owner, &owner.root, "private").await;
    let folder_id = folder["id"].as_str().unwrap().to_string();
    let file = app.upload(&owner, &folder_id, "secret.txt", b"secret".to_vec()).await;
    let file_id = file["id"].as_str().unwrap().to_string();
    let mine = app.mkdir(&other, &other.root, "mine").await;
    let mine_id = mine["id"].as_str().unwrap().to_string();

    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/nodes/{file_id}"), None),
        (Method::GET, format!("/api/v1/nodes/{folder_id}/children"), None),
        (Method::GET, format!("/api/v1/nodes/{file_id}/content"), None),
        (Method::GET, format!("/api/v1/nodes/{file_id}/versions"), None),
        (Method::PATCH, format!("/api/v1/nodes/{file_id}"), Some(json!({"name": "mine.txt"}))),
        (Method::PATCH, format!("/api/v1/nodes/{file_id}"), Some(json!({"parent_id": mine_id}))),
        (Method::PATCH, format!("/api/v1/nodes/{mine_id}"), Some(json!({"parent_id": folder_id}))),
        (Method::POST, format!("/api/v1/nodes/{folder_id}/children"), Some(json!({"name": "x", "kind": "folder"}))),
        (Method::POST, format!("/api/v1/nodes/{file_id}/copy"), Some(json!({"parent_id": mine_id}))),
        (Method::POST, format!("/api/v1/nodes/{mine_id}/copy"), Some(json!({"parent_id": folder_id}))),
        (Method::DELETE, format!("/api/v1/nodes/{file_id}"), None),
        (Method::POST, format!("/api/v1/trash/{file_id}/restore"), None),
        (Method::DELETE, format!("/api/v1/trash/{file_id}"), None),
        (Method::GET, format!("/api/v1/nodes/{}", uuid::Uuid::now_v7()), None),
        (Method::GET, "/api/v1/nodes/not-a-uuid".to_string(), None),
    ];
    for (method, path, body) in attempts {
        let mut req = app.req(method.clone(), &path, &other);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    for put in [
        app.put(&other, &folder_id, "x.txt", b"x".to_vec(), "fail").await,
        app.req(Method::PUT, &format!("/api/v1/nodes/{file_id}/content"), &other).body("x").send().await.unwrap(),
    ] {
        assert_problem(put, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Nothing changed for the owner.
    assert_eq!(app.download(&owner, &file_id).await, b"secret");
    assert_eq!(app.names(&owner, &folder_id).await, ["secret.txt"]);
    assert_eq!(app.used(&other).await, 0);
});

dual_test!(async fn search_finds_names_anywhere_in_the_callers_drive_only(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("seeker").await;
    let other = app.register("neighbour").await;
    let photos = app.mkdir(&u, &u.root, "Photos").await["id"].as_str().unwrap().to_string();
    let year = app.mkdir(&u, &photos, "2024").await["id"].as_str().unwrap().to_string();
    app.upload(&u, &year, "Holiday_2024.JPG", b"jpg".to_vec()).await;
    app.upload(&u, &u.root, "notes 2024.txt", b"notes".to_vec()).await;
    app.upload(&u, &u.root, "a%b.txt", b"odd".to_vec()).await;
    let old = app.upload(&u, &u.root, "2024-old.txt", b"old".to_vec()).await;
    let binned = app.mkdir(&u, &u.root, "binned").await["id"].as_str().unwrap().to_string();
    app.upload(&u, &binned, "inside 2024.txt", b"in".to_vec()).await;
    for id in [old["id"].as_str().unwrap(), &binned] {
        let r = app.req(Method::DELETE, &format!("/api/v1/nodes/{id}"), &u).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    app.upload(&other, &other.root, "2024 secret.txt", b"theirs".to_vec()).await;

    let search = |q: &str| {
        let q = percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC).to_string();
        app.req(Method::GET, &format!("/api/v1/search?q={q}"), &u).send()
    };
    let hits = |v: Value| -> Vec<(String, String)> {
        v["items"].as_array().unwrap().iter().map(|n| (n["name"].as_str().unwrap().into(), n["folder_path"].as_str().unwrap().into())).collect()
    };
    // Folders first, then by name; trashed items and other users' files never show.
    let found = ok_json(search("2024").await.unwrap()).await;
    assert_eq!(hits(found.clone()), [("2024".into(), "/Photos".into()), ("Holiday_2024.JPG".into(), "/Photos/2024".into()), ("notes 2024.txt".into(), "/".into())]);
    assert_eq!(found["items"][1]["parent_id"], year.as_str(), "hits are whole nodes");
    assert_eq!(found["items"][1]["kind"], "file");
    // Any case; LIKE wildcards are plain characters.
    assert_eq!(hits(ok_json(search("HOLIDAY").await.unwrap()).await).len(), 1);
    assert_eq!(hits(ok_json(search("%").await.unwrap()).await), [("a%b.txt".into(), "/".into())]);
    assert_eq!(hits(ok_json(search("_").await.unwrap()).await), [("Holiday_2024.JPG".into(), "/Photos/2024".into())]);
    assert!(hits(ok_json(search("nothing like it").await.unwrap()).await).is_empty());
    let one = ok_json(app.req(Method::GET, "/api/v1/search?q=2024&limit=1", &u).send().await.unwrap()).await;
    assert!(found["next_cursor"].is_null(), "everything fits one page");
    // A search pages on: page by page, the same hits in the same order, each once.
    let mut paged = hits(one.clone());
    let mut cursor = one["next_cursor"].as_str().unwrap().to_string();
    loop {
        let page = ok_json(app.req(Method::GET, &format!("/api/v1/search?q=2024&limit=1&cursor={cursor}"), &u).send().await.unwrap()).await;
        paged.extend(hits(page.clone()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(paged, hits(found.clone()));
    assert_problem(app.req(Method::GET, "/api/v1/search?q=2024&cursor=nonsense", &u).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_cursor").await;
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"k":"file","n":"a\u0000b","i":"{year}"}}"#));
    assert_problem(app.req(Method::GET, &format!("/api/v1/search?q=2024&cursor={forged}"), &u).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_cursor").await;
    assert_eq!(hits(one), [("2024".into(), "/Photos".into())]);
    // The name index follows renames, quotes are plain characters, non-ASCII names fold.
    let notes = app.by_path(&u, "/notes 2024.txt").await;
    let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{notes}"), &u).json(&serde_json::json!({"name": "minutes 2025.txt"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hits(ok_json(search("2024").await.unwrap()).await).len(), 2);
    assert_eq!(hits(ok_json(search("utes 20").await.unwrap()).await), [("minutes 2025.txt".into(), "/".into())]);
    app.upload(&u, &u.root, "say \"hi\" now.txt", b"q".to_vec()).await;
    assert_eq!(hits(ok_json(search("\"hi\"").await.unwrap()).await), [("say \"hi\" now.txt".into(), "/".into())]);
    app.upload(&u, &u.root, "Ärger.TXT", b"u".to_vec()).await;
    assert_eq!(hits(ok_json(search("ärger").await.unwrap()).await), [("Ärger.TXT".into(), "/".into())]);
    assert_eq!(hits(ok_json(search("RGER.t").await.unwrap()).await), [("Ärger.TXT".into(), "/".into())]);

    assert_problem(search("   ").await.unwrap(), StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_problem(search("abc\u{0}").await.unwrap(), StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_problem(app.req(Method::GET, "/api/v1/search?q=a&limit=0", &u).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_limit").await;
    assert_problem(app.req(Method::GET, "/api/v1/search?q=a&limit=201", &u).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_limit").await;
    assert_problem(app.req(Method::GET, "/api/v1/search", &u).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_problem(app.anon(Method::GET, "/api/v1/search?q=2024").send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
});
