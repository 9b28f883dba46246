//! A volume in an S3-compatible bucket (`s3://bucket/prefix`), through `object_store`.
//! Objects are named like local block files (`<prefix>/<2 hex>/<sha256 hex>`). A PUT that
//! S3 acknowledged is durable, so no fsync dance is needed here.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::{ObjectStore, PutPayload, aws::AmazonS3Builder, path::Path as ObjectPath};
use stratus_core::BlockHash;

use crate::{BlobError, Result, local::MARKER};

/// How to reach the S3 service; one setting for every `s3://` volume.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// e.g. `http://127.0.0.1:9000`; AWS when unset.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct S3Volume {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

/// An S3 failure: the store not answering (transport errors, timeouts, 5xx: what the client
/// reports as `Generic` once its retries are spent) means "try again later"; a refusal
/// (credentials, permissions, a bad request) is the configuration's fault and stays an error.
fn s3_err(err: object_store::Error) -> BlobError {
    match err {
        object_store::Error::Generic { .. } | object_store::Error::JoinError { .. } => {
            BlobError::Unavailable(err.to_string())
        }
        other => BlobError::Io(std::io::Error::other(other)),
    }
}

impl S3Volume {
    /// Connects to `s3://bucket/prefix` and checks (or, when `create`, writes) its marker.
    pub(crate) async fn open(location: &str, id: &str, settings: &S3Settings, create: bool) -> Result<Self> {
        let rest = location.strip_prefix("s3://").ok_or_else(|| bad(location))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad(location));
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(if settings.region.is_empty() { "us-east-1" } else { &settings.region })
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            // An outage must answer fast (503 to clients, `/ready` within its deadline), not
            // after minutes of retries: a short connect timeout, one retry, 10 s in all.
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(30)),
            )
            .with_retry(object_store::RetryConfig {
                max_retries: 1,
                retry_timeout: Duration::from_secs(10),
                ..Default::default()
            });
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let volume = Self {
            store: Arc::new(builder.build().map_err(|e| BlobError::Io(std::io::Error::other(e)))?),
            prefix: prefix.trim_matches('/').to_string(),
        };
        match volume.read_meta(MARKER).await? {
            Some(found) if found == id.as_bytes() => {}
            Some(found) => {
                return Err(BlobError::Io(std::io::Error::other(format!(
                    "{location} holds volume {:?}, not {id:?}",
                    String::from_utf8_lossy(&found)
                ))));
            }
            None if create => volume.write_meta(MARKER, id.as_bytes()).await?,
            None => {
                return Err(BlobError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{location} is not a volume (no {MARKER})"),
                )));
            }
        }
        Ok(volume)
    }

    fn path(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    fn path_of(&self, hash: &BlockHash) -> ObjectPath {
        let hex = hash.to_hex();
        self.path(&format!("{}/{hex}", &hex[..2]))
    }

    pub(crate) async fn present(&self) -> bool {
        self.store.head(&self.path(MARKER)).await.is_ok()
    }

    pub(crate) async fn write(&self, hash: &BlockHash, data: Bytes) -> Result<()> {
        self.store.put(&self.path_of(hash), PutPayload::from(data)).await.map_err(s3_err)?;
        Ok(())
    }

    pub(crate) async fn get(&self, hash: &BlockHash) -> Result<Option<Bytes>> {
        match self.store.get(&self.path_of(hash)).await {
            Ok(found) => Ok(Some(found.bytes().await.map_err(s3_err)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(s3_err(err)),
        }
    }

    /// Whether the block is here. (S3 cannot refresh an object's age in place; see
    /// docs/decisions.md on how the GC stays safe.)
    pub(crate) async fn touch(&self, hash: &BlockHash) -> Result<bool> {
        match self.store.head(&self.path_of(hash)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(s3_err(err)),
        }
    }

    pub(crate) async fn list(&self) -> Result<Vec<(BlockHash, SystemTime)>> {
        let prefix = if self.prefix.is_empty() { None } else { Some(ObjectPath::from(self.prefix.as_str())) };
        self.list_under(prefix.as_ref()).await
    }

    /// The blocks of one shard (the objects under `<prefix>/<2 hex>/`): listed from just after
    /// the key `<prefix>/<2 hex>` (S3's `start-after`), in key order, until the first key past the
    /// shard, so only the shard's pages are fetched. Not a listing prefix `<2 hex>/`: moto's
    /// signature check rejects a `/` in query parameters, and the offset needs none.
    pub(crate) async fn list_shard(&self, shard: u8) -> Result<Vec<(BlockHash, SystemTime)>> {
        let base = if self.prefix.is_empty() { None } else { Some(ObjectPath::from(self.prefix.as_str())) };
        let start = self.path(&hex::encode([shard]));
        let within = format!("{start}/");
        let objects: Vec<_> = self
            .store
            .list_with_offset(base.as_ref(), &start)
            .try_take_while(|o| std::future::ready(Ok(o.location.as_ref().starts_with(&within))))
            .try_collect()
            .await
            .map_err(s3_err)?;
        Ok(Self::blocks_of(objects))
    }

    /// Whether the volume holds no block: a plain listing, stopped at the first block, so it
    /// does not depend on the server honouring `start-after` (it decides whether a drained
    /// volume may be removed).
    pub(crate) async fn is_empty(&self) -> Result<bool> {
        let prefix = if self.prefix.is_empty() { None } else { Some(ObjectPath::from(self.prefix.as_str())) };
        let mut objects = self.store.list(prefix.as_ref());
        while let Some(object) = objects.try_next().await.map_err(s3_err)? {
            if object.location.filename().is_some_and(|n| n.parse::<BlockHash>().is_ok()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn list_under(&self, prefix: Option<&ObjectPath>) -> Result<Vec<(BlockHash, SystemTime)>> {
        let objects: Vec<_> = self.store.list(prefix).try_collect().await.map_err(s3_err)?;
        Ok(Self::blocks_of(objects))
    }

    fn blocks_of(objects: Vec<object_store::ObjectMeta>) -> Vec<(BlockHash, SystemTime)> {
        objects
            .into_iter()
            .filter_map(|o| {
                let hash = o.location.filename()?.parse::<BlockHash>().ok()?;
                Some((hash, SystemTime::from(o.last_modified)))
            })
            .collect()
    }

    pub(crate) async fn usage(&self) -> Result<(u64, u64)> {
        let prefix = if self.prefix.is_empty() { None } else { Some(ObjectPath::from(self.prefix.as_str())) };
        let objects: Vec<_> = self.store.list(prefix.as_ref()).try_collect().await.map_err(s3_err)?;
        let blocks =
            objects.iter().filter(|o| o.location.filename().is_some_and(|n| n.parse::<BlockHash>().is_ok()));
        Ok(blocks.fold((0, 0), |(n, b), o| (n + 1, b + o.size)))
    }

    pub(crate) async fn collect(&self, hash: &BlockHash, unused_since: SystemTime) -> Result<bool> {
        match self.store.head(&self.path_of(hash)).await {
            Ok(meta) if SystemTime::from(meta.last_modified) > unused_since => Ok(false),
            Ok(_) => self.remove(hash).await,
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(s3_err(err)),
        }
    }

    pub(crate) async fn remove(&self, hash: &BlockHash) -> Result<bool> {
        match self.store.delete(&self.path_of(hash)).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(s3_err(err)),
        }
    }

    pub(crate) async fn read_meta(&self, name: &str) -> Result<Option<Bytes>> {
        match self.store.get(&self.path(name)).await {
            Ok(found) => Ok(Some(found.bytes().await.map_err(s3_err)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(s3_err(err)),
        }
    }

    pub(crate) async fn write_meta(&self, name: &str, data: &[u8]) -> Result<()> {
        self.store.put(&self.path(name), PutPayload::from(data.to_vec())).await.map_err(s3_err)?;
        Ok(())
    }
}

fn bad(location: &str) -> BlobError {
    BlobError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{location:?} is not an S3 location (s3://bucket/prefix)"),
    ))
}
