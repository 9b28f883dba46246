//! Staging files for resumable (tus) uploads: bytes appended as they arrive, made durable
//! before an offset is acknowledged, cut back when a chunk fails its checksum, and read once
//! at completion to be stored as blocks.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::PathBuf,
    sync::Arc,
};

use crate::{BlobError, Result};

#[derive(Clone, Debug)]
pub struct Staging {
    dir: Arc<PathBuf>,
}

impl Staging {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir: PathBuf = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(Self { dir: Arc::new(dir) })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Opens the staging file `name` for appending at `offset`, cutting off anything beyond
    /// it (a chunk whose acknowledgement never happened).
    pub async fn appender(&self, name: &str, offset: u64) -> Result<Appender> {
        let path = self.path(name);
        let file = blocking(move || -> io::Result<File> {
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            if file.metadata()?.len() != offset {
                file.set_len(offset)?;
            }
            Ok(file)
        })
        .await?;
        Ok(Appender { file: Some(file), written: 0, start: offset })
    }

    pub async fn remove(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        blocking(move || match fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        })
        .await
    }
}

/// Appends one chunk to a staging file.
pub struct Appender {
    file: Option<File>,
    written: u64,
    start: u64,
}

impl Appender {
    pub async fn write(&mut self, data: bytes::Bytes) -> Result<()> {
        let mut file = self.file.take().ok_or_else(|| BlobError::Io(io::Error::other("appender closed")))?;
        let len = data.len() as u64;
        let file = blocking(move || file.write_all(&data).map(|()| file)).await?;
        self.file = Some(file);
        self.written += len;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes the chunk durable (before its new offset is acknowledged).
    pub async fn commit(mut self) -> Result<()> {
        if let Some(file) = self.file.take() {
            blocking(move || file.sync_data()).await?;
        }
        Ok(())
    }

    /// Drops the chunk: the file goes back to where it began.
    pub async fn rollback(mut self) -> Result<()> {
        if let Some(file) = self.file.take() {
            let start = self.start;
            blocking(move || file.set_len(start)).await?;
        }
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
        .map_err(BlobError::from)
}
