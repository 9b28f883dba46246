//! OpenID Connect login through HTTP, against a small local issuer (discovery, JWKS,
//! authorization endpoint, token endpoint with PKCE), the browser's part played by hand.

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::{
    fakes::{CLIENT_ID, CLIENT_SECRET, Identity, Issuer, link_token, wait_for_mail},
    helpers::{TestApp, assert_problem, dual_test, ok_json},
    lifecycle::audit_actions,
};

/// What the browser has after the provider sent it back: the callback's answer.
struct Callback {
    response: reqwest::Response,
    /// The callback URL the provider redirected to (to replay it).
    url: String,
    state_cookie: String,
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        c.strip_prefix(&format!("{name}=")).map(|v| v.split(';').next().unwrap_or("").to_string())
    })
}

/// Starts a login, lets the issuer authorize `identity`, and follows the redirect back.
async fn log_in(app: &TestApp, issuer: &Issuer, identity: Identity, state_cookie: Option<&str>) -> Callback {
    issuer.log_in_as(identity);
    let browser = browser();
    let start = browser.get(app.url("/api/v1/auth/oidc/login?return_to=/files/photos")).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_value(&start, "stratus_oidc").unwrap();
    let authorize = start.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(authorize.starts_with(&format!("{}/authorize?", issuer.url)), "{authorize}");
    for param in ["code_challenge_method=S256", "nonce=", "state=", &format!("client_id={CLIENT_ID}")] {
        assert!(authorize.contains(param), "{param} missing from {authorize}");
    }
    let back = browser.get(&authorize).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER, "{}", back.text().await.unwrap());
    let url = back.headers()[header::LOCATION].to_str().unwrap().to_string();
    let state_cookie = state_cookie.unwrap_or(&cookie).to_string();
    let response = browser
        .get(&url)
        .header(header::COOKIE, format!("stratus_oidc={state_cookie}"))
        .send()
        .await
        .unwrap();
    Callback { response, url, state_cookie }
}

dual_test! {
    async fn oidc_login_creates_links_and_refuses_forgeries(backend) {
        let issuer = Issuer::start().await;
        let issuer_url = issuer.url.clone();
        let app = TestApp::spawn_with(backend, |c| {
            c.oidc.issuer = Some(issuer_url);
            c.oidc.client_id = CLIENT_ID.into();
            c.oidc.client_secret = CLIENT_SECRET.into();
        })
        .await;
        let admin = app.admin("root").await;
        let providers = ok_json(app.anon(Method::GET, "/api/v1/auth/providers").send().await.unwrap()).await;
        assert_eq!(providers["oidc"], "Google");

        // First login: an account is created, the session cookie works, the browser returns.
        let first = log_in(&app, &issuer, Identity::new("sub-rosa", "rosa@example.org"), None).await;
        assert_eq!(first.response.status(), StatusCode::SEE_OTHER);
        assert_eq!(first.response.headers()[header::LOCATION], "/files/photos");
        let session = cookie_value(&first.response, "stratus_session").unwrap();
        let me = ok_json(app.anon(Method::GET, "/api/v1/me").header(header::COOKIE, format!("stratus_session={session}")).send().await.unwrap()).await;
        assert_eq!((me["username"].as_str(), me["email"].as_str()), (Some("rosa"), Some("rosa@example.org")));
        assert_eq!((me["email_verified"].as_bool(), me["display_name"].as_str()), (Some(true), Some("User sub-rosa")));
        // The same callback again: its state was spent.
        let replay = browser().get(&first.url).header(header::COOKIE, format!("stratus_oidc={}", first.state_cookie)).send().await.unwrap();
        assert_problem(replay, StatusCode::BAD_REQUEST, "invalid_state").await;
        // Second login: the same account.
        let again = log_in(&app, &issuer, Identity::new("sub-rosa", "rosa@example.org"), None).await;
        let session = cookie_value(&again.response, "stratus_session").unwrap();
        let me2 = ok_json(app.anon(Method::GET, "/api/v1/me").header(header::COOKIE, format!("stratus_session={session}")).send().await.unwrap()).await;
        assert_eq!(me2["id"], me["id"]);

        // A local account with a verified email is linked; an unverified one is not.
        let sam = app.register("sam").await;
        let token = link_token(&wait_for_mail(&app.data_dir().join("outbox"), "sam@example.com", "Confirm").await, "/verify-email");
        ok_json(app.anon(Method::POST, "/api/v1/auth/verify-email").json(&json!({"token": token})).send().await.unwrap()).await;
        let linked = log_in(&app, &issuer, Identity::new("sub-sam", "SAM@example.com"), None).await;
        let session = cookie_value(&linked.response, "stratus_session").unwrap();
        let me = ok_json(app.anon(Method::GET, "/api/v1/me").header(header::COOKIE, format!("stratus_session={session}")).send().await.unwrap()).await;
        assert_eq!(me["id"], sam.id.as_str());
        let tess = app.register("tess").await;
        let refused = log_in(&app, &issuer, Identity::new("sub-tess", "tess@example.com"), None).await;
        assert_problem(refused.response, StatusCode::CONFLICT, "email_unverified").await;
        let unverified = Identity { email_verified: false, ..Identity::new("sub-x", "tess@example.com") };
        let refused = log_in(&app, &issuer, unverified, None).await;
        assert_problem(refused.response, StatusCode::CONFLICT, "email_unverified").await;
        app.me(&tess).await;

        // Forgeries: another browser's state, a token signed by a key the issuer does not
        // publish, a token minted for another login's nonce.
        let csrf = log_in(&app, &issuer, Identity::new("sub-uma", "uma@example.org"), Some("someone-elses-state")).await;
        assert_problem(csrf.response, StatusCode::BAD_REQUEST, "invalid_state").await;
        let forged = log_in(&app, &issuer, Identity { forge: true, ..Identity::new("sub-uma", "uma@example.org") }, None).await;
        assert_problem(forged.response, StatusCode::BAD_REQUEST, "invalid_id_token").await;
        let nonce = log_in(&app, &issuer, Identity { wrong_nonce: true, ..Identity::new("sub-uma", "uma@example.org") }, None).await;
        assert_problem(nonce.response, StatusCode::BAD_REQUEST, "invalid_nonce").await;
        let users = ok_json(app.req(Method::GET, "/api/v1/admin/users?q=uma", &admin).send().await.unwrap()).await;
        assert_eq!(users["total"], 0, "no account came of them");
        // Only paths on this site are returned to.
        let start = browser().get(app.url("/api/v1/auth/oidc/login?return_to=//evil.example/x")).send().await.unwrap();
        assert_eq!(start.status(), StatusCode::SEE_OTHER);

        let audit = audit_actions(&app, &admin).await;
        let failed: Vec<_> = audit.iter().filter(|(a, _, _)| a == "oidc_login_failed").map(|e| e.2["detail"].as_str().unwrap().to_string()).collect();
        for code in ["invalid_state", "invalid_id_token", "invalid_nonce", "email_unverified"] {
            assert!(failed.iter().any(|d| d == code), "{code} not audited: {failed:?}");
        }
        assert_eq!(audit.iter().filter(|(a, ok, _)| a == "oidc_login" && *ok).count(), 3);

        // Without an issuer configured there is no OIDC login.
        let plain = TestApp::spawn(backend).await;
        let r = plain.anon(Method::GET, "/api/v1/auth/oidc/login").send().await.unwrap();
        assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}
