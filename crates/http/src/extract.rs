//! Extractors whose rejections are problem documents, and the caller's identity.
//!
//! Clients authenticate with `Authorization: Bearer <token>` (session or app token), with
//! `Authorization: Basic` (username + password or app token), or — browsers — with the
//! HttpOnly session cookie, in which case state-changing requests must also echo the CSRF
//! cookie in an `X-CSRF-Token` header: its value is derived from the session, so it is bound
//! to it.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts},
    http::{Method, header, request::Parts},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use stratus_service::{Caller, Stratus};

use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "stratus_session";
pub const CSRF_COOKIE: &str = "stratus_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// `axum::Json` with problem+json rejections.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with problem+json rejections.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with problem+json rejections (a malformed id is a 404).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The authenticated caller; absent or bad credentials answer 401.
pub struct Auth(pub Caller);

impl FromRequestParts<Stratus> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, stratus: &Stratus) -> Result<Self, ApiError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let value = value.to_str().map_err(|_| ApiError::unauthenticated())?;
            let (scheme, credentials) = value.split_once(' ').ok_or_else(ApiError::unauthenticated)?;
            let caller = if scheme.eq_ignore_ascii_case("bearer") {
                stratus.authenticate_token(credentials.trim()).await?
            } else if scheme.eq_ignore_ascii_case("basic") {
                let decoded = STANDARD
                    .decode(credentials.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(ApiError::unauthenticated)?;
                let (user, password) = decoded.split_once(':').ok_or_else(ApiError::unauthenticated)?;
                stratus.authenticate_basic(user, password, client_ip(parts, stratus)).await?
            } else {
                return Err(ApiError::unauthenticated());
            };
            return Ok(Self(caller.with_ip(client_ip(parts, stratus)).with_lock_tokens(lock_tokens(parts))));
        }
        let session = cookie(parts, SESSION_COOKIE).ok_or_else(ApiError::unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            // The header must carry the token derived from this very session (the cookie only
            // lets the app read it): a cookie another site planted matches no session.
            let expected = stratus.csrf_token(&session);
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if sent != Some(expected.as_str()) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "a cookie-authenticated change needs the X-CSRF-Token header",
                ));
            }
        }
        let caller = stratus.authenticate_token(&session).await?;
        Ok(Self(caller.with_ip(client_ip(parts, stratus)).with_lock_tokens(lock_tokens(parts))))
    }
}

/// The WebDAV lock tokens an API request submits to change a locked item, as WebDAV does:
/// `If: (<opaquelocktoken:…>)`.
fn lock_tokens(parts: &Parts) -> Vec<String> {
    let Some(value) = parts.headers.get("if").and_then(|v| v.to_str().ok()) else { return Vec::new() };
    value
        .split('<')
        .filter_map(|rest| rest.split_once('>').map(|(token, _)| token))
        .filter(|token| token.starts_with("opaquelocktoken:"))
        .map(str::to_string)
        .collect()
}

/// The client's address: the connection's peer, or behind a trusted proxy the last
/// `X-Forwarded-For` entry (the one the proxy added).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<Stratus> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, stratus: &Stratus) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts, stratus)))
    }
}

pub(crate) fn client_ip(parts: &Parts, stratus: &Stratus) -> Option<IpAddr> {
    if stratus.trust_proxy() {
        // The last entry is the one the trusted proxy appended; earlier ones are the client's word.
        let last =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).next_back();
        let forwarded = last.and_then(|v| v.rsplit(',').next()).and_then(|ip| ip.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// The caller if the request carries credentials (which must then be valid), else anonymous:
/// for what public access lets anyone do.
pub struct MaybeAuth(pub Option<Caller>);

impl FromRequestParts<Stratus> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, stratus: &Stratus) -> Result<Self, ApiError> {
        let has_credentials =
            parts.headers.contains_key(header::AUTHORIZATION) || cookie(parts, SESSION_COOKIE).is_some();
        if !has_credentials {
            return Ok(Self(None));
        }
        Auth::from_request_parts(parts, stratus).await.map(|Auth(c)| Self(Some(c)))
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    cookie_in(&parts.headers, name)
}

/// The value of cookie `name` among these headers.
pub fn cookie_in(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}
