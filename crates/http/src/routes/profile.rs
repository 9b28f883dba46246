//! `/api/v1/me` (profile) and `/api/v1/users/{id}/photo`.

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use serde::Deserialize;
use stratus_core::{User, UserId};
use stratus_service::Stratus;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{Auth, Json, Path},
};

pub fn routes() -> OpenApiRouter<Stratus> {
    OpenApiRouter::new()
        .routes(routes!(update_profile))
        .routes(routes!(change_password))
        .routes(routes!(my_photo, set_photo, delete_photo))
        .routes(routes!(user_photo))
        // A photo is at most 2 MiB. Twice that is read, so a slightly large photo gets the
        // service's clear 422 rather than a cut connection; beyond it, 413.
        .layer(DefaultBodyLimit::max(4 << 20))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// Up to 100 characters; empty clears it.
    display_name: Option<String>,
}

/// Change the caller's profile.
#[utoipa::path(patch, path = "/me", tag = "account", request_body = ProfileUpdate,
    responses((status = 200, body = User), (status = 422, body = Problem)), security(("bearer" = [])))]
async fn update_profile(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Json(u): Json<ProfileUpdate>,
) -> ApiResult<Json<User>> {
    match u.display_name {
        Some(name) => Ok(Json(s.set_display_name(&c, &name).await?)),
        None => Ok(Json(s.me(&c).await?)),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Change the caller's password; every other session ends.
#[utoipa::path(post, path = "/me/password", tag = "account", request_body = PasswordChange,
    responses((status = 204), (status = 403, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
async fn change_password(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Json(r): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    s.change_password(&c, &r.current_password, &r.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set the caller's photo: the raw bytes of a PNG, JPEG, GIF or WebP image (≤ 2 MiB,
/// ≤ 4096 × 4096 pixels).
#[utoipa::path(put, path = "/me/photo", tag = "account", request_body(content = Vec<u8>, content_type = "image/*"),
    responses((status = 200, body = User), (status = 413, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
async fn set_photo(
    State(s): State<Stratus>,
    Auth(c): Auth,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<User>> {
    let body = body.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "photo_too_large", "a profile photo is at most 2 MiB")
    })?;
    Ok(Json(s.set_photo(&c, &body).await?))
}

/// Remove the caller's photo.
#[utoipa::path(delete, path = "/me/photo", tag = "account", responses((status = 204)), security(("bearer" = [])))]
async fn delete_photo(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<StatusCode> {
    s.delete_photo(&c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's photo.
#[utoipa::path(get, path = "/me/photo", tag = "account",
    responses((status = 200, content_type = "image/*"), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn my_photo(State(s): State<Stratus>, Auth(c): Auth) -> ApiResult<axum::response::Response> {
    let user = c.user();
    photo(&s, &c, user).await
}

/// A user's photo (any signed-in user may see it).
#[utoipa::path(get, path = "/users/{id}/photo", tag = "account", params(("id" = UserId, Path)),
    responses((status = 200, content_type = "image/*"), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn user_photo(
    State(s): State<Stratus>,
    Auth(c): Auth,
    Path(id): Path<UserId>,
) -> ApiResult<axum::response::Response> {
    photo(&s, &c, id).await
}

async fn photo(
    s: &Stratus,
    c: &stratus_service::Caller,
    user: UserId,
) -> ApiResult<axum::response::Response> {
    let (media_type, bytes) = s.photo(c, user).await?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_str(&media_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    Ok((headers, bytes).into_response())
}
