//! Operations endpoints (`/health`, `/ready`) and the landing page at `/`.

use axum::{
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse},
};
use serde_json::json;
use stratus_service::Stratus;

/// Liveness: the process answers.
pub async fn health() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and the block volume takes writes.
pub async fn ready(State(s): State<Stratus>) -> impl IntoResponse {
    match s.ready().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ready" }))),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable", "detail": err.to_string() })),
            )
        }
    }
}

/// A small page until the web app lands: what this is and where to go.
pub async fn index() -> Html<&'static str> {
    Html(include_str!("../../assets/index.html"))
}
