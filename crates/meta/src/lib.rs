//! Stratus metadata store: every SQL statement of the system lives in this crate.
//!
//! [`Db`] holds a concrete SQLite or PostgreSQL pool (never sqlx's `Any` driver). Each area
//! (users, tokens, tree, trash, content) is a module of methods on `Db`; one SQL text serves
//! both engines, compiled against each driver by the [`on_db!`] and [`in_tx!`] macros. Writes
//! that must be atomic are one method each, so a use case's transaction never leaks upward.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use accounts::{OidcState, TokenUse, UserFilter};
pub use billing::{AuditFilter, Settled};
pub use cluster::{ClusterNode, ScheduledJob};
pub use content::{CommitFile, CommitTarget, Committed, NewVersion, StoredContent};
pub use dav::{DavLock, NodeLock};
pub use error::MetaError;
pub use links::{LinkRecord, NewLink};
pub use nodes::{ChildCursor, CursorKey, NewFolder, NodeChange, Replacing};
pub use schema::ColumnInfo;
pub use search::SearchCursor;
pub use stats::{UsageFigures, UsageRecount};
pub use tokens::{NewToken, TokenKind, TokenOwner};
pub use trash::Purged;
pub use tus::TusUpload;
pub use uploads::UploadSession;
pub use users::{LoginRecord, NewUser};
pub use volumes::RefcountMismatch;

pub type Result<T, E = MetaError> = std::result::Result<T, E>;

/// The metadata database: one of the two supported engines.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(Sqlite),
    Postgres(PgPool),
}

/// A SQLite pool, and the queue its write transactions wait in. SQLite has one writer at a
/// time; left to its busy handler, a writer that finds the lock taken sleeps (1, 2, 5, 10 …
/// ms) and retries, so concurrent writers mostly slept. In this queue each is woken the
/// moment the one before commits. (Another process writing the same file still meets the
/// busy handler.)
#[derive(Clone, Debug)]
pub struct Sqlite {
    pool: SqlitePool,
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl std::ops::Deref for Sqlite {
    type Target = SqlitePool;

    fn deref(&self) -> &SqlitePool {
        &self.pool
    }
}

impl Sqlite {
    /// Waits for this process's turn to write (bounded like the busy timeout).
    pub(crate) async fn queue(&self) -> Result<tokio::sync::MutexGuard<'_, ()>> {
        tokio::time::timeout(WRITER_WAIT, self.writer.lock())
            .await
            .map_err(|_| MetaError::Unavailable("timed out waiting for the database's write lock".into()))
    }
}

/// How long a write transaction waits for its turn before the request fails (503).
const WRITER_WAIT: Duration = Duration::from_secs(30);

/// Runs `$body` with `$pool` bound to the concrete pool; the body is compiled once per engine.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite(db) => {
                let $pool: &sqlx::SqlitePool = db;
                $body
            }
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` inside a write transaction bound to `$tx` and commits it; an early return
/// (`?`) rolls it back. On SQLite the transaction first waits its turn in the process's
/// writer queue, then takes the write lock up front (`BEGIN IMMEDIATE`), so it never fails on
/// lock upgrade.
macro_rules! in_tx {
    ($db:expr, |$tx:ident| $body:expr) => {
        begun_tx!($db, true, "BEGIN IMMEDIATE", "BEGIN", |$tx| $body)
    };
}

/// Runs `$body` in a read-only transaction bound to `$tx` that sees one snapshot and blocks
/// no writer: SQLite's deferred `BEGIN` (a WAL reader keeps the snapshot of its first read),
/// PostgreSQL's repeatable read. For checks that read several tables and must see them agree.
macro_rules! in_snapshot {
    ($db:expr, |$tx:ident| $body:expr) => {
        begun_tx!($db, false, "BEGIN DEFERRED", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", |$tx| {
            $body
        })
    };
}

/// A transaction begun with the engine's statement, `$body` run in it, then committed.
macro_rules! begun_tx {
    ($db:expr, $write:literal, $sqlite:literal, $postgres:literal, |$tx:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite(db) => {
                let _turn = if $write { Some(db.queue().await?) } else { None };
                let mut $tx = db.begin_with($sqlite).await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::Db::Postgres(pool) => {
                let mut $tx = pool.begin_with($postgres).await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Moves the live subtree at `$target` (a node id string) to the trash inside the transaction
/// `$tx`, remembering `$path` (the folder it lived in): rows marked.
macro_rules! trash_in_tx {
    ($tx:ident, $target:expr, $now:expr, $path:expr) => {{
        // The drive's tree lock first, as every tree change takes it: the folder tags' triggers
        // read the ancestors, which a concurrent move must not change under them.
        sqlx::query(
            "UPDATE users SET quota_used = quota_used WHERE id = (SELECT owner_id FROM nodes WHERE id = $1)",
        )
        .bind($target)
        .execute(&mut *$tx)
        .await?;
        let done = sqlx::query(
            "WITH RECURSIVE sub(node_id) AS (SELECT id FROM nodes WHERE id = $1 \
             AND trashed_at IS NULL UNION ALL SELECT n.id FROM nodes n JOIN sub \
             ON n.parent_id = sub.node_id WHERE n.trashed_at IS NULL) \
             UPDATE nodes SET trashed_at = $2, trash_id = $1 \
             WHERE id IN (SELECT node_id FROM sub)",
        )
        .bind($target)
        .bind($crate::row::ms($now))
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if done > 0 {
            sqlx::query("UPDATE nodes SET trash_path = $2 WHERE id = $1")
                .bind($target)
                .bind($path)
                .execute(&mut *$tx)
                .await?;
        }
        done
    }};
}

/// The connection pool: how many connections at most (0: the engine's default, PostgreSQL
/// 16 and SQLite 8) and how long a request waits for one.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub size: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { size: 0, acquire_timeout: Duration::from_secs(5) }
    }
}

mod accounts;
mod billing;
mod bulk;
mod cluster;
mod content;
mod dav;
mod error;
mod jobs;
mod links;
mod nodes;
mod numbers;
mod row;
mod schema;
mod search;
mod seed;
mod shares;
mod stats;
mod tags;
mod thumbnails;
mod tokens;
mod trash;
mod tus;
mod uploads;
mod users;
mod volumes;

impl Db {
    /// Connects to `url` (`sqlite:…` or `postgres://…`) and brings the schema up to date.
    /// Opens (and migrates) the database at `url` with the default pool.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PoolSettings::default()).await
    }

    /// Opens (and migrates) the database at `url`. A request that finds every connection
    /// busy for `pool.acquire_timeout` fails with [`MetaError::Unavailable`] (the service
    /// answers 503), never hangs.
    pub async fn connect_with(url: &str, pool: PoolSettings) -> Result<Self> {
        let db = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(if pool.size == 0 { 16 } else { pool.size })
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(options)
                .await?;
            Self::Postgres(pool)
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before it is acknowledged (WAL fsync per commit).
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(if pool.size == 0 { 8 } else { pool.size })
                // SQLite's writers queue for their turn (`Sqlite::queue`), not on the pool.
                .acquire_timeout(pool.acquire_timeout.max(Duration::from_secs(30)))
                .connect_with(options)
                .await?;
            Self::Sqlite(Sqlite { pool, writer: Default::default() })
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<()> {
        match self {
            Self::Sqlite(db) => sqlx::migrate!("../../migrations/sqlite").run(&db.pool).await?,
            Self::Postgres(pool) => sqlx::migrate!("../../migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Which engine this is, for logs and `/ready`.
    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        on_db!(self, |pool| pool.close().await)
    }
}
