//! Administration of accounts through HTTP and `stratus admin`, and the audit log.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    helpers::{TestApp, TestUser, assert_problem, dual_test, ok_json},
    lifecycle::audit_actions,
};

dual_test! {
    async fn admins_list_disable_and_change_accounts(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin("root").await;
        let users: Vec<_> = futures_util::future::join_all(
            ["kim", "lee", "max", "ned"].map(|n| app.register(n)),
        )
        .await;
        let kim = &users[0];
        let list = |query: &str| app.req(Method::GET, &format!("/api/v1/admin/users{query}"), &admin).send();
        let all = ok_json(list("").await.unwrap()).await;
        assert_eq!(all["total"], 5);
        let page = ok_json(list("?limit=2").await.unwrap()).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        assert_eq!(page["next_offset"], 2);
        let last = ok_json(list("?limit=2&offset=4").await.unwrap()).await;
        assert_eq!((last["items"].as_array().unwrap().len(), &last["next_offset"]), (1, &json!(null)));
        let found = ok_json(list("?q=LEE%40example").await.unwrap()).await;
        assert_eq!(found["total"], 1);
        assert_eq!(found["items"][0]["username"], "lee");
        let none = ok_json(list("?q=%25").await.unwrap()).await;
        assert_eq!(none["total"], 0, "LIKE wildcards are searched for literally");
        let r = app.req(Method::GET, "/api/v1/admin/users", kim).send().await.unwrap();
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;

        // Disabling stops sessions, app tokens and (cached) WebDAV logins at once.
        let created = app.req(Method::POST, "/api/v1/me/tokens", kim).json(&json!({"name": "laptop"})).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let app_token = created.json::<serde_json::Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        let dav = |password: &str| {
            app.client.request(Method::from_bytes(b"PROPFIND").unwrap(), app.url("/dav/")).basic_auth("kim", Some(password)).header("depth", "0").send()
        };
        assert_eq!(dav(&kim.password).await.unwrap().status(), StatusCode::MULTI_STATUS);
        assert_eq!(dav(&app_token).await.unwrap().status(), StatusCode::MULTI_STATUS);
        let patch = |id: &str, body: serde_json::Value| app.req(Method::PATCH, &format!("/api/v1/admin/users/{id}"), &admin).json(&body).send();
        let r = ok_json(patch(&kim.id, json!({"disabled": true})).await.unwrap()).await;
        assert_eq!(r["disabled"], true);
        assert_eq!(app.req(Method::GET, "/api/v1/me", kim).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.anon(Method::GET, "/api/v1/me").bearer_auth(&app_token).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(dav(&kim.password).await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(dav(&app_token).await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let login = app.anon(Method::POST, "/api/v1/auth/login").json(&json!({"login": "kim", "password": kim.password})).send().await.unwrap();
        assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
        ok_json(patch(&kim.id, json!({"disabled": false})).await.unwrap()).await;
        // Disabling ended kim's sessions: a new one.
        let session = app.login("kim", &kim.password).await;
        let kim = &TestUser { token: session["token"].as_str().unwrap().into(), ..kim.clone() };
        assert_eq!(dav(&app_token).await.unwrap().status(), StatusCode::MULTI_STATUS, "app tokens survive a disable");

        // Plans and quotas.
        let r = ok_json(patch(&kim.id, json!({"plan_gb": 20})).await.unwrap()).await;
        assert_eq!((r["plan_gb"].as_u64(), r["quota"]["limit"].as_u64()), (Some(20), Some(20 << 30)));
        for bad in [json!({"plan_gb": 5}), json!({"plan_gb": 101}), json!({"plan_gb": 0})] {
            assert_problem(patch(&kim.id, bad).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_plan").await;
        }
        assert_problem(patch(&kim.id, json!({"colour": "red"})).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
        app.upload(kim, &kim.root, "a.bin", vec![7; 3000]).await;
        assert_problem(patch(&kim.id, json!({"quota": 2000})).await.unwrap(), StatusCode::CONFLICT, "quota_below_usage").await;
        let r = ok_json(patch(&kim.id, json!({"quota": 5000})).await.unwrap()).await;
        assert_eq!(r["quota"]["limit"], 5000);

        // Roles; an admin cannot lock themselves out.
        assert_problem(patch(&admin.id, json!({"disabled": true})).await.unwrap(), StatusCode::CONFLICT, "cannot_change_self").await;
        assert_problem(patch(&admin.id, json!({"is_admin": false})).await.unwrap(), StatusCode::CONFLICT, "cannot_change_self").await;
        ok_json(patch(&users[1].id, json!({"is_admin": true})).await.unwrap()).await;
        assert_eq!(app.req(Method::GET, "/api/v1/admin/users", &users[1]).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(patch("0190f8c4-0000-7000-8000-000000000000", json!({"disabled": true})).await.unwrap().status(), StatusCode::NOT_FOUND);

        // The same through the command line.
        let out = app.cli(&["admin", "users", "--search", "ned"]).await;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("ned@example.com") && text.contains("1 of 1 accounts"), "{text}");
        let out = app.cli(&["admin", "user", "ned", "--disable", "--plan", "10"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let ned = ok_json(app.req(Method::GET, &format!("/api/v1/admin/users/{}", users[3].id), &admin).send().await.unwrap()).await;
        assert_eq!((ned["disabled"].as_bool(), ned["plan_gb"].as_u64()), (Some(true), Some(10)));
        assert_eq!(app.req(Method::GET, "/api/v1/me", &users[3]).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let out = app.cli(&["admin", "user", "ned", "--plan", "7"]).await;
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("invalid_plan"));

        // The audit log: who did what to what, from where, in both interfaces.
        let folder = app.mkdir(kim, &kim.root, "shared").await;
        let id = folder["id"].as_str().unwrap();
        let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/shares"), kim).json(&json!({"user": "lee", "role": "editor"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let share_id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let r = app.req(Method::PATCH, &format!("/api/v1/nodes/{id}/shares/{share_id}"), kim).json(&json!({"role": "viewer"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/links"), kim).json(&json!({"password": "pw for the link"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let audit = audit_actions(&app, &admin).await;
        let entry = |action: &str| audit.iter().find(|(a, _, _)| a == action).map(|e| e.2.clone()).unwrap_or_else(|| panic!("no {action} in {audit:?}"));
        let share = entry("share_created");
        assert_eq!((share["actor"].as_str(), share["target"].as_str(), share["ip"].as_str()), (Some("kim"), Some(id), Some("127.0.0.1")));
        assert!(share["detail"].as_str().unwrap().contains("lee as editor"));
        // Read with the log, the target's name: the entry is readable without looking ids up.
        assert_eq!(share["target_name"], "shared");
        assert_eq!(entry("share_updated")["detail"], "with lee, now as viewer");
        assert!(entry("login")["target_name"].is_null());
        let link = entry("link_created");
        assert!(link["detail"].as_str().unwrap().contains("\"password\":true") && !link["detail"].as_str().unwrap().contains("pw for"));
        let update = entry("admin_user_updated");
        assert_eq!(update["actor"], "stratus admin", "newest first: the CLI's change");
        let refused = audit.iter().filter(|(a, ok, _)| a == "admin_user_updated" && !ok).count();
        assert_eq!(refused, 7, "three bad plans, a quota below usage, two self-demotions, the CLI's bad plan: {audit:?}");
        assert!(audit.iter().any(|(a, ok, e)| a == "login_failed" && !ok && e["actor"] == "kim"));
        assert!(audit.iter().any(|(a, ok, e)| a == "login" && *ok && e["actor"] == "kim"));
        let filtered = ok_json(app.req(Method::GET, &format!("/api/v1/admin/audit?actor={}&limit=2", kim.id), &admin).send().await.unwrap()).await;
        assert_eq!(filtered["items"].as_array().unwrap().len(), 2);
        let before = filtered["next_before"].as_str().unwrap();
        let next = ok_json(app.req(Method::GET, &format!("/api/v1/admin/audit?actor={}&before={before}", kim.id), &admin).send().await.unwrap()).await;
        assert!(next["items"].as_array().unwrap().iter().all(|e| e["actor_id"] == kim.id.as_str() && e["id"].as_str().unwrap() < before));
        let out = app.cli(&["admin", "audit", "--action", "share_created", "--json"]).await;
        let line: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
        assert_eq!(line["target"], id);
    }
}
