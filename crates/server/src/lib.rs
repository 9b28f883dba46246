//! The Stratus server: configuration and wiring. This is the only crate that picks concrete
//! backends (SQLite or PostgreSQL, local volumes), and the `stratus` binary's library half,
//! so tests and the benchmark start exactly what `stratus serve` starts.

pub mod config;
pub mod jobs;
mod serve;

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use stratus_blob::{BlockStore, S3Settings, StoreConfig};
use stratus_core::{Clock, SystemClock};
use stratus_meta::Db;
use stratus_service::{Settings, Stratus};
use tokio::net::TcpListener;

pub use config::Config;

/// Opens the metadata and block stores named by `config` and builds the service.
pub async fn open(config: &Config) -> anyhow::Result<(Stratus, Db)> {
    open_with_clock(config, Arc::new(SystemClock)).await
}

/// Like [`open`], with the service's clock chosen by the caller (tests move time).
pub async fn open_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<(Stratus, Db)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let pool = stratus_meta::PoolSettings {
        size: config.db_pool_size,
        acquire_timeout: std::time::Duration::from_secs(config.db_acquire_timeout_secs.max(1)),
    };
    let db = Db::connect_with(&config.database_url(), pool).await.context("opening the metadata database")?;
    let storage = &config.storage;
    let blocks = BlockStore::new(StoreConfig {
        replicas: storage.replicas.max(1),
        cipher: config.cipher()?,
        s3: S3Settings {
            endpoint: storage.s3.endpoint.clone(),
            region: storage.s3.region.clone(),
            access_key_id: storage.s3.access_key_id.clone(),
            secret_access_key: storage.s3.secret_access_key.clone(),
        },
        blocks_in_flight: storage.blocks_in_flight,
    });
    let settings = Settings {
        default_quota: config.default_quota,
        session_ttl: chrono::Duration::days(config.session_days),
        body_idle_timeout: std::time::Duration::from_secs(config.body_idle_secs),
        trash_retention: chrono::Duration::days(config.trash_days),
        versions_kept: config.versions_kept.max(1),
        version_max_age: chrono::Duration::days(config.version_days),
        gc_grace: std::time::Duration::from_secs(config.gc_grace_secs),
        tiers: storage.tiers.clone(),
        scrub_rate: Some(storage.scrub_rate).filter(|r| *r > 0),
        public_url: config.public_url.clone(),
        require_email_verification: config.require_email_verification,
        trust_proxy: config.trust_proxy,
        node_timeout: chrono::Duration::seconds(
            config.node_timeout_secs.max(2 * config.heartbeat_secs.max(1)) as i64,
        ),
        metrics_token: config.metrics_token.clone(),
        limits: config.limits.clone(),
        mailer: config.mailer()?,
        oidc: config.oidc(),
        billing: config.billing(),
        ..Settings::default()
    };
    let stratus = Stratus::new(db.clone(), blocks, clock, settings);
    stratus.sync_volumes().await.map_err(|e| anyhow::anyhow!("{e}")).context("opening the block volumes")?;
    Ok((stratus, db))
}

/// A server bound to its port and ready to run.
pub struct Application {
    listener: TcpListener,
    stratus: Stratus,
    db: Db,
    refresh: std::time::Duration,
    heartbeat: std::time::Duration,
    header_timeout: std::time::Duration,
    max_connections: usize,
}

impl Application {
    /// Opens the stores and binds the listener (port 0 picks a free port).
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`build`](Self::build), with the clock chosen by the caller (tests move time).
    pub async fn build_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let (stratus, db) = open_with_clock(config, clock).await?;
        // Only the server registers the configured volumes: an admin command run with an
        // older config must not bring back a volume that was removed.
        let configured: Vec<_> =
            config.storage.volumes.iter().map(|v| (v.pool.clone(), v.location.clone())).collect();
        let default = ("A".to_string(), config.blocks_dir().to_string_lossy().into_owned());
        stratus
            .register_configured(&configured, default)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("registering the configured volumes")?;
        // Idempotent, and safe from every node at once: the first to start schedules the jobs.
        stratus.schedule_jobs().await.map_err(|e| anyhow::anyhow!("{e}")).context("scheduling the jobs")?;
        stratus.heartbeat().await.map_err(|e| anyhow::anyhow!("{e}")).context("joining the cluster")?;
        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        stratus.set_local_addr(listener.local_addr()?);
        Ok(Self {
            listener,
            stratus,
            db,
            refresh: std::time::Duration::from_secs(config.storage.refresh_secs.max(1)),
            heartbeat: std::time::Duration::from_secs(config.heartbeat_secs.max(1)),
            header_timeout: std::time::Duration::from_secs(config.header_timeout_secs.max(1)),
            max_connections: match config.max_connections {
                0 => serve::default_max_connections(),
                n => n,
            },
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn stratus(&self) -> &Stratus {
        &self.stratus
    }

    /// Serves, with the background jobs running, until `shutdown` resolves; then lets
    /// requests in flight and job runs under way finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        if let Err(err) = self.stratus.expire_reservations().await {
            tracing::warn!(error = %err, "could not release expired upload reservations");
        }
        let (stop_jobs, jobs_stop) = tokio::sync::watch::channel(false);
        let mut jobs = jobs::spawn(self.stratus.clone(), self.refresh, self.heartbeat, jobs_stop);
        let app = stratus_http::router(self.stratus);
        let served = serve::serve(
            self.listener,
            app,
            self.header_timeout,
            self.max_connections,
            stratus_http::SHUTDOWN_GRACE,
            shutdown,
        )
        .await;
        let _ = stop_jobs.send(true);
        while jobs.join_next().await.is_some() {}
        self.db.close().await;
        Ok(served?)
    }
}
