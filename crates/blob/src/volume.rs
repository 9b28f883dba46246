//! One volume behind one interface, whatever holds it: a local directory (its blocking calls
//! run on blocking threads) or an S3 bucket.

use std::{path::Path, sync::Arc, time::SystemTime};

use bytes::Bytes;
use stratus_core::BlockHash;

use crate::{
    BlobError, Result,
    local::{LocalVolume, Space},
    s3::{S3Settings, S3Volume},
};

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Local(Arc<LocalVolume>),
    S3(S3Volume),
}

/// Runs a blocking call on a blocking thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
        .map_err(BlobError::from)
}

macro_rules! local_or_s3 {
    ($self:expr, |$local:ident| $on_local:expr, |$s3:ident| $on_s3:expr) => {
        match $self {
            Backend::Local(volume) => {
                let $local = volume.clone();
                blocking(move || $on_local).await
            }
            Backend::S3($s3) => $on_s3,
        }
    };
}

impl Backend {
    /// Opens the volume at `location` (a path, or `s3://bucket/prefix`).
    pub(crate) async fn open(location: &str, id: &str, s3: &S3Settings, create: bool) -> Result<Self> {
        if location.starts_with("s3://") {
            return Ok(Self::S3(S3Volume::open(location, id, s3, create).await?));
        }
        let (root, id) = (Path::new(location).to_path_buf(), id.to_string());
        Ok(Self::Local(Arc::new(blocking(move || LocalVolume::open(&root, &id, create)).await?)))
    }

    pub(crate) async fn present(&self) -> bool {
        match self {
            Backend::Local(volume) => {
                let volume = volume.clone();
                blocking(move || Ok(volume.present())).await.unwrap_or(false)
            }
            Backend::S3(volume) => volume.present().await,
        }
    }

    /// Writes a block whatever is there.
    pub(crate) async fn write(&self, hash: BlockHash, data: Bytes) -> Result<()> {
        local_or_s3!(self, |v| v.write(&hash, &data), |v| v.write(&hash, data).await)
    }

    pub(crate) async fn get(&self, hash: BlockHash) -> Result<Option<Bytes>> {
        local_or_s3!(self, |v| v.get(&hash).map(|d| d.map(Bytes::from)), |v| v.get(&hash).await)
    }

    pub(crate) async fn touch(&self, hash: BlockHash) -> Result<bool> {
        local_or_s3!(self, |v| v.touch(&hash), |v| v.touch(&hash).await)
    }

    pub(crate) async fn list(&self) -> Result<Vec<(BlockHash, SystemTime)>> {
        local_or_s3!(self, |v| v.list(), |v| v.list().await)
    }

    /// The blocks of one shard: those whose hash starts with the byte `shard`.
    pub(crate) async fn list_shard(&self, shard: u8) -> Result<Vec<(BlockHash, SystemTime)>> {
        local_or_s3!(self, |v| v.list_shard(shard), |v| v.list_shard(shard).await)
    }

    /// Whether the volume holds no block (it decides that a drained volume may be removed).
    pub(crate) async fn is_empty(&self) -> Result<bool> {
        local_or_s3!(self, |v| v.is_empty(), |v| v.is_empty().await)
    }

    /// Removes temporary files a crash left behind long ago (nothing for a bucket).
    pub(crate) async fn remove_stale_temp(&self) -> Result<u64> {
        local_or_s3!(self, |v| v.remove_stale_temp(), |_v| Ok(0))
    }

    /// Block files and their bytes.
    pub(crate) async fn usage(&self) -> Result<(u64, u64)> {
        local_or_s3!(self, |v| v.usage(), |v| v.usage().await)
    }

    pub(crate) async fn collect(&self, hash: BlockHash, unused_since: SystemTime) -> Result<bool> {
        local_or_s3!(self, |v| v.collect(&hash, unused_since), |v| v.collect(&hash, unused_since).await)
    }

    pub(crate) async fn remove(&self, hash: BlockHash) -> Result<bool> {
        local_or_s3!(self, |v| v.remove(&hash), |v| v.remove(&hash).await)
    }

    /// Capacity and free space; `None` for a bucket, which has no fixed size.
    pub(crate) async fn space(&self) -> Result<Option<Space>> {
        local_or_s3!(self, |v| v.space().map(Some), |_v| Ok(None))
    }

    pub(crate) async fn check(&self) -> Result<()> {
        local_or_s3!(self, |v| v.check(), |v| v.write_meta(".ready", b"ok").await)
    }

    pub(crate) async fn read_meta(&self, name: &'static str) -> Result<Option<Bytes>> {
        local_or_s3!(self, |v| v.read_meta(name).map(|d| d.map(Bytes::from)), |v| v.read_meta(name).await)
    }

    pub(crate) async fn write_meta(&self, name: &'static str, data: Vec<u8>) -> Result<()> {
        local_or_s3!(self, |v| v.write_meta(name, &data), |v| v.write_meta(name, &data).await)
    }
}
