//! `/api/v1/auth/*` and `/api/v1/me*`: accounts, sessions and app tokens.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stratus_core::{AppToken, TokenId, User, UserId, UserStats};
use stratus_service::{Registration, Session, Stratus};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{Auth, CSRF_COOKIE, ClientIp, Json, Path, SESSION_COOKIE},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(verify))
        .routes(routes!(me))
        .routes(routes!(my_stats))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(login_flow))
        .routes(routes!(grant_login_flow))
}

/// An app asking for access (Login Flow v2, as Nextcloud's apps sign in).
#[derive(Serialize, ToSchema)]
pub struct LoginFlowRequest {
    /// The app, as its User-Agent names it.
    client: String,
}

/// Which app asks for access through a login URL (`/index.php/login/v2/flow/{token}`).
#[utoipa::path(get, path = "/login-flows/{token}", tag = "account", params(("token" = String, Path)),
    responses((status = 200, body = LoginFlowRequest), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn login_flow(
    State(stratus): State<Stratus>,
    Auth(caller): Auth,
    Path(token): Path<String>,
) -> ApiResult<Json<LoginFlowRequest>> {
    Ok(Json(LoginFlowRequest { client: stratus.login_flow_client(&caller, &token).await? }))
}

/// Grant the app of a login flow access to your drive: its poll receives an app password.
#[utoipa::path(post, path = "/login-flows/{token}/grant", tag = "account", params(("token" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn grant_login_flow(
    State(stratus): State<Stratus>,
    Auth(caller): Auth,
    Path(token): Path<String>,
) -> ApiResult<StatusCode> {
    stratus.grant_login_flow(&caller, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    username: String,
    email: String,
    password: String,
}

/// The new account: its fields, and the same object under `user`.
#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    #[serde(flatten)]
    account: User,
    user: User,
}

/// Create an account (1 GiB free).
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = RegisterResponse), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn register(
    State(stratus): State<Stratus>,
    ClientIp(ip): ClientIp,
    Json(r): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<RegisterResponse>)> {
    let registration = Registration { username: r.username, email: r.email, password: r.password };
    let user = stratus.register(registration, ip).await?;
    Ok((StatusCode::CREATED, Json(RegisterResponse { account: user.clone(), user })))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username or email.
    login: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token; also set as an HttpOnly cookie for browsers.
    token: String,
    expires_at: DateTime<Utc>,
    user: User,
}

/// Log in with username or email and password (429 + Retry-After when attempts come too
/// fast or after repeated failures).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(stratus): State<Stratus>,
    ClientIp(ip): ClientIp,
    Json(r): Json<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let session = stratus.login(&r.login, &r.password, ip).await?;
    let headers = session_cookies(&stratus, &session);
    let body = LoginResponse { token: session.token, expires_at: session.expires_at, user: session.user };
    Ok((headers, Json(body)))
}

/// The session cookie (HttpOnly; Secure when the public URL is https) and the CSRF cookie
/// the browser app echoes in `X-CSRF-Token`.
pub(crate) fn session_cookies(stratus: &Stratus, session: &Session) -> HeaderMap {
    let max_age = (session.expires_at - Utc::now()).num_seconds().max(0);
    let csrf = stratus.csrf_token(&session.token);
    let secure = secure_attribute(stratus);
    let mut headers = HeaderMap::new();
    for cookie in [
        format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
            session.token
        ),
        format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict; Max-Age={max_age}{secure}"),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    headers
}

/// `; Secure` when the drive is reached over TLS (its public URL is `https`), else nothing.
pub(crate) fn secure_attribute(stratus: &Stratus) -> &'static str {
    if stratus.public_url().starts_with("https:") { "; Secure" } else { "" }
}

/// End this session: its token stops working at once.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = Problem)), security(("bearer" = [])))]
async fn logout(State(stratus): State<Stratus>, Auth(caller): Auth) -> ApiResult<impl IntoResponse> {
    stratus.logout(&caller).await?;
    let mut headers = HeaderMap::new();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        if let Ok(value) = HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0")) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    Ok((StatusCode::NO_CONTENT, headers))
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    user_id: UserId,
    /// `null` for app tokens and password authentication, which do not expire.
    expires_at: Option<DateTime<Utc>>,
}

/// Check a token.
#[utoipa::path(get, path = "/auth/verify", tag = "auth",
    responses((status = 200, body = VerifyResponse), (status = 401, body = Problem)), security(("bearer" = [])))]
async fn verify(Auth(caller): Auth) -> Json<VerifyResponse> {
    Json(VerifyResponse { user_id: caller.user(), expires_at: caller.expires_at() })
}

/// The caller's account, with quota.
#[utoipa::path(get, path = "/me", tag = "account",
    responses((status = 200, body = User), (status = 401, body = Problem)), security(("bearer" = [])))]
async fn me(State(stratus): State<Stratus>, Auth(caller): Auth) -> ApiResult<Json<User>> {
    Ok(Json(stratus.me(&caller).await?))
}

/// The caller's usage: by category, in the trash, in older versions, and the last 90 days.
#[utoipa::path(get, path = "/me/stats", tag = "account",
    responses((status = 200, body = UserStats), (status = 401, body = Problem)), security(("bearer" = [])))]
async fn my_stats(State(stratus): State<Stratus>, Auth(caller): Auth) -> ApiResult<Json<UserStats>> {
    Ok(Json(stratus.stats(&caller).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    info: AppToken,
    /// The secret, shown only now: use it as the Basic-auth password or as a bearer token.
    token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    items: Vec<AppToken>,
}

/// Create a named app token for WebDAV or CLI clients.
#[utoipa::path(post, path = "/me/tokens", tag = "account", request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 422, body = Problem)), security(("bearer" = [])))]
async fn create_token(
    State(stratus): State<Stratus>,
    Auth(caller): Auth,
    Json(r): Json<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let created = stratus.create_app_token(&caller, &r.name).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { info: created.token, token: created.secret })))
}

/// List app tokens (never their secrets).
#[utoipa::path(get, path = "/me/tokens", tag = "account",
    responses((status = 200, body = TokenList)), security(("bearer" = [])))]
async fn list_tokens(State(stratus): State<Stratus>, Auth(caller): Auth) -> ApiResult<Json<TokenList>> {
    Ok(Json(TokenList { items: stratus.app_tokens(&caller).await? }))
}

/// Revoke an app token.
#[utoipa::path(delete, path = "/me/tokens/{id}", tag = "account", params(("id" = TokenId, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn revoke_token(
    State(stratus): State<Stratus>,
    Auth(caller): Auth,
    Path(id): Path<TokenId>,
) -> ApiResult<StatusCode> {
    stratus.revoke_app_token(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
