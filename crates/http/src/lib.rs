//! Stratus HTTP adapter: the REST API under `/api/v1`, its OpenAPI document and docs page,
//! operations endpoints, and the landing page.
//!
//! Handlers are thin: extract and parse, call the service with the authenticated caller, map
//! the result. Every error leaves through [`error::ApiError`] as `application/problem+json`.

mod dav;
pub mod error;
pub mod extract;
mod linger;
mod markup;
mod nextcloud;
mod range;
pub mod routes;
mod web;

use std::time::Duration;

use axum::{
    Router,
    http::{HeaderValue, StatusCode, header},
    routing::get,
};
use stratus_service::Stratus;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "Stratus", description = "A self-hosted cloud drive."),
    modifiers(&Security),
    tags((name = "auth"), (name = "account"), (name = "files"), (name = "trash"), (name = "sharing"), (name = "public"), (name = "uploads"), (name = "billing"), (name = "admin"))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's OpenAPI 3.1 document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    split().1
}

fn split() -> (Router<Stratus>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::new()
        .merge(routes::auth::routes())
        .merge(routes::recovery::routes())
        .merge(routes::profile::routes())
        .merge(routes::billing::routes())
        .merge(routes::nodes::routes())
        .merge(routes::content::routes())
        .merge(routes::derived::routes())
        .merge(routes::shares::routes())
        .merge(routes::links::routes())
        .merge(routes::admin::routes())
        .merge(routes::uploads::routes());
    let (router, mut doc) =
        OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", api).split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    (router, doc)
}

/// The Content-Security-Policy of answers that set none: scripts only from this server, no
/// frames, no plugins (the API docs page needs its inline styles).
const DEFAULT_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The whole HTTP application.
pub fn router(stratus: Stratus) -> Router {
    let (api, doc) = split();
    api.merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", doc))
        .merge(routes::tus::routes())
        .merge(dav::routes())
        .merge(nextcloud::routes())
        .merge(web::routes())
        .route("/health", get(routes::ops::health))
        .route("/ready", get(routes::ops::ready))
        .route("/metrics", get(routes::ops::metrics))
        .route("/s/{token}", get(routes::links::link_page))
        .route("/s/{token}/download", get(routes::links::link_download))
        .route("/dl/{id}", get(routes::links::signed_download))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed here",
            )
        })
        .layer(axum::middleware::from_fn_with_state(stratus.clone(), linger::linger))
        .with_state(stratus)
        // Every answer the web app's own pages do not already cover (the API docs, WebDAV's
        // folder pages, files) may not be framed, sniffed or run foreign script.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// How long a graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
