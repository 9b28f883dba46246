//! The service layer's error: what went wrong in the user's terms, each with a stable code.
//! Adapters map these to their protocol (HTTP status, WebDAV status, CLI exit code).

use stratus_blob::BlobError;
use stratus_core::NameError;
use stratus_meta::MetaError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Absent, or not the caller's to see: the two are never told apart.
    #[error("not found")]
    NotFound,
    #[error("authentication required")]
    Unauthenticated,
    /// A login whose username (or email) and password do not match an account (401,
    /// `unauthenticated`): which of the two was wrong is not told.
    #[error("the username or password is wrong")]
    WrongCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    /// Forbidden, with a code of its own (403).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    #[error("invalid name: {0}")]
    InvalidName(#[from] NameError),
    /// Well-formed but unacceptable input (422).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// Malformed input (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("an item with this name already exists here")]
    NameConflict,
    /// A clash other than names (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// It existed, and is gone for good (an expired link or URL, an exhausted link).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// A link's password is missing or wrong (nothing else is revealed).
    #[error("this link needs its password")]
    LinkPassword,
    /// A chunk's bytes do not match the checksum sent with them (tus: 460).
    #[error("the data does not match its checksum")]
    ChecksumMismatch,
    #[error("this would exceed your storage quota")]
    QuotaExceeded,
    #[error("the upload ended before all of its content arrived: {0}")]
    UploadIncomplete(String),
    #[error("the client sent nothing for too long")]
    Timeout,
    #[error("no storage volume has room for this upload")]
    InsufficientStorage,
    /// Too many attempts: try again after this many seconds (429 + Retry-After).
    #[error("too many attempts; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// A plan or quota smaller than what is stored.
    #[error("you store more than the new size allows; free some space first")]
    QuotaBelowUsage,
    /// A service Stratus depends on (identity provider, payment provider) failed (502).
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    /// A WebDAV lock covers what this would change, and its token was not submitted (423).
    #[error("this item is locked; send its lock token to change it")]
    Locked,
    /// The write was conditional on what the client had read, and the file changed since (412).
    #[error("the file changed since you read it")]
    Changed,
    /// The server cannot take this now (503 + Retry-After): busy, or storage out of reach.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String, retry_after: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

impl ServiceError {
    /// The stable, machine-readable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unauthenticated | Self::WrongCredentials => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::InvalidName(_) => "invalid_name",
            Self::Invalid { code, .. }
            | Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::Gone { code, .. }
            | Self::Denied { code, .. } => code,
            Self::LinkPassword => "link_password",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::NameConflict => "name_conflict",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Locked => "locked",
            Self::Changed => "precondition_failed",
            Self::UploadIncomplete(_) => "upload_incomplete",
            Self::Timeout => "request_timeout",
            Self::InsufficientStorage => "insufficient_storage",
            Self::RateLimited { .. } => "rate_limited",
            Self::QuotaBelowUsage => "quota_below_usage",
            Self::Upstream { code, .. } | Self::Unavailable { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }

    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { code, message: message.into() }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    pub(crate) fn upstream(code: &'static str, message: impl Into<String>) -> Self {
        Self::Upstream { code, message: message.into() }
    }

    pub(crate) fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<MetaError> for ServiceError {
    fn from(err: MetaError) -> Self {
        match err {
            MetaError::NotFound => Self::NotFound,
            MetaError::NameConflict => Self::NameConflict,
            MetaError::Taken(what) => Self::Conflict {
                code: if what == "email" { "email_taken" } else { "username_taken" },
                message: format!("this {what} is already registered"),
            },
            MetaError::QuotaExceeded => Self::QuotaExceeded,
            MetaError::Changed => Self::Changed,
            MetaError::QuotaBelowUsage => Self::QuotaBelowUsage,
            MetaError::Cycle => Self::invalid("invalid_move", err.to_string()),
            MetaError::Invalid(message) => Self::invalid("invalid_request", message),
            MetaError::Unavailable(why) => {
                tracing::warn!(error = %why, "the database is unavailable");
                Self::Unavailable {
                    code: "database_unavailable",
                    message: "the database is busy or cannot be reached; try again shortly".into(),
                    retry_after: 2,
                }
            }
            other => Self::internal(other),
        }
    }
}

impl From<BlobError> for ServiceError {
    fn from(err: BlobError) -> Self {
        match err {
            BlobError::NoSpace => Self::InsufficientStorage,
            BlobError::Unavailable(why) => {
                tracing::warn!(error = %why, "the block storage is unavailable");
                Self::Unavailable {
                    code: "storage_unavailable",
                    message: "the file storage cannot be reached; try again shortly".into(),
                    retry_after: 5,
                }
            }
            BlobError::Mismatch(hash) => {
                Self::invalid("block_mismatch", format!("the data sent does not hash to {hash}"))
            }
            other => Self::internal(other),
        }
    }
}
