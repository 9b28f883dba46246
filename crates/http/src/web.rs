//! The web app: plain JavaScript modules and CSS compiled into the binary (no build step),
//! served at `/` and under `/assets/`, with a Content-Security-Policy that allows no inline
//! script. Every page path of the app answers the same shell; the app routes in the browser.

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use stratus_service::Stratus;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
    media-src 'self' blob:; connect-src 'self'; frame-src 'self' blob:; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

macro_rules! assets {
    ($($file:literal => $media_type:expr),* $(,)?) => {
        &[$(($file, $media_type, include_str!(concat!("../web/", $file)))),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the app: (name under `/assets/`, media type, contents).
const ASSETS: &[(&str, &str, &str)] = assets![
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "auth.js" => JS,
    "files.js" => JS,
    "vlist.js" => JS,
    "upload.js" => JS,
    "dialogs.js" => JS,
    "pages.js" => JS,
    "account.js" => JS,
    "admin.js" => JS,
    "public.js" => JS,
    "app.css" => "text/css; charset=utf-8",
];

/// The pages the browser's router knows.
const PAGES: &[&str] = &[
    "/",
    "/login",
    "/signup",
    "/forgot",
    "/reset-password",
    "/verify-email",
    "/files",
    "/files/{id}",
    "/shared",
    "/search",
    "/trash",
    "/stats",
    "/plan",
    "/profile",
    "/admin",
    "/admin/{section}",
];

/// The app's page paths and its assets.
pub fn routes() -> Router<Stratus> {
    let mut router = Router::new().route("/assets/{file}", get(asset));
    for page in PAGES {
        router = router.route(page, get(|| async { shell(StatusCode::OK) }));
    }
    router
}

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The page every path of the app answers, with `status`.
pub(crate) fn shell(status: StatusCode) -> Response {
    let page = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        include_str!("../web/index.html"),
    );
    secured(page.into_response())
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, media_type, body)) => secured(
            ([(header::CONTENT_TYPE, *media_type), (header::CACHE_CONTROL, "no-cache")], *body)
                .into_response(),
        ),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
