//! `/api/v1/auth/…`: email verification, password reset and OpenID Connect login.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect},
};
use serde::{Deserialize, Serialize};
use stratus_core::User;
use stratus_service::Stratus;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{Auth, ClientIp, Json, Query, cookie_in},
    routes::auth::{secure_attribute, session_cookies},
};

const OIDC_COOKIE: &str = "stratus_oidc";

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
        .routes(routes!(providers))
        .routes(routes!(oidc_login))
        .routes(routes!(oidc_callback))
}

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The token from the mailed link.
    token: String,
}

/// Confirm an email address with the token from the mailed link.
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = User), (status = 400, body = Problem), (status = 410, body = Problem)))]
async fn verify_email(
    State(s): State<Stratus>,
    ClientIp(ip): ClientIp,
    Json(r): Json<TokenRequest>,
) -> ApiResult<Json<User>> {
    Ok(Json(s.verify_email(&r.token, ip).await?))
}

/// Mail the caller a new verification link (202; 409 if the address is verified already).
#[utoipa::path(post, path = "/auth/verify-email/resend", tag = "auth",
    responses((status = 202), (status = 409, body = Problem), (status = 429, body = Problem)), security(("bearer" = [])))]
async fn resend_verification(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<StatusCode> {
    s.resend_verification(&c).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    email: String,
}

/// Ask for a password-reset link. Always 202, whether or not the address is registered
/// (429 only when asked too often).
#[utoipa::path(post, path = "/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202), (status = 429, body = Problem)))]
async fn request_reset(
    State(s): State<Stratus>,
    ClientIp(ip): ClientIp,
    Json(r): Json<ResetRequest>,
) -> ApiResult<StatusCode> {
    s.request_password_reset(&r.email, ip).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
pub struct ResetConfirm {
    token: String,
    password: String,
}

/// Set a new password with the mailed token (single use, 1 hour); every session ends.
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirm,
    responses((status = 204), (status = 400, body = Problem), (status = 410, body = Problem), (status = 422, body = Problem)))]
async fn confirm_reset(
    State(s): State<Stratus>,
    ClientIp(ip): ClientIp,
    Json(r): Json<ResetConfirm>,
) -> ApiResult<StatusCode> {
    s.confirm_password_reset(&r.token, &r.password, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Providers {
    /// The OpenID Connect provider's name ("Google"), if that login is offered.
    oidc: Option<String>,
    /// Whether this server takes payments.
    payments: bool,
}

/// Which sign-in methods this server offers (for login pages).
#[utoipa::path(get, path = "/auth/providers", tag = "auth", responses((status = 200, body = Providers)))]
async fn providers(State(s): State<Stratus>) -> Json<Providers> {
    Json(Providers { oidc: s.oidc_name().map(str::to_string), payments: s.plans().payments_enabled })
}

#[derive(Deserialize, IntoParams)]
pub struct LoginQuery {
    /// A path on this site to return to after logging in (`/` by default).
    return_to: Option<String>,
}

/// Start logging in with the OpenID Connect provider: a redirect to it (404 when not configured).
#[utoipa::path(get, path = "/auth/oidc/login", tag = "auth", params(LoginQuery),
    responses((status = 303), (status = 404, body = Problem), (status = 502, body = Problem)))]
async fn oidc_login(State(s): State<Stratus>, Query(q): Query<LoginQuery>) -> ApiResult<impl IntoResponse> {
    let login = s.oidc_login(q.return_to.as_deref()).await?;
    let secure = secure_attribute(&s);
    let cookie = format!(
        "{OIDC_COOKIE}={}; Path=/api/v1/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=600{secure}",
        login.state
    );
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    Ok((headers, Redirect::to(&login.authorization_url)))
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// Set by the provider when the user refused or something failed there.
    error: Option<String>,
}

/// Where the provider sends the browser back: checks state (against this browser's
/// cookie), nonce and the ID token, opens a session (cookies) and redirects to `return_to`.
#[utoipa::path(get, path = "/auth/oidc/callback", tag = "auth", params(CallbackQuery),
    responses((status = 303), (status = 400, body = Problem), (status = 409, body = Problem)))]
async fn oidc_callback(
    State(s): State<Stratus>,
    ClientIp(ip): ClientIp,
    Query(q): Query<CallbackQuery>,
    request_headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    if let Some(error) = q.error {
        return Err(crate::error::ApiError::new(
            StatusCode::BAD_REQUEST,
            "oidc_denied",
            format!("the identity provider answered: {error}"),
        ));
    }
    let browser_state = cookie_in(&request_headers, OIDC_COOKIE);
    let (session, return_to) = s
        .oidc_callback(
            q.code.as_deref().unwrap_or(""),
            q.state.as_deref().unwrap_or(""),
            browser_state.as_deref(),
            ip,
        )
        .await?;
    let mut headers = session_cookies(&s, &session);
    if let Ok(value) = HeaderValue::from_str(&format!("{OIDC_COOKIE}=; Path=/api/v1/auth/oidc; Max-Age=0")) {
        headers.append(header::SET_COOKIE, value);
    }
    Ok((headers, Redirect::to(&return_to)))
}
