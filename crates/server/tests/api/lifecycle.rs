//! The account lifecycle through HTTP: email verification (outbox), password reset (a real
//! SMTP server), brute-force protection, profile and password change.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    fakes::{SmtpSink, link_token, mails_in, wait_for_mail},
    helpers::{TestApp, TestUser, assert_problem, dual_test, ok_json},
};

pub async fn audit_actions(app: &TestApp, admin: &TestUser) -> Vec<(String, bool, Value)> {
    let page =
        ok_json(app.req(Method::GET, "/api/v1/admin/audit?limit=1000", admin).send().await.unwrap()).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_string(), e["success"].as_bool().unwrap(), e.clone()))
        .collect()
}

dual_test! {
    async fn email_is_verified_through_the_mailed_link(backend) {
        let app = TestApp::spawn(backend).await;
        let outbox = app.data_dir().join("outbox");
        let alice = app.register("alice").await;
        assert_eq!(app.me(&alice).await["email_verified"], json!(false));
        let mail = wait_for_mail(&outbox, "alice@example.com", "Confirm your email address").await;
        let token = link_token(&mail, "/verify-email");
        assert!(mail.contains(&format!("{}/verify-email?token=", app.base)), "{mail}");
        assert_eq!(token.len(), 43, "256 bits, base64url");

        let bogus = app.anon(Method::POST, "/api/v1/auth/verify-email").json(&json!({"token": "nope"})).send().await.unwrap();
        assert_problem(bogus, StatusCode::BAD_REQUEST, "invalid_token").await;
        let r = app.anon(Method::POST, "/api/v1/auth/verify-email").json(&json!({"token": token})).send().await.unwrap();
        assert_eq!(ok_json(r).await["email_verified"], json!(true));
        assert_eq!(app.me(&alice).await["email_verified"], json!(true));
        let again = app.anon(Method::POST, "/api/v1/auth/verify-email").json(&json!({"token": token})).send().await.unwrap();
        assert_problem(again, StatusCode::GONE, "token_used").await;
        let resend = app.req(Method::POST, "/api/v1/auth/verify-email/resend", &alice).send().await.unwrap();
        assert_problem(resend, StatusCode::CONFLICT, "email_already_verified").await;

        // With verification required, an unverified user cannot log in and is mailed a new link.
        let strict = TestApp::spawn_with(backend, |c| c.require_email_verification = true).await;
        let r = strict
            .anon(Method::POST, "/api/v1/auth/register")
            .json(&json!({"username": "bob", "email": "bob@example.com", "password": "bob-secret-pw"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let outbox = strict.data_dir().join("outbox");
        let first = link_token(&wait_for_mail(&outbox, "bob@example.com", "Confirm").await, "/verify-email");
        let login = || strict.anon(Method::POST, "/api/v1/auth/login").json(&json!({"login": "bob", "password": "bob-secret-pw"}));
        assert_problem(login().send().await.unwrap(), StatusCode::FORBIDDEN, "email_unverified").await;
        let second = link_token(&wait_for_mail(&outbox, "bob@example.com", "Confirm").await, "/verify-email");
        assert_ne!(first, second);
        // The first link still works (each is single-use, not each replaces the other).
        let r = strict.anon(Method::POST, "/api/v1/auth/verify-email").json(&json!({"token": first})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(login().send().await.unwrap().status(), StatusCode::OK);
    }
}

dual_test! {
    async fn password_reset_goes_through_smtp_and_ends_every_session(backend) {
        let smtp = SmtpSink::start().await;
        let url = smtp.url.clone();
        let app = TestApp::spawn_with(backend, |c| c.mail.smtp_url = Some(url)).await;
        let admin = app.admin("root").await;
        let carol = app.register("carol").await;
        // The sign-up mail came through SMTP as well.
        wait_for_mail(&smtp.maildir, "carol@example.com", "Confirm your email address").await;
        let reset = |email: &str| app.anon(Method::POST, "/api/v1/auth/password-reset").json(&json!({"email": email}));
        assert_eq!(reset("carol@example.com").send().await.unwrap().status(), StatusCode::ACCEPTED);
        assert_eq!(reset("nobody@example.com").send().await.unwrap().status(), StatusCode::ACCEPTED);
        let mail = wait_for_mail(&smtp.maildir, "carol@example.com", "Reset your Stratus password").await;
        let token = link_token(&mail, "/reset-password");
        assert!(mails_in(&smtp.maildir).iter().all(|m| !m.contains("nobody@example.com")));
        let confirm = |token: &str, password: &str| {
            app.anon(Method::POST, "/api/v1/auth/password-reset/confirm").json(&json!({"token": token, "password": password}))
        };
        assert_problem(confirm(&token, "short").send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        assert_problem(confirm("forged-token", "a new password").send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_token").await;
        assert_eq!(confirm(&token, "a new password").send().await.unwrap().status(), StatusCode::NO_CONTENT);

        // Every session ended; the old password is gone; the new one works.
        let r = app.req(Method::GET, "/api/v1/me", &carol).send().await.unwrap();
        assert_problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        let login = |password: &str| app.anon(Method::POST, "/api/v1/auth/login").json(&json!({"login": "carol", "password": password}));
        assert_eq!(login(&carol.password).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let session = ok_json(login("a new password").send().await.unwrap()).await;
        assert_eq!(session["user"]["email_verified"], json!(true), "the mailbox was proven");
        assert_problem(confirm(&token, "another password").send().await.unwrap(), StatusCode::GONE, "token_used").await;

        // A link older than an hour has expired.
        assert_eq!(reset("carol@example.com").send().await.unwrap().status(), StatusCode::ACCEPTED);
        let late = link_token(&wait_for_mail(&smtp.maildir, "carol@example.com", "Reset").await, "/reset-password");
        app.clock.advance(chrono::Duration::minutes(61));
        assert_problem(confirm(&late, "another password").send().await.unwrap(), StatusCode::GONE, "token_expired").await;
        assert_eq!(login("a new password").send().await.unwrap().status(), StatusCode::OK);

        let audit = audit_actions(&app, &admin).await;
        let has = |action: &str, ok: bool| audit.iter().any(|(a, s, _)| a == action && *s == ok);
        assert!(has("password_reset_requested", true) && has("password_reset_requested", false));
        assert!(has("password_reset", true) && has("password_reset", false));
        let failures = audit.iter().filter(|(a, s, _)| a == "password_reset" && !s).count();
        // Forged, reused, expired (a weak password is refused before the token is looked at).
        assert_eq!(failures, 3, "{audit:?}");
    }
}

dual_test! {
    async fn logins_are_throttled_per_account_and_per_ip(backend) {
        let app = TestApp::spawn_with(backend, |c| {
            c.limits.free_failures = 3;
            c.limits.login_per_ip = 12;
            c.limits.login_per_account = 100;
            c.limits.register_per_ip = 4;
            c.limits.reset_per_account = 2;
        })
        .await;
        let dave = app.register("dave").await;
        let attempt = |password: &str| {
            app.anon(Method::POST, "/api/v1/auth/login").json(&json!({"login": "dave@example.com", "password": password}))
        };
        for _ in 0..3 {
            assert_eq!(attempt("wrong").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
        // The fourth attempt comes too soon after the third failure, even with the right password.
        let r = attempt(&dave.password).send().await.unwrap();
        assert_eq!(r.headers()["retry-after"], "1");
        assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        app.clock.advance(chrono::Duration::seconds(1));
        assert_eq!(attempt("wrong").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let r = attempt("wrong").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "2", "the delay doubles");
        app.clock.advance(chrono::Duration::seconds(2));
        assert_eq!(attempt(&dave.password).send().await.unwrap().status(), StatusCode::OK);
        // Success clears the failures.
        assert_eq!(attempt("wrong").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(attempt("wrong").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

        // Per IP: 12 attempts a minute in all (10 made so far, the register's login included).
        assert_eq!(attempt(&dave.password).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(attempt(&dave.password).send().await.unwrap().status(), StatusCode::OK);
        let r = attempt(&dave.password).send().await.unwrap();
        let retry: i64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        app.clock.advance(chrono::Duration::seconds(61));
        assert_eq!(attempt(&dave.password).send().await.unwrap().status(), StatusCode::OK);

        // Registration: 4 an hour per IP (dave was the first).
        for name in ["erin", "frank", "grace"] {
            app.register(name).await;
        }
        let r = app
            .anon(Method::POST, "/api/v1/auth/register")
            .json(&json!({"username": "heidi", "email": "heidi@example.com", "password": "heidi-secret-pw"}))
            .send()
            .await
            .unwrap();
        assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

        // Reset requests: 2 an hour per address, whether it is registered or not.
        for email in ["dave@example.com", "ghost@example.com"] {
            for expected in [StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::TOO_MANY_REQUESTS] {
                let r = app.anon(Method::POST, "/api/v1/auth/password-reset").json(&json!({"email": email})).send().await.unwrap();
                assert_eq!(r.status(), expected, "{email}");
            }
        }

        let admin = app.admin("root").await;
        let audit = audit_actions(&app, &admin).await;
        let count = |action: &str| audit.iter().filter(|(a, _, _)| a == action).count();
        assert_eq!(count("login_failed"), 6);
        assert_eq!(count("login_throttled"), 3);
        let failed = audit.iter().find(|(a, _, _)| a == "login_failed").unwrap();
        assert_eq!(failed.2["ip"], "127.0.0.1");
        assert_eq!(failed.2["actor"], "dave@example.com");
    }
}

/// A PNG of `width` × `height` (a real header; the pixels are not needed to read the size).
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&[0; 64]);
    bytes
}

dual_test! {
    async fn profile_photo_and_password_change(backend) {
        let app = TestApp::spawn(backend).await;
        let ivan = app.register("ivan").await;
        let judy = app.register("judy").await;
        let r = app.req(Method::PATCH, "/api/v1/me", &ivan).json(&json!({"display_name": "  Ivan the Great "})).send().await.unwrap();
        assert_eq!(ok_json(r).await["display_name"], "Ivan the Great");
        let r = app.req(Method::PATCH, "/api/v1/me", &ivan).json(&json!({"display_name": "x".repeat(101)})).send().await.unwrap();
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_display_name").await;

        let photo = png(64, 48);
        let put = |body: Vec<u8>| app.req(Method::PUT, "/api/v1/me/photo", &ivan).header("content-type", "image/png").body(body);
        let r = put(photo.clone()).send().await.unwrap();
        assert_eq!(ok_json(r).await["has_photo"], json!(true));
        for who in [&ivan, &judy] {
            let r = app.req(Method::GET, &format!("/api/v1/users/{}/photo", ivan.id), who).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["content-type"], "image/png");
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
            assert_eq!(r.bytes().await.unwrap().to_vec(), photo);
        }
        let r = app.anon(Method::GET, &format!("/api/v1/users/{}/photo", ivan.id)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // A script named like an image is refused: the type comes from the bytes.
        let r = put(b"<script>alert(1)</script>".to_vec()).send().await.unwrap();
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_image").await;
        assert_problem(put(png(5000, 10)).send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "photo_too_large").await;
        let mut big = png(100, 100);
        big.resize(3 << 20, 0);
        assert_problem(put(big).send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "photo_too_large").await;
        assert_eq!(app.anon(Method::GET, "/api/v1/me/photo").bearer_auth(&ivan.token).send().await.unwrap().bytes().await.unwrap().to_vec(), photo, "the photo is unchanged");
        assert_eq!(app.req(Method::DELETE, "/api/v1/me/photo", &ivan).send().await.unwrap().status(), StatusCode::NO_CONTENT);
        assert_eq!(app.req(Method::GET, "/api/v1/me/photo", &ivan).send().await.unwrap().status(), StatusCode::NOT_FOUND);

        // Password change: the current password is needed; other sessions end, this one stays.
        let other = app.login("ivan", &ivan.password).await["token"].as_str().unwrap().to_string();
        let change = |current: &str, new: &str| {
            app.req(Method::POST, "/api/v1/me/password", &ivan).json(&json!({"current_password": current, "new_password": new}))
        };
        assert_problem(change("wrong", "a new password").send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
        assert_problem(change(&ivan.password, "short").send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        assert_eq!(change(&ivan.password, "a new password").send().await.unwrap().status(), StatusCode::NO_CONTENT);
        assert_eq!(app.req(Method::GET, "/api/v1/me", &ivan).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(app.anon(Method::GET, "/api/v1/me").bearer_auth(&other).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        app.login("ivan", "a new password").await;
    }
}
