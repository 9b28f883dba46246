//! The metadata layer's one error type. Engine errors stay inside; callers see meanings.

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("not found")]
    NotFound,
    /// A live sibling already has this name.
    #[error("name already taken")]
    NameConflict,
    /// A uniqueness rule other than names (username, email, …).
    #[error("{0} already taken")]
    Taken(&'static str),
    #[error("quota exceeded")]
    QuotaExceeded,
    /// A write made on what a file held when it was read, and another write came first.
    #[error("the file changed since it was read")]
    Changed,
    /// A smaller quota was asked for than is already in use.
    #[error("more is stored than the new quota allows")]
    QuotaBelowUsage,
    /// A folder would move into itself or one of its descendants.
    #[error("a folder cannot move into itself or its descendants")]
    Cycle,
    /// The target is of the wrong kind (e.g. a file where a folder is needed).
    #[error("{0}")]
    Invalid(&'static str),
    /// A stored value could not be decoded: the database holds something this code never wrote.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    /// The database cannot be reached, or every connection stayed busy: try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl MetaError {
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }
}

impl From<sqlx::Error> for MetaError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                let message = db.message();
                let constraint = db.constraint().unwrap_or_default();
                if constraint.contains("nodes_live_name") || message.contains("nodes.parent_id") {
                    Self::NameConflict
                } else if constraint.contains("email") || message.contains("users.email") {
                    Self::Taken("email")
                } else if constraint.contains("username") || message.contains("users.username") {
                    Self::Taken("username")
                } else {
                    Self::Database(err)
                }
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => Self::Unavailable(err.to_string()),
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| c == "53300" || c.starts_with("57P") || c.starts_with("08")) =>
            {
                // too_many_connections, operator intervention (shutdown, cannot connect now),
                // connection exceptions
                Self::Unavailable(err.to_string())
            }
            _ => Self::Database(err),
        }
    }
}
