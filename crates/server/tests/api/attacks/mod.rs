//! The adversarial suite: one test per attack found against the drive, written as the requests
//! an attacker sends and the safe outcome. Each module names the promise it guards.

mod access;
mod atomic;
mod brute;
mod exposure;
mod input;
mod locks;
mod slow;
mod tokens;
mod uploads;

use reqwest::Method;

use crate::helpers::*;

/// A WebDAV request with Basic auth (the account password).
pub fn dav(app: &TestApp, method: &str, path: &str, user: &TestUser) -> reqwest::RequestBuilder {
    app.client
        .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&format!("/dav{path}")))
        .basic_auth(&user.username, Some(&user.password))
}

/// Whether the server still answers (it did not crash or hang).
pub async fn alive(app: &TestApp) -> bool {
    app.anon(Method::GET, "/health").send().await.is_ok_and(|r| r.status().is_success())
}
