//! Operations endpoints (`/health`, `/ready`) and the landing page at `/`.

use axum::{
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse},
};
use serde_json::json;
use stratus_service::{Stratus, VolumeStatus};

/// Liveness: the process answers.
pub async fn health() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and the block storage takes writes, within 2 s whatever
/// hangs; the answer names the part that is down.
pub async fn ready(State(s): State<Stratus>) -> impl IntoResponse {
    let r = s.readiness().await;
    let part =
        |problem: &Option<String>| problem.as_ref().map_or("ok".to_string(), |p| format!("unavailable: {p}"));
    let body = json!({
        "status": if r.is_ready() { "ready" } else { "unavailable" },
        "database": part(&r.database),
        "storage": part(&r.storage),
    });
    if r.is_ready() {
        (StatusCode::OK, axum::Json(body)).into_response()
    } else {
        tracing::warn!(database = ?r.database, storage = ?r.storage, "not ready");
        (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::RETRY_AFTER, "5")], axum::Json(body))
            .into_response()
    }
}

/// A small page until the web app lands: what this is and where to go.
pub async fn index() -> Html<&'static str> {
    Html(include_str!("../../assets/index.html"))
}

/// Prometheus metrics of this process.
pub async fn metrics(State(s): State<Stratus>, headers: axum::http::HeaderMap) -> axum::response::Response {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    if let Err(err) = s.may_read_metrics(bearer).await {
        return crate::error::ApiError::from(err).into_response();
    }
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
         stratus_files_committed_total {}\n\
         # HELP stratus_upload_commits_total Transactions that committed streamed uploads (group commit: one for several).\n\
         # TYPE stratus_upload_commits_total counter\n\
         stratus_upload_commits_total {}\n",
        c.block_bytes.load(Relaxed),
        c.upload_bytes.load(Relaxed),
        c.files_committed.load(Relaxed),
        c.upload_commits.load(Relaxed),
    );
    let storage = s.storage_gauges(false).await;
    let mut body = body;
    for (name, help, value) in [
        ("stratus_block_read_faults_total", "Corrupt block copies met by reads.", storage.read_faults),
        ("stratus_block_read_repairs_total", "Corrupt copies rewritten after a read.", storage.read_repairs),
        (
            "stratus_block_degraded_writes_total",
            "Blocks stored below their replica count.",
            storage.degraded_writes,
        ),
    ] {
        body.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"));
    }
    type Gauge = (&'static str, &'static str, fn(&VolumeStatus) -> Option<f64>);
    let gauges: [Gauge; 4] = [
        ("stratus_volume_capacity_bytes", "Capacity of the volume's disk.", |v| {
            v.capacity_bytes.map(|b| b as f64)
        }),
        ("stratus_volume_available_bytes", "Free bytes on the volume's disk.", |v| {
            v.available_bytes.map(|b| b as f64)
        }),
        ("stratus_volume_online", "1 when the volume is usable.", |v| {
            Some(f64::from(u8::from(v.problem.is_none())))
        }),
        ("stratus_volume_nearly_full", "1 past 85% of capacity.", |v| {
            Some(f64::from(u8::from(v.nearly_full)))
        }),
    ];
    for (name, help, value) in gauges {
        body.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for v in &storage.volumes {
            if let Some(x) = value(v) {
                body.push_str(&format!("{name}{{volume=\"{}\",pool=\"{}\"}} {x}\n", v.id, v.pool));
            }
        }
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
