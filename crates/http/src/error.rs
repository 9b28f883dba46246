//! The one place errors become HTTP: RFC 9457 `application/problem+json` with a stable `code`.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use stratus_service::ServiceError;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:stratus:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable and machine-readable, e.g. `name_conflict`.
    pub code: String,
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extra headers: `WWW-Authenticate`, `Content-Range`, `Retry-After`…
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), headers: Vec::new() }
    }

    /// The same problem under another status (WebDAV's mapping of a few errors).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "there is nothing here")
    }

    pub fn unauthenticated() -> Self {
        Self::from(ServiceError::Unauthenticated)
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        let status = match &err {
            ServiceError::NotFound => StatusCode::NOT_FOUND,
            ServiceError::Unauthenticated | ServiceError::WrongCredentials | ServiceError::LinkPassword => {
                StatusCode::UNAUTHORIZED
            }
            ServiceError::Gone { .. } => StatusCode::GONE,
            ServiceError::ChecksumMismatch => StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            ServiceError::Forbidden(_) | ServiceError::Denied { .. } => StatusCode::FORBIDDEN,
            ServiceError::InvalidName(_) | ServiceError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::BadRequest { .. } | ServiceError::UploadIncomplete(_) => StatusCode::BAD_REQUEST,
            ServiceError::NameConflict | ServiceError::Conflict { .. } | ServiceError::QuotaBelowUsage => {
                StatusCode::CONFLICT
            }
            ServiceError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ServiceError::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ServiceError::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            ServiceError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Locked => StatusCode::LOCKED,
            ServiceError::Changed => StatusCode::PRECONDITION_FAILED,
            ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = match &err {
            ServiceError::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                "something went wrong on the server; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let api = Self::new(status, err.code(), detail);
        match err {
            ServiceError::Unauthenticated | ServiceError::WrongCredentials => api
                .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"stratus\"")),
            ServiceError::RateLimited { retry_after } | ServiceError::Unavailable { retry_after, .. } => {
                api.with_header(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)))
            }
            _ => api,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let (status, code) = match &rejection {
            JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            _ => (StatusCode::BAD_REQUEST, "invalid_body"),
        };
        Self::new(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    /// A malformed id cannot name anything: it is simply not found.
    fn from(_: PathRejection) -> Self {
        Self::not_found()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_string();
        let problem = Problem {
            kind: format!("urn:stratus:problem:{}", self.code),
            title,
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
        };
        let mut response = (self.status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
