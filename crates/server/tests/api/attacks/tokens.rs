//! Credentials that should have died: app tokens after a password change or reset, a token
//! logged out, a revoked token still cached by WebDAV.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{fakes::*, helpers::*};

async fn app_token(app: &TestApp, u: &TestUser, name: &str) -> String {
    let r = app.req(Method::POST, "/api/v1/me/tokens", u).json(&json!({"name": name})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    made["token"].as_str().unwrap().to_string()
}

fn bearer(app: &TestApp, secret: &str) -> reqwest::RequestBuilder {
    app.anon(Method::GET, "/api/v1/me").bearer_auth(secret)
}

fn dav_token(app: &TestApp, u: &TestUser, secret: &str) -> reqwest::RequestBuilder {
    app.client
        .request(Method::from_bytes(b"PROPFIND").unwrap(), app.url("/dav/"))
        .header("depth", "0")
        .basic_auth(&u.username, Some(secret))
}

// Finding 6: app tokens survived a password change and a reset; logout with one did nothing;
// a revoked one kept working over WebDAV for a minute.
dual_test!(async fn password_changes_resets_logouts_and_revocations_end_app_tokens(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("holder").await;

    // A thief with the password mints a token; the owner changes the password.
    let stolen = app_token(&app, &u, "thief").await;
    assert_eq!(bearer(&app, &stolen).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(dav_token(&app, &u, &stolen).send().await.unwrap().status(), StatusCode::MULTI_STATUS);
    let r = app.req(Method::POST, "/api/v1/me/password", &u)
        .json(&json!({"current_password": u.password, "new_password": "a brand new password"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(bearer(&app, &stolen).send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(dav_token(&app, &u, &stolen).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&u).await["username"], json!("holder"), "the session that changed it stays");

    // A reset through the mailed link ends them too.
    let u = TestUser { password: "a brand new password".into(), ..u };
    let second = app_token(&app, &u, "laptop").await;
    let r = app.anon(Method::POST, "/api/v1/auth/password-reset").json(&json!({"email": "holder@example.com"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let outbox = app.data_dir().join("outbox");
    let token = link_token(&wait_for_mail(&outbox, "holder@example.com", "Reset your Stratus password").await, "/reset-password");
    let r = app.anon(Method::POST, "/api/v1/auth/password-reset/confirm").json(&json!({"token": token, "password": "the third password"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(bearer(&app, &second).send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // Logout with an app token ends that token.
    let login = app.login("holder", "the third password").await;
    let u = TestUser { password: "the third password".into(), token: login["token"].as_str().unwrap().into(), ..u };
    let cli = app_token(&app, &u, "cli").await;
    let r = app.anon(Method::POST, "/api/v1/auth/logout").bearer_auth(&cli).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(bearer(&app, &cli).send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(app.me(&u).await["username"], json!("holder"), "the session is another token");

    // A revoked token stops over WebDAV at once, though it was just used there.
    let dav = app_token(&app, &u, "dav").await;
    assert_eq!(dav_token(&app, &u, &dav).send().await.unwrap().status(), StatusCode::MULTI_STATUS);
    let listed = ok_json(app.req(Method::GET, "/api/v1/me/tokens", &u).send().await.unwrap()).await["items"].as_array().unwrap().clone();
    let id = listed.iter().find(|t| t["name"] == "dav").unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(app.req(Method::DELETE, &format!("/api/v1/me/tokens/{id}"), &u).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(dav_token(&app, &u, &dav).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
});

// Finding 14: the CSRF cookie was not bound to the session: a pair of equal values planted by
// another site (a cookie set from a sibling subdomain) passed the double-submit check.
dual_test!(async fn a_planted_csrf_cookie_does_not_pass_for_the_sessions(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("browser").await;
    let r = app.anon(Method::POST, "/api/v1/auth/login").json(&json!({"login": "browser", "password": u.password})).send().await.unwrap();
    let cookie = |name: &str| {
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).find_map(|c| {
            c.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap().to_string())
        })
    };
    let (session, csrf) = (cookie("stratus_session").unwrap(), cookie("stratus_csrf").unwrap());
    let mkdir = |planted: &str, header: &str| {
        app.anon(Method::POST, &format!("/api/v1/nodes/{}/children", u.root))
            .header("cookie", format!("stratus_session={session}; stratus_csrf={planted}"))
            .header("x-csrf-token", header)
            .json(&json!({"name": format!("d{}", &header[..4]), "kind": "folder"}))
            .send()
    };
    let forged = "0123456789abcdef0123456789abcdef";
    assert_problem(mkdir(forged, forged).await.unwrap(), StatusCode::FORBIDDEN, "csrf_failed").await;
    assert_eq!(mkdir(forged, &csrf).await.unwrap().status(), StatusCode::CREATED, "the session's own token passes");
});
