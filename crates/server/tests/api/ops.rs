//! Operations endpoints, the API document and docs page, and errors for unknown routes.

use reqwest::{Method, StatusCode};

use crate::helpers::*;

dual_test!(async fn health_ready_docs_and_unknown_routes(backend) {
    let app = TestApp::spawn(backend).await;
    let health = ok_json(app.anon(Method::GET, "/health").send().await.unwrap()).await;
    assert_eq!(health["status"], "ok");
    let ready = ok_json(app.anon(Method::GET, "/ready").send().await.unwrap()).await;
    assert_eq!(ready["status"], "ready");
    let doc = ok_json(app.anon(Method::GET, "/api/openapi.json").send().await.unwrap()).await;
    assert_eq!(doc["openapi"], "3.1.0");
    for path in ["/api/v1/auth/register", "/api/v1/nodes/{id}/children", "/api/v1/nodes/{id}/content", "/api/v1/trash/{id}/restore"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    let docs = app.anon(Method::GET, "/api/docs/").send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"), "the docs page is served from the binary");
    let index = app.anon(Method::GET, "/").send().await.unwrap();
    assert!(index.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(index.headers().get("x-request-id").is_some());

    assert_problem(app.anon(Method::GET, "/api/v1/nope").send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.anon(Method::DELETE, "/health").send().await.unwrap(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
});
