//! Stratus service layer: every use case of the drive, and every authorisation decision.
//!
//! Adapters (HTTP, WebDAV, jobs) hold a [`Stratus`] and call its methods with the
//! authenticated [`Caller`]; they never touch the metadata or block stores directly. Each
//! method checks that the caller may act on what it names — an item the caller cannot see
//! answers [`ServiceError::NotFound`], exactly as one that does not exist.

mod access;
mod accounts;
mod admin;
mod batch;
mod billing;
mod checksum;
mod chunks;
mod dav;
mod error;
mod files;
mod fsck;
mod gc;
mod group;
mod hashing;
mod jobs;
mod links;
mod login_flow;
mod mail;
mod markdown;
mod oidc;
mod profile;
mod recovery;
mod security;
mod sessions;
mod shares;
mod stats;
mod storage;
mod thumbs;
mod trash;
mod tree;
mod tus;
mod zip;

use std::sync::Arc;

use chrono::Duration;
use stratus_blob::BlockStore;
use stratus_core::{Clock, DEFAULT_QUOTA_BYTES};
use stratus_meta::Db;

pub use accounts::{Caller, NewAppToken, Registration, Session};
pub use admin::UserUpdate;
pub use batch::{Batch, MAX_BATCH_FILES};
pub use billing::{BillingOverview, BillingSettings, Checkout, Plans};
pub use checksum::DeclaredSha1;
pub use chunks::ChunkTarget;
pub use dav::{DavLock, DavTarget, MAX_LOCK_SECS, Props, SHARED, shared_folder};
pub use error::{Result, ServiceError};
pub use files::{Conditions, Download, UploadTarget, Uploaded};
pub use fsck::{FsckFindings, FsckReport};
pub use gc::Collected;
pub use jobs::{Job, JobStatus};
pub use links::{LinkOptions, LinkVisit, MAX_URL_SECONDS};
pub use login_flow::{GrantedLogin, LoginFlow};
pub use mail::Mailer;
pub use markdown::{Block, MAX_MARKDOWN, Rendered, TAGS, is_markdown};
pub use oidc::{OidcLogin, OidcSettings};
pub use security::{Limits, Who};
pub use sessions::{NewUpload, SessionState};
pub use storage::StorageOverview;
pub use stratus_blob::{RepairReport, ScrubReport, VolumeStatus};
pub use stratus_meta::ClusterNode;
pub use stratus_meta::{AuditFilter, UserFilter};
pub use thumbs::{THUMBNAIL_SIZES, Thumbnail};
pub use tree::{ListQuery, MAX_SEARCH_HITS, NodeUpdate, Page, SearchHit, SearchPage};
pub use tus::{TusChecksum, TusCreate, TusState};
pub use zip::ZipStream;

/// What `/ready` reports: each part's problem, if it has one.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub database: Option<String>,
    pub storage: Option<String>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.database.is_none() && self.storage.is_none()
    }
}

/// A readiness check's problem, if it has one or takes longer than 1.5 s.
async fn problem_within(check: impl std::future::Future<Output = Result<()>>) -> Option<String> {
    match tokio::time::timeout(std::time::Duration::from_millis(1500), check).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(_) => Some("no answer within 1.5 s".to_string()),
    }
}

/// Tunables of the service, from the server's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Quota of a new account, in bytes.
    pub default_quota: u64,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// After how long an upload's quota reservation is released if the upload never ended.
    pub reservation_ttl: Duration,
    /// How long an upload may send nothing before it is abandoned (slow-loris bodies).
    pub body_idle_timeout: std::time::Duration,
    /// How long deleted items stay restorable.
    pub trash_retention: Duration,
    /// Versions kept per file at most (the current one included).
    pub versions_kept: u32,
    /// Older versions than this are dropped (never the current one).
    pub version_max_age: Duration,
    /// How long an unreferenced block stays before the GC deletes it.
    pub gc_grace: std::time::Duration,
    /// This process's name in job leases, run records and the cluster's heartbeats.
    pub node_name: String,
    /// How long a node may miss its heartbeat before the others count it dead and give back
    /// the quota its uploads in flight held.
    pub node_timeout: Duration,
    /// Which pool each plan tier's new blocks go to.
    pub tiers: Vec<stratus_core::Tier>,
    /// Bytes a second the scrub reads at most (`None`: as fast as it can).
    pub scrub_rate: Option<u64>,
    /// The address users reach this server at, for links in mails and redirects (by default
    /// `http://` + the listening address).
    pub public_url: Option<String>,
    /// Whether an unverified email keeps its owner from logging in (else they are reminded).
    pub require_email_verification: bool,
    /// Whether the client address is the last `X-Forwarded-For` entry (behind a proxy)
    /// rather than the connection's peer.
    pub trust_proxy: bool,
    /// The bearer token that may read `/metrics` besides administrators' (`None`: admins only).
    pub metrics_token: Option<String>,
    pub limits: Limits,
    pub mailer: Mailer,
    pub oidc: Option<OidcSettings>,
    pub billing: BillingSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_quota: DEFAULT_QUOTA_BYTES,
            session_ttl: Duration::days(30),
            reservation_ttl: Duration::hours(24),
            body_idle_timeout: std::time::Duration::from_secs(60),
            trash_retention: Duration::days(30),
            versions_kept: 20,
            version_max_age: Duration::days(90),
            gc_grace: std::time::Duration::from_secs(3600),
            node_name: format!("stratus-{}", uuid::Uuid::now_v7().simple()),
            node_timeout: Duration::minutes(2),
            tiers: stratus_core::default_tiers(),
            scrub_rate: Some(64 << 20),
            public_url: None,
            require_email_verification: false,
            trust_proxy: false,
            metrics_token: None,
            limits: Limits::default(),
            mailer: Mailer::outbox(std::env::temp_dir().join("stratus-outbox")),
            oidc: None,
            billing: BillingSettings::default(),
        }
    }
}

/// Recent Basic logins: the caller, until when, and the password hash it was checked against.
type BasicCache = std::collections::HashMap<[u8; 32], (Caller, std::time::Instant, String)>;

/// The drive: a cheap handle to the metadata store, the block store, the clock and settings.
#[derive(Clone)]
pub struct Stratus(Arc<Inner>);

struct Inner {
    db: Db,
    blocks: BlockStore,
    clock: Arc<dyn Clock>,
    settings: Settings,
    /// The key signing download URLs, loaded from the database on first use.
    url_key: tokio::sync::OnceCell<Vec<u8>>,
    counters: Counters,
    /// Volumes already warned about for being nearly full.
    warned_full: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The client for Paystack and the identity provider, built on first use.
    http: std::sync::OnceLock<reqwest::Client>,
    /// The listening address's URL, when no public URL is configured.
    local_url: std::sync::OnceLock<String>,
    /// The identity provider's discovery document and keys, fetched on first use.
    oidc: oidc::Provider,
    /// Recent successful Basic logins (see `authenticate_basic_cached`).
    basic_cache: std::sync::Mutex<BasicCache>,
    /// Where passwords are hashed.
    hashing: hashing::Hashing,
    /// Finished uploads waiting for a group commit.
    commits: group::Commits,
    thumbnail_makers: thumbs::Makers,
}

/// What this process received, for `/metrics` (and tests proving what crossed the network).
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes of blocks sent to upload sessions.
    pub block_bytes: std::sync::atomic::AtomicU64,
    /// Bytes of streamed uploads (multipart, PUT, tus).
    pub upload_bytes: std::sync::atomic::AtomicU64,
    /// Files committed.
    pub files_committed: std::sync::atomic::AtomicU64,
    /// Transactions that committed streamed uploads (fewer than their files when uploads
    /// finishing together share one: group commit).
    pub upload_commits: std::sync::atomic::AtomicU64,
}

impl Stratus {
    pub fn new(db: Db, blocks: BlockStore, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        let settings_hash_queue = settings.limits.hash_queue;
        Self(Arc::new(Inner {
            db,
            blocks,
            clock,
            settings,
            url_key: tokio::sync::OnceCell::new(),
            counters: Counters::default(),
            warned_full: std::sync::Mutex::default(),
            basic_cache: std::sync::Mutex::default(),
            local_url: std::sync::OnceLock::new(),
            http: std::sync::OnceLock::new(),
            oidc: oidc::Provider::default(),
            hashing: hashing::Hashing::new(settings_hash_queue),
            commits: group::Commits::default(),
            thumbnail_makers: thumbs::Makers::default(),
        }))
    }

    fn db(&self) -> &Db {
        &self.0.db
    }

    fn blocks(&self) -> &BlockStore {
        &self.0.blocks
    }

    /// The clock's time at the database's resolution (milliseconds), so a value handed to a
    /// client equals the value stored.
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let now = self.0.clock.now();
        chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }

    /// Tells the service the address it listens on (the default public URL).
    pub fn set_local_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.0.local_url.set(format!("http://{addr}"));
    }

    /// The URL users reach this server at, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.0.settings.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => self.0.local_url.get().cloned().unwrap_or_else(|| "http://127.0.0.1:8080".into()),
        }
    }

    /// Whether `bearer` may read the metrics (volume names, capacity, traffic): the configured
    /// scrape token, or an administrator's token.
    pub async fn may_read_metrics(&self, bearer: Option<&str>) -> Result<()> {
        let bearer = bearer.ok_or(ServiceError::Unauthenticated)?;
        if let Some(token) = &self.0.settings.metrics_token {
            // Digests compared, so the time taken says nothing about the token.
            if accounts::digest(token) == accounts::digest(bearer) {
                return Ok(());
            }
        }
        let caller = self.authenticate_token(bearer).await?;
        self.require_admin(&caller).await
    }

    /// How long a request body may send nothing before it is abandoned.
    pub fn body_idle_timeout(&self) -> std::time::Duration {
        self.0.settings.body_idle_timeout
    }

    pub fn trust_proxy(&self) -> bool {
        self.0.settings.trust_proxy
    }

    pub fn counters(&self) -> &Counters {
        &self.0.counters
    }

    pub fn node_name(&self) -> &str {
        &self.0.settings.node_name
    }

    /// Records this node's heartbeat, gives back the reservations of nodes that stopped
    /// beating (they died mid-upload) and folds the pending usage deltas into the counters.
    /// Returns how many reservations went.
    pub async fn heartbeat(&self) -> Result<u64> {
        let now = self.now();
        self.db().heartbeat(self.node_name(), now).await?;
        let released = self
            .db()
            .release_dead_reservations(now - self.0.settings.node_timeout, now - Duration::days(1))
            .await?;
        if released > 0 {
            tracing::warn!(released, "gave back the quota reservations of a node that stopped");
        }
        // The usage deltas appended since (PostgreSQL), into the counters.
        self.db().fold_usage().await?;
        // And the folder tags' pending deltas (PostgreSQL), into the folders.
        self.db().fold_tree_tags().await?;
        Ok(released)
    }

    /// The nodes whose heartbeat is current (administrators only).
    pub async fn cluster_nodes_for(&self, caller: &Caller) -> Result<Vec<ClusterNode>> {
        self.require_admin(caller).await?;
        Ok(self.db().cluster_nodes(self.now() - self.0.settings.node_timeout).await?)
    }

    /// Whether the database answers and the block storage takes writes, each asked at once
    /// and given at most 1.5 s: a hanging S3 or database makes the answer "unavailable", not
    /// late.
    pub async fn readiness(&self) -> Readiness {
        let database = problem_within(async { Ok(self.db().ping().await?) });
        let storage = problem_within(async { Ok(self.blocks().check().await?) });
        let (database, storage) = tokio::join!(database, storage);
        Readiness { database, storage }
    }

    /// Number of block files on the volume (for tests and administration).
    pub async fn stored_block_files(&self) -> Result<u64> {
        Ok(self.blocks().count_blocks().await?)
    }

    /// Distinct referenced blocks and their bytes (for tests and administration).
    pub async fn referenced_blocks(&self) -> Result<(u64, u64)> {
        Ok(self.db().block_totals().await?)
    }

    /// Fails fast when `bytes` more would not fit the caller's quota (the atomic guard is the
    /// reservation an upload takes; this only spares reading a body that cannot fit).
    pub async fn ensure_room(&self, caller: &Caller, bytes: u64) -> Result<()> {
        let quota = self.db().user(caller.user()).await?.quota;
        if quota.used.saturating_add(bytes) > quota.limit {
            return Err(ServiceError::QuotaExceeded);
        }
        Ok(())
    }

    /// Releases the quota of uploads that died without ending (their process was killed).
    pub async fn expire_reservations(&self) -> Result<u64> {
        Ok(self.db().expire_reservations(self.now()).await?)
    }
}
