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

/// Prometheus metrics of this process.
pub async fn metrics(State(s): State<Stratus>) -> impl IntoResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let c = s.counters();
    let body = format!(
        "# HELP stratus_block_bytes_received_total Bytes of blocks received by upload sessions.\n\
         # TYPE stratus_block_bytes_received_total counter\n\
         stratus_block_bytes_received_total {}\n\
         # HELP stratus_upload_bytes_received_total Bytes received by streamed uploads.\n\
         # TYPE stratus_upload_bytes_received_total counter\n\
         stratus_upload_bytes_received_total {}\n\
         # HELP stratus_files_committed_total Files and versions committed.\n\
         # TYPE stratus_files_committed_total counter\n\
         stratus_files_committed_total {}\n",
        c.block_bytes.load(Relaxed),
        c.upload_bytes.load(Relaxed),
        c.files_committed.load(Relaxed),
    );
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
