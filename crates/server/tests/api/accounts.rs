//! Accounts: registration, login, sessions, app tokens, cookie auth, the admin CLI.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

dual_test!(async fn register_login_me_verify_logout(backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .anon(Method::POST, "/api/v1/auth/register")
        .json(&json!({"username": "Alice", "email": "Alice@Example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["username"], "alice");
    assert_eq!(created["user"]["id"], created["id"]);
    assert!(created.get("password_hash").is_none() && created["user"].get("password_hash").is_none());

    // Login by username or by email, case-insensitively.
    let by_email = app.login("ALICE@example.com", "correct horse").await;
    let login = app.login("alice", "correct horse").await;
    let token = login["token"].as_str().unwrap();
    assert!(login["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(login["user"]["id"], created["id"]);

    let me = ok_json(app.anon(Method::GET, "/api/v1/me").bearer_auth(token).send().await.unwrap()).await;
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["quota"], json!({"used": 0, "limit": 1u64 << 30}));
    let root = me["root_id"].as_str().unwrap();
    let root_node = ok_json(app.anon(Method::GET, &format!("/api/v1/nodes/{root}")).bearer_auth(token).send().await.unwrap()).await;
    assert_eq!((root_node["kind"].as_str(), root_node["parent_id"].is_null()), (Some("folder"), true));

    let verify = ok_json(app.anon(Method::GET, "/api/v1/auth/verify").bearer_auth(token).send().await.unwrap()).await;
    assert_eq!(verify["user_id"], created["id"]);
    assert_eq!(verify["expires_at"], login["expires_at"]);

    let r = app.anon(Method::POST, "/api/v1/auth/logout").bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.anon(Method::GET, "/api/v1/auth/verify").bearer_auth(token).send().await.unwrap();
    assert!(r.headers().get("www-authenticate").is_some());
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_problem(app.anon(Method::GET, "/api/v1/me").bearer_auth(token).send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // The other session is untouched.
    let other = by_email["token"].as_str().unwrap();
    assert_eq!(app.anon(Method::GET, "/api/v1/me").bearer_auth(other).send().await.unwrap().status(), StatusCode::OK);
});

dual_test!(async fn bad_registrations_and_logins_are_refused(backend) {
    let app = TestApp::spawn(backend).await;
    app.register("bob").await;
    let post = |body: &'static str| {
        app.anon(Method::POST, "/api/v1/auth/register").header("content-type", "application/json").body(body).send()
    };
    assert_problem(post("{\"username\": ").await.unwrap(), StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_problem(post("{\"username\": \"x1x\"}").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    assert_problem(post("{\"username\": 5, \"email\": \"a@b.co\", \"password\": \"12345678\"}").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let cases = [
        (json!({"username": "b", "email": "b2@example.com", "password": "long enough"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_username"),
        (json!({"username": "bad name", "email": "b2@example.com", "password": "long enough"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_username"),
        (json!({"username": "bob2", "email": "not-an-email", "password": "long enough"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_email"),
        (json!({"username": "bob2", "email": "b2@example.com", "password": "short"}), StatusCode::UNPROCESSABLE_ENTITY, "weak_password"),
        (json!({"username": "bob2", "email": "b2@example.com", "password": "x".repeat(1025)}), StatusCode::UNPROCESSABLE_ENTITY, "weak_password"),
        (json!({"username": "BOB", "email": "b2@example.com", "password": "long enough"}), StatusCode::CONFLICT, "username_taken"),
        (json!({"username": "bob2", "email": "BOB@example.com", "password": "long enough"}), StatusCode::CONFLICT, "email_taken"),
    ];
    for (body, status, code) in cases {
        let r = app.anon(Method::POST, "/api/v1/auth/register").json(&body).send().await.unwrap();
        assert_problem(r, status, code).await;
    }
    assert_problem(
        app.anon(Method::POST, "/api/v1/auth/register").body("x").send().await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // A failed login says what went wrong, the same whether or not the account exists.
    for (login, password) in [("bob", "wrong password"), ("nobody", "bob-secret-pw")] {
        let r = app.anon(Method::POST, "/api/v1/auth/login").json(&json!({"login": login, "password": password})).send().await.unwrap();
        assert!(r.headers().contains_key("www-authenticate"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!((body["code"].as_str(), body["detail"].as_str()), (Some("unauthenticated"), Some("the username or password is wrong")), "{login}");
    }
    for token in ["", "stx_forged", "garbage"] {
        let r = app.anon(Method::GET, "/api/v1/me").bearer_auth(token).send().await.unwrap();
        assert_problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    assert_problem(app.anon(Method::GET, "/api/v1/me").send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
});

dual_test!(async fn app_tokens_work_as_basic_auth_passwords_until_revoked(backend) {
    let app = TestApp::spawn(backend).await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let r = app.req(Method::POST, "/api/v1/me/tokens", &carol).json(&json!({"name": "laptop webdav"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();

    let basic = |user: &str, pass: &str| app.anon(Method::GET, "/api/v1/me").basic_auth(user, Some(pass)).send();
    assert_eq!(ok_json(basic("carol", &secret).await.unwrap()).await["id"].as_str(), Some(carol.id.as_str()));
    assert_eq!(basic("carol@example.com", &secret).await.unwrap().status(), StatusCode::OK);
    // The account password works too; another user's name with this token does not.
    assert_eq!(basic("carol", &carol.password).await.unwrap().status(), StatusCode::OK);
    assert_problem(basic("dave", &secret).await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_problem(basic("carol", "wrong").await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // It is a bearer token as well.
    assert_eq!(app.anon(Method::GET, "/api/v1/me").bearer_auth(&secret).send().await.unwrap().status(), StatusCode::OK);

    let list = ok_json(app.req(Method::GET, "/api/v1/me/tokens", &carol).send().await.unwrap()).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "laptop webdav");
    assert!(!items[0]["last_used_at"].is_null());
    assert!(!list.to_string().contains(&secret), "a listing never shows secrets");

    // Only the owner can revoke it; a bad name is refused.
    let r = app.req(Method::DELETE, &format!("/api/v1/me/tokens/{id}"), &dave).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.req(Method::POST, "/api/v1/me/tokens", &carol).json(&json!({"name": "  "})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_token_name").await;
    let r = app.req(Method::DELETE, &format!("/api/v1/me/tokens/{id}"), &carol).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(basic("carol", &secret).await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // Logging out a session leaves app tokens alone, and vice versa: the session still works.
    assert_eq!(app.req(Method::GET, "/api/v1/me", &carol).send().await.unwrap().status(), StatusCode::OK);
});

dual_test!(async fn browser_sessions_use_an_httponly_cookie_with_csrf(backend) {
    let app = TestApp::spawn(backend).await;
    let erin = app.register("erin").await;
    let r = app
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"login": "erin", "password": erin.password}))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let session = cookies.iter().find(|c| c.starts_with("stratus_session=")).unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    let pair = |c: &String| c.split(';').next().unwrap().to_string();
    let csrf = cookies.iter().find(|c| c.starts_with("stratus_csrf=")).map(pair).unwrap();
    let jar = format!("{}; {}", pair(session), csrf);
    let csrf_value = csrf.split_once('=').unwrap().1.to_string();

    let me = app.anon(Method::GET, "/api/v1/me").header("cookie", &jar).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let mkdir = |csrf: Option<&str>| {
        let mut req = app
            .anon(Method::POST, &format!("/api/v1/nodes/{}/children", erin.root))
            .header("cookie", &jar)
            .json(&json!({"name": "from-browser", "kind": "folder"}));
        if let Some(value) = csrf {
            req = req.header("x-csrf-token", value);
        }
        req.send()
    };
    assert_problem(mkdir(None).await.unwrap(), StatusCode::FORBIDDEN, "csrf_failed").await;
    assert_problem(mkdir(Some("forged")).await.unwrap(), StatusCode::FORBIDDEN, "csrf_failed").await;
    assert_eq!(mkdir(Some(&csrf_value)).await.unwrap().status(), StatusCode::CREATED);
});

dual_test!(async fn the_admin_cli_creates_the_first_administrator(backend) {
    let app = TestApp::spawn(backend).await;
    let out = app
        .cli(&["admin", "create-user", "--username", "root", "--email", "root@example.com", "--admin", "--password", "admin password"])
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created administrator root"));
    let login = app.login("root", "admin password").await;
    assert_eq!(login["user"]["is_admin"], true);
    // Running it again for the same name fails with a clear message and a non-zero exit.
    let out = app
        .cli(&["admin", "create-user", "--username", "root", "--email", "other@example.com", "--password", "another password"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("username_taken"));
});
