//! Configuration: defaults, then a TOML file (`--config`), then `STRATUS_*` environment
//! variables. A secret may also come from a file named by `STRATUS_<NAME>_FILE`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::Deserialize;
use stratus_core::DEFAULT_QUOTA_BYTES;

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Where the SQLite database and the block volume live (`./stratus-data`).
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; by default a SQLite file in the data dir.
    pub database_url: Option<String>,
    /// Quota of a new account, in bytes (1 GiB).
    pub default_quota: u64,
    /// Days a login session lasts (30).
    pub session_days: i64,
    /// `text` (default) or `json` logs.
    pub log_format: String,
    /// Seconds an upload may send nothing before it is abandoned (60).
    pub body_idle_secs: u64,
    /// Seconds a client has to send a request's headers, and that an idle keep-alive
    /// connection stays open (20).
    pub header_timeout_secs: u64,
    /// Connections served at once; more are answered 503 and closed. 0: derived from the
    /// process's open-file limit.
    pub max_connections: usize,
    /// Seconds between this node's heartbeats, which are also when it looks for due jobs (5).
    pub heartbeat_secs: u64,
    /// Seconds without a heartbeat after which the other nodes count a node dead and give
    /// back the quota its uploads in flight held (120).
    pub node_timeout_secs: u64,
    /// Connections to the database this node keeps at most (PostgreSQL 16, SQLite 8). Across
    /// nodes, keep the sum under PostgreSQL's `max_connections` (100 by default).
    pub db_pool_size: u32,
    /// Seconds a request waits for a free database connection before it is answered 503 (5).
    pub db_acquire_timeout_secs: u64,
    /// Days deleted items stay in the trash (30).
    pub trash_days: i64,
    /// Versions kept per file at most, the current one included (20).
    pub versions_kept: u32,
    /// Days an older version is kept at most (90).
    pub version_days: i64,
    /// Seconds an unreferenced block waits before the GC deletes it (3600).
    pub gc_grace_secs: u64,
    /// Volumes, pools, replication and encryption (`[storage]`).
    pub storage: StorageConfig,
    /// The URL users reach the server at, for mailed links and redirects (by default
    /// `http://` + the listening address). An `https` URL also marks cookies `Secure`.
    pub public_url: Option<String>,
    /// Behind a reverse proxy: take the client address from `X-Forwarded-For`.
    pub trust_proxy: bool,
    /// The bearer token Prometheus scrapes `/metrics` with; without one, only administrators'
    /// tokens may read it.
    pub metrics_token: Option<String>,
    /// Whether an unverified email keeps its owner from logging in (false: they are reminded).
    pub require_email_verification: bool,
    /// Rate limits on login, registration and password reset (`[limits]`).
    pub limits: stratus_service::Limits,
    /// Outgoing mail (`[mail]`).
    pub mail: MailConfig,
    /// OpenID Connect login (`[oidc]`), off unless an issuer is set.
    pub oidc: OidcConfig,
    /// Plans and Paystack (`[billing]`), payments off unless a secret key is set.
    pub billing: BillingConfig,
}

/// `[mail]`: without an SMTP URL, mail goes to `<data_dir>/outbox` and the log.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `smtp://host:port`, `smtp://user:pass@host?tls=required` or `smtps://user:pass@host`.
    pub smtp_url: Option<String>,
    pub from: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self { smtp_url: None, from: "Stratus <stratus@localhost>".into() }
    }
}

#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// `https://accounts.google.com`, or any OpenID Connect issuer.
    pub issuer: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    /// The login button's label ("Google" by default).
    pub name: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    pub paystack_secret_key: Option<String>,
    /// `https://api.paystack.co`.
    pub paystack_base_url: String,
    pub currency: String,
    /// The price of 1 GB for a month in the currency's smallest unit (10000 kobo = ₦100).
    pub price_per_gb_month: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        let d = stratus_service::BillingSettings::default();
        Self {
            paystack_secret_key: None,
            paystack_base_url: d.paystack_base_url,
            currency: d.currency,
            price_per_gb_month: d.price_per_gb_month,
        }
    }
}

/// `[storage]`: where blocks live.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Copies of each block on distinct volumes of its pool (2; fewer when a pool is smaller).
    pub replicas: usize,
    /// Volumes registered at start (more can be added at runtime with `stratus admin volume
    /// add`). None configured and none registered: one volume, pool `A`, in the data dir.
    pub volumes: Vec<VolumeConfig>,
    /// Which pool each plan's blocks go to, by quota (free → A, 10 GB → B, 25 → C, 50 → D,
    /// 75 → E). A tier whose pool has no volume uses the first volume's pool.
    pub tiers: Vec<stratus_core::Tier>,
    /// Bytes a second the scrub job reads at most (64 MiB); 0 for no limit.
    pub scrub_rate: u64,
    /// Encryption at rest: a 32-byte key as 64 hex digits, or a file holding it.
    pub encryption_key: Option<String>,
    pub encryption_key_file: Option<PathBuf>,
    /// How every `s3://bucket/prefix` volume is reached.
    pub s3: S3Config,
    /// Seconds between re-reads of the volume registry (new volumes, dead disks) (5).
    pub refresh_secs: u64,
    /// 4 MiB blocks that all uploads together may have in flight while they read on (two
    /// per core, at least four); with 0, each upload stores a block before reading more.
    pub blocks_in_flight: Option<usize>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    pub pool: String,
    /// A directory (one per disk) or `s3://bucket/prefix`.
    pub location: String,
}

#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            replicas: 2,
            volumes: Vec::new(),
            tiers: stratus_core::default_tiers(),
            scrub_rate: 64 << 20,
            encryption_key: None,
            encryption_key_file: None,
            s3: S3Config::default(),
            refresh_secs: 5,
            blocks_in_flight: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./stratus-data"),
            database_url: None,
            default_quota: DEFAULT_QUOTA_BYTES,
            session_days: 30,
            log_format: "text".into(),
            body_idle_secs: 60,
            header_timeout_secs: 20,
            max_connections: 0,
            heartbeat_secs: 5,
            node_timeout_secs: 120,
            db_pool_size: 0,
            db_acquire_timeout_secs: 5,
            trash_days: 30,
            versions_kept: 20,
            version_days: 90,
            gc_grace_secs: 3600,
            storage: StorageConfig::default(),
            public_url: None,
            trust_proxy: false,
            metrics_token: None,
            require_email_verification: false,
            limits: stratus_service::Limits::default(),
            mail: MailConfig::default(),
            oidc: OidcConfig::default(),
            billing: BillingConfig::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    /// The database URL may hold a password: it never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database_url.as_ref().map(|_| "<set>"))
            .field("default_quota", &self.default_quota)
            .field("session_days", &self.session_days)
            .finish()
    }
}

impl Config {
    /// Defaults ← `file` ← the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let secret = |name: &str| -> anyhow::Result<Option<String>> {
            if let Some(path) = var(&format!("{name}_FILE")) {
                let value = std::fs::read_to_string(&path).with_context(|| format!("reading {name}_FILE"))?;
                return Ok(Some(value.trim().to_string()));
            }
            Ok(var(name))
        };
        if let Some(v) = var("STRATUS_LISTEN") {
            self.listen = v.parse().context("STRATUS_LISTEN must be an address such as 127.0.0.1:8080")?;
        }
        if let Some(v) = var("STRATUS_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = secret("STRATUS_DATABASE_URL")? {
            self.database_url = Some(v);
        }
        if let Some(v) = var("STRATUS_DEFAULT_QUOTA") {
            self.default_quota = v.parse().context("STRATUS_DEFAULT_QUOTA is a number of bytes")?;
        }
        if let Some(v) = var("STRATUS_SESSION_DAYS") {
            self.session_days = v.parse().context("STRATUS_SESSION_DAYS is a number of days")?;
        }
        if let Some(v) = var("STRATUS_BODY_IDLE_SECS") {
            self.body_idle_secs = v.parse().context("STRATUS_BODY_IDLE_SECS is a number of seconds")?;
        }
        if let Some(v) = var("STRATUS_HEADER_TIMEOUT_SECS") {
            self.header_timeout_secs =
                v.parse().context("STRATUS_HEADER_TIMEOUT_SECS is a number of seconds")?;
        }
        if let Some(v) = var("STRATUS_MAX_CONNECTIONS") {
            self.max_connections = v.parse().context("STRATUS_MAX_CONNECTIONS is a number")?;
        }
        let number = |name: &str| -> anyhow::Result<Option<i64>> {
            var(name).map(|v| v.parse().with_context(|| format!("{name} is a whole number"))).transpose()
        };
        let count = |name: &str| -> anyhow::Result<Option<u64>> {
            var(name).map(|v| v.parse().with_context(|| format!("{name} is 0 or more"))).transpose()
        };
        if let Some(v) = count("STRATUS_HEARTBEAT_SECS")? {
            self.heartbeat_secs = v;
        }
        if let Some(v) = count("STRATUS_NODE_TIMEOUT_SECS")? {
            self.node_timeout_secs = v;
        }
        if let Some(v) = count("STRATUS_DB_POOL_SIZE")? {
            self.db_pool_size =
                u32::try_from(v).context("STRATUS_DB_POOL_SIZE is a number of connections")?;
        }
        if let Some(v) = count("STRATUS_DB_ACQUIRE_TIMEOUT_SECS")? {
            self.db_acquire_timeout_secs = v;
        }
        if let Some(v) = number("STRATUS_TRASH_DAYS")? {
            self.trash_days = v;
        }
        if let Some(v) = number("STRATUS_VERSIONS_KEPT")? {
            self.versions_kept = u32::try_from(v).context("STRATUS_VERSIONS_KEPT is 1 or more")?;
        }
        if let Some(v) = number("STRATUS_VERSION_DAYS")? {
            self.version_days = v;
        }
        if let Some(v) = number("STRATUS_GC_GRACE_SECS")? {
            self.gc_grace_secs = u64::try_from(v).context("STRATUS_GC_GRACE_SECS is 0 or more")?;
        }
        if let Some(v) = var("STRATUS_LOG_FORMAT") {
            self.log_format = v;
        }
        let flag = |name: &str| -> anyhow::Result<Option<bool>> {
            var(name).map(|v| v.parse().with_context(|| format!("{name} is true or false"))).transpose()
        };
        if let Some(v) = var("STRATUS_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = flag("STRATUS_TRUST_PROXY")? {
            self.trust_proxy = v;
        }
        if let Some(v) = flag("STRATUS_REQUIRE_EMAIL_VERIFICATION")? {
            self.require_email_verification = v;
        }
        if let Some(v) = secret("STRATUS_METRICS_TOKEN")? {
            self.metrics_token = Some(v);
        }
        if let Some(v) = secret("STRATUS_SMTP_URL")? {
            self.mail.smtp_url = Some(v);
        }
        if let Some(v) = var("STRATUS_MAIL_FROM") {
            self.mail.from = v;
        }
        if let Some(v) = var("STRATUS_OIDC_ISSUER") {
            self.oidc.issuer = Some(v);
        }
        if let Some(v) = var("STRATUS_OIDC_CLIENT_ID") {
            self.oidc.client_id = v;
        }
        if let Some(v) = secret("STRATUS_OIDC_CLIENT_SECRET")? {
            self.oidc.client_secret = v;
        }
        if let Some(v) = var("STRATUS_OIDC_NAME") {
            self.oidc.name = Some(v);
        }
        if let Some(v) = secret("STRATUS_PAYSTACK_SECRET_KEY")? {
            self.billing.paystack_secret_key = Some(v);
        }
        if let Some(v) = var("STRATUS_PAYSTACK_BASE_URL") {
            self.billing.paystack_base_url = v;
        }
        if let Some(v) = var("STRATUS_CURRENCY") {
            self.billing.currency = v;
        }
        if let Some(v) = number("STRATUS_PRICE_PER_GB_MONTH")? {
            self.billing.price_per_gb_month =
                u64::try_from(v).context("STRATUS_PRICE_PER_GB_MONTH is 0 or more")?;
        }
        self.apply_storage_env(&var, &secret)
    }

    fn apply_storage_env(
        &mut self,
        var: &impl Fn(&str) -> Option<String>,
        secret: &impl Fn(&str) -> anyhow::Result<Option<String>>,
    ) -> anyhow::Result<()> {
        let storage = &mut self.storage;
        if let Some(v) = var("STRATUS_REPLICAS") {
            storage.replicas = v.parse().context("STRATUS_REPLICAS is a whole number")?;
        }
        if let Some(v) = var("STRATUS_BLOCKS_IN_FLIGHT") {
            storage.blocks_in_flight = Some(v.parse().context("STRATUS_BLOCKS_IN_FLIGHT is a whole number")?);
        }
        if let Some(v) = var("STRATUS_VOLUMES") {
            // `A=/disk1,A=/disk2,B=s3://bucket/prefix`
            storage.volumes = v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|entry| {
                    let (pool, location) = entry
                        .split_once('=')
                        .context("STRATUS_VOLUMES is a list of POOL=LOCATION, comma-separated")?;
                    Ok(VolumeConfig { pool: pool.trim().into(), location: location.trim().into() })
                })
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(v) = var("STRATUS_SCRUB_RATE") {
            storage.scrub_rate = v.parse().context("STRATUS_SCRUB_RATE is bytes a second")?;
        }
        if let Some(v) = secret("STRATUS_ENCRYPTION_KEY")? {
            storage.encryption_key = Some(v);
        }
        if let Some(v) = var("STRATUS_S3_ENDPOINT") {
            storage.s3.endpoint = Some(v);
        }
        if let Some(v) = var("STRATUS_S3_REGION") {
            storage.s3.region = v;
        }
        if let Some(v) = var("STRATUS_S3_ACCESS_KEY_ID") {
            storage.s3.access_key_id = v;
        }
        if let Some(v) = secret("STRATUS_S3_SECRET_ACCESS_KEY")? {
            storage.s3.secret_access_key = v;
        }
        Ok(())
    }

    /// The metadata database to open.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("stratus.db").display()),
        }
    }

    /// Where mail goes: the SMTP relay, or the outbox folder in the data dir.
    pub fn mailer(&self) -> anyhow::Result<stratus_service::Mailer> {
        let mailer = match &self.mail.smtp_url {
            Some(url) => stratus_service::Mailer::smtp(url, &self.mail.from),
            None => stratus_service::Mailer::outbox(self.data_dir.join("outbox")).with_from(&self.mail.from),
        };
        mailer.map_err(|e| anyhow::anyhow!("{e}")).context("configuring mail")
    }

    pub fn oidc(&self) -> Option<stratus_service::OidcSettings> {
        let issuer = self.oidc.issuer.clone().filter(|i| !i.trim().is_empty())?;
        Some(stratus_service::OidcSettings {
            issuer,
            client_id: self.oidc.client_id.clone(),
            client_secret: self.oidc.client_secret.clone(),
            name: self.oidc.name.clone().unwrap_or_else(|| "Google".into()),
        })
    }

    pub fn billing(&self) -> stratus_service::BillingSettings {
        let b = &self.billing;
        stratus_service::BillingSettings {
            paystack_secret_key: b.paystack_secret_key.clone().filter(|k| !k.trim().is_empty()),
            paystack_base_url: b.paystack_base_url.clone(),
            currency: b.currency.clone(),
            price_per_gb_month: b.price_per_gb_month,
        }
    }

    pub fn blocks_dir(&self) -> PathBuf {
        self.data_dir.join("blocks")
    }

    /// The encryption key, if one is configured (inline or in a file).
    pub fn cipher(&self) -> anyhow::Result<Option<stratus_blob::Cipher>> {
        let key = match (&self.storage.encryption_key, &self.storage.encryption_key_file) {
            (Some(key), _) => key.as_bytes().to_vec(),
            (None, Some(path)) => std::fs::read(path)
                .with_context(|| format!("reading the encryption key file {}", path.display()))?,
            (None, None) => return Ok(None),
        };
        stratus_blob::Cipher::from_key(&key)
            .map(Some)
            .context("the encryption key must be 32 bytes, written as 64 hex digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let mut config = Config::default();
        let env = |name: &str| match name {
            "STRATUS_LISTEN" => Some("0.0.0.0:9000".to_string()),
            "STRATUS_DEFAULT_QUOTA" => Some("42".to_string()),
            _ => None,
        };
        assert!(config.apply_env(env).is_ok());
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.default_quota, 42);
        assert!(config.database_url().starts_with("sqlite://"));
        assert!(!format!("{config:?}").contains("sqlite"));
    }
}
