//! Stratus block store: content-addressed 4 MiB blocks on a local volume.
//!
//! A block lives at `<volume>/<first two hex digits>/<sha256 hex>`. Writes are durable before
//! they are acknowledged: the bytes go to a temporary file in the same directory (in 64 KiB
//! writes, which the page cache takes far faster than one 4 MiB write), the file is fsynced,
//! renamed into place, and the directory is fsynced. Identical blocks are stored once. Every
//! read is verified against the block's hash; a corrupt block is an error, never data.
//!
//! [`BlockWriter`] pipelines an upload: the caller keeps receiving while up to
//! [`IN_FLIGHT_BLOCKS`] blocks are hashed and written on blocking threads, so memory stays
//! bounded (about `(IN_FLIGHT_BLOCKS + 1) × 4 MiB` per upload) and both cores stay busy.
//! This crate knows nothing of users, files or the database.

mod staging;
mod writer;

use std::{
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use bytes::Bytes;
use stratus_core::BlockHash;

pub use staging::{Appender, Staging};
pub use writer::{BlockWriter, IN_FLIGHT_BLOCKS, Written};

/// The size of each `write()` when storing a block.
const WRITE_CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("block {0} is missing")]
    Missing(BlockHash),
    #[error("block {0} is corrupt: its content does not match its hash")]
    Corrupt(BlockHash),
    #[error("the data sent for block {0} has another hash")]
    Mismatch(BlockHash),
    #[error("the volume is full")]
    NoSpace,
    #[error("block store I/O error: {0}")]
    Io(#[source] io::Error),
}

impl From<io::Error> for BlobError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::StorageFull { Self::NoSpace } else { Self::Io(err) }
    }
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;

/// A block store on one local volume (a directory, one per disk).
#[derive(Clone, Debug)]
pub struct BlockStore {
    root: Arc<PathBuf>,
}

impl BlockStore {
    /// Opens (creating if needed) the volume at `root`, with its 256 fan-out directories made
    /// and fsynced up front so that storing a block only ever adds a file. Leftover temporary
    /// files of writes that a crash interrupted are removed.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root: PathBuf = root.into();
        let store = Self { root: Arc::new(root.clone()) };
        tokio::task::spawn_blocking(move || -> Result<()> {
            fs::create_dir_all(&root)?;
            for prefix in 0..=255u8 {
                let dir = root.join(hex::encode([prefix]));
                fs::create_dir_all(&dir)?;
                for entry in fs::read_dir(&dir)? {
                    let path = entry?.path();
                    if path.extension().is_some_and(|e| e == "tmp") {
                        fs::remove_file(path)?;
                    }
                }
            }
            sync_dir(&root)?;
            Ok(())
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))??;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A pipelined writer for one upload of `expected` bytes (if known).
    pub fn writer(&self, expected: Option<u64>) -> BlockWriter {
        BlockWriter::new(self.clone(), expected)
    }

    fn path_of(&self, hash: &BlockHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    /// Stores one block durably (blocking: call from a blocking thread) and returns its hash.
    pub fn put_blocking(&self, data: &[u8]) -> Result<BlockHash> {
        let hash = BlockHash::of(data);
        self.store_hashed(hash, data)?;
        Ok(hash)
    }

    /// Stores a block a client declared as `expected`, after checking that it is.
    pub async fn put_checked(&self, data: Bytes, expected: BlockHash) -> Result<()> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            if BlockHash::of(&data) != expected {
                return Err(BlobError::Mismatch(expected));
            }
            store.store_hashed(expected, &data)
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
    }

    /// Whether the block is stored; a stored one has its age refreshed, so the GC's grace
    /// period restarts for a client about to reference it.
    pub async fn touch(&self, hash: BlockHash) -> Result<bool> {
        let path = self.path_of(&hash);
        tokio::task::spawn_blocking(move || match File::options().write(true).open(&path) {
            Ok(file) => {
                file.set_modified(SystemTime::now())?;
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err.into()),
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
    }

    fn store_hashed(&self, hash: BlockHash, data: &[u8]) -> Result<()> {
        let path = self.path_of(&hash);
        // Already stored: refresh its age, which tells a concurrent GC the block is in use
        // (see `collect`). If the GC took it away meanwhile, write it again.
        match File::options().write(true).open(&path) {
            Ok(file) => {
                file.set_modified(SystemTime::now())?;
                return Ok(());
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err.into()),
        }
        let tmp = path.with_extension(format!("{:016x}.tmp", rand::random::<u64>()));
        let written = (|| -> io::Result<()> {
            let mut file = File::create(&tmp)?;
            for chunk in data.chunks(WRITE_CHUNK) {
                file.write_all(chunk)?;
            }
            file.sync_data()?;
            fs::rename(&tmp, &path)?;
            sync_dir(path.parent().unwrap_or(&self.root))
        })();
        if let Err(err) = written {
            let _ = fs::remove_file(&tmp);
            return Err(err.into());
        }
        Ok(())
    }

    /// Reads one block and verifies it against its hash.
    pub async fn get(&self, hash: BlockHash) -> Result<Bytes> {
        let path = self.path_of(&hash);
        tokio::task::spawn_blocking(move || match fs::read(&path) {
            Ok(data) if BlockHash::of(&data) == hash => Ok(Bytes::from(data)),
            Ok(_) => Err(BlobError::Corrupt(hash)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(BlobError::Missing(hash)),
            Err(err) => Err(err.into()),
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
    }

    /// Every block on the volume with the time it was last written or reused.
    pub async fn list(&self) -> Result<Vec<(BlockHash, SystemTime)>> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<(BlockHash, SystemTime)>> {
            let mut out = Vec::new();
            for prefix in 0..=255u8 {
                for entry in fs::read_dir(root.join(hex::encode([prefix])))? {
                    let entry = entry?;
                    let name = entry.file_name();
                    let Some(hash) = name.to_str().and_then(|n| n.parse::<BlockHash>().ok()) else {
                        continue;
                    };
                    out.push((hash, entry.metadata()?.modified()?));
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
    }

    /// Deletes a block unless it was written or reused after `unused_since`. Safe against a
    /// concurrent upload that dedups onto it: the file is first renamed aside, so a new put
    /// either refreshed its time before (and the block is put back) or finds it gone and
    /// writes it again. Returns whether it was deleted.
    pub async fn collect(&self, hash: BlockHash, unused_since: SystemTime) -> Result<bool> {
        let path = self.path_of(&hash);
        let aside = path.with_extension("gc.tmp");
        tokio::task::spawn_blocking(move || -> Result<bool> {
            match fs::rename(&path, &aside) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
                other => other?,
            }
            if fs::metadata(&aside)?.modified()? > unused_since {
                fs::rename(&aside, &path)?;
                return Ok(false);
            }
            fs::remove_file(&aside)?;
            Ok(true)
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
    }

    /// How many block files the volume holds (for tests and admin figures).
    pub async fn count_blocks(&self) -> Result<u64> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || -> Result<u64> {
            let mut n = 0;
            for prefix in 0..=255u8 {
                for entry in fs::read_dir(root.join(hex::encode([prefix])))? {
                    if entry?.path().extension().is_none() {
                        n += 1;
                    }
                }
            }
            Ok(n)
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
    }

    /// Whether the volume is present and writable, for readiness checks.
    pub async fn check(&self) -> Result<()> {
        let probe = self.root.join(format!(".ready.{:016x}.tmp", rand::random::<u64>()));
        tokio::task::spawn_blocking(move || -> Result<()> {
            fs::write(&probe, b"ok")?;
            fs::remove_file(&probe)?;
            Ok(())
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
