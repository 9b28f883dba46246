//! A local volume: a directory (one per disk) of block files at `<root>/<2 hex>/<sha256 hex>`.
//!
//! Every function here blocks; [`crate::volume::Backend`] runs them on blocking threads.
//! A write goes to a temporary file in the block's directory (in 64 KiB writes, which the page
//! cache takes far faster than one 4 MiB write), is fsynced, renamed into place, and the
//! directory is fsynced: a crash leaves the old state or the new one, never a partial block.

use std::{
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
    time::SystemTime,
};

use stratus_core::BlockHash;

/// The size of each `write()` when storing a block.
const WRITE_CHUNK: usize = 64 * 1024;

/// Temporary files older than this are leftovers of a crash.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// The file naming the volume a directory holds: a disk that is not mounted leaves an empty
/// mount point behind, which must not be mistaken for an empty volume.
pub(crate) const MARKER: &str = ".stratus-volume";

#[derive(Debug)]
pub(crate) struct LocalVolume {
    root: PathBuf,
}

/// Capacity and free space, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub total: u64,
    pub available: u64,
}

impl LocalVolume {
    /// Opens the volume `id` at `root`. A directory without a marker is initialised only when
    /// `create` (the volume is being added) or when it holds an older store's layout; else the
    /// disk is taken as missing.
    pub(crate) fn open(root: &Path, id: &str, create: bool) -> io::Result<Self> {
        let marker = root.join(MARKER);
        match fs::read_to_string(&marker) {
            Ok(found) if found.trim() == id => {}
            Ok(found) => {
                return Err(io::Error::other(format!(
                    "{} holds volume {:?}, not {id:?}",
                    root.display(),
                    found.trim()
                )));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                if !create && !root.join("00").is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{} is not a volume (no {MARKER}): is the disk mounted?", root.display()),
                    ));
                }
                fs::create_dir_all(root)?;
                for prefix in 0..=255u8 {
                    fs::create_dir_all(root.join(hex::encode([prefix])))?;
                }
                write_durably(root, &marker, id.as_bytes())?;
            }
            Err(err) => return Err(err),
        }
        let volume = Self { root: root.to_path_buf() };
        volume.remove_stale_temp()?;
        Ok(volume)
    }

    /// Removes leftovers of writes a crash interrupted; returns how many. Only old ones:
    /// another process (a second server, `stratus admin`) may be writing to this volume right
    /// now, and its temporary files (or a block the GC renamed aside for a moment) are young.
    pub(crate) fn remove_stale_temp(&self) -> io::Result<u64> {
        let stale = SystemTime::now().checked_sub(STALE_TEMP).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = 0;
        for prefix in 0..=255u8 {
            for entry in fs::read_dir(self.root.join(hex::encode([prefix])))? {
                let entry = entry?;
                let path = entry.path();
                let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < stale);
                if path.extension().is_some_and(|e| e == "tmp") && old && fs::remove_file(path).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    fn path_of(&self, hash: &BlockHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    /// Whether the volume is still there (its marker readable).
    pub(crate) fn present(&self) -> bool {
        self.root.join(MARKER).is_file()
    }

    /// Writes a block, replacing whatever is there (a corrupt copy).
    pub(crate) fn write(&self, hash: &BlockHash, data: &[u8]) -> io::Result<()> {
        let path = self.path_of(hash);
        write_durably(path.parent().unwrap_or(&self.root), &path, data)
    }

    /// The stored bytes of a block, if it is here.
    pub(crate) fn get(&self, hash: &BlockHash) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path_of(hash)) {
            Ok(data) => Ok(Some(data)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Whether the block is here; if so its age is refreshed, which tells a concurrent GC the
    /// block is in use (see `collect`).
    pub(crate) fn touch(&self, hash: &BlockHash) -> io::Result<bool> {
        match File::options().write(true).open(self.path_of(hash)) {
            Ok(file) => {
                file.set_modified(SystemTime::now())?;
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The blocks of one shard (its directory) with the time each was last written or reused.
    pub(crate) fn list_shard(&self, shard: u8) -> io::Result<Vec<(BlockHash, SystemTime)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.root.join(hex::encode([shard])))? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(hash) = name.to_str().and_then(|n| n.parse::<BlockHash>().ok()) else {
                continue;
            };
            match entry.metadata() {
                Ok(meta) => out.push((hash, meta.modified()?)),
                // Collected while we looked.
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        Ok(out)
    }

    /// Whether no shard holds a block.
    pub(crate) fn is_empty(&self) -> io::Result<bool> {
        for shard in crate::shards() {
            if !self.list_shard(shard)?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every block here with the time it was last written or reused.
    pub(crate) fn list(&self) -> io::Result<Vec<(BlockHash, SystemTime)>> {
        let mut out = Vec::new();
        for shard in crate::shards() {
            out.extend(self.list_shard(shard)?);
        }
        Ok(out)
    }

    /// Block files here and their bytes.
    pub(crate) fn usage(&self) -> io::Result<(u64, u64)> {
        let (mut files, mut bytes) = (0, 0);
        for prefix in 0..=255u8 {
            for entry in fs::read_dir(self.root.join(hex::encode([prefix])))? {
                let entry = entry?;
                if entry.path().extension().is_none()
                    && let Ok(meta) = entry.metadata()
                {
                    files += 1;
                    bytes += meta.len();
                }
            }
        }
        Ok((files, bytes))
    }

    /// Deletes a block unless it was written or reused after `unused_since`. Safe against a
    /// concurrent upload that dedups onto it: the file is first renamed aside, so a new put
    /// either refreshed its time before (and the block is put back) or finds it gone and
    /// writes it again. Returns whether it was deleted.
    pub(crate) fn collect(&self, hash: &BlockHash, unused_since: SystemTime) -> io::Result<bool> {
        let path = self.path_of(hash);
        let aside = path.with_extension("gc.tmp");
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
    }

    /// Deletes a block (another volume holds it now).
    pub(crate) fn remove(&self, hash: &BlockHash) -> io::Result<bool> {
        match fs::remove_file(self.path_of(hash)) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    pub(crate) fn space(&self) -> io::Result<Space> {
        let stat = rustix::fs::statvfs(&self.root).map_err(io::Error::from)?;
        Ok(Space {
            total: stat.f_blocks.saturating_mul(stat.f_frsize),
            available: stat.f_bavail.saturating_mul(stat.f_frsize),
        })
    }

    /// Whether the volume takes writes, for readiness checks.
    pub(crate) fn check(&self) -> io::Result<()> {
        let probe = self.root.join(format!(".ready.{:016x}.tmp", rand::random::<u64>()));
        fs::write(&probe, b"ok")?;
        fs::remove_file(&probe)
    }

    /// A small file of the volume's own (the encryption key check).
    pub(crate) fn read_meta(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.root.join(name)) {
            Ok(data) => Ok(Some(data)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub(crate) fn write_meta(&self, name: &str, data: &[u8]) -> io::Result<()> {
        write_durably(&self.root, &self.root.join(name), data)
    }
}

/// temp → fsync → rename → fsync the directory.
fn write_durably(dir: &Path, path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("{:016x}.tmp", rand::random::<u64>()));
    let written = (|| -> io::Result<()> {
        let mut file = File::create(&tmp)?;
        for chunk in data.chunks(WRITE_CHUNK) {
            file.write_all(chunk)?;
        }
        file.sync_data()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_volume_keeps_young_temp_files_and_removes_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        LocalVolume::open(dir.path(), "A1", true).unwrap();
        let young = dir.path().join("ab").join("in-flight.1234.tmp");
        let old = dir.path().join("cd").join("crashed.5678.tmp");
        fs::write(&young, b"another process is writing this").unwrap();
        fs::write(&old, b"left by a crash").unwrap();
        let long_ago = SystemTime::now() - STALE_TEMP - std::time::Duration::from_secs(60);
        File::options().write(true).open(&old).unwrap().set_modified(long_ago).unwrap();
        LocalVolume::open(dir.path(), "A1", false).unwrap();
        assert!(young.exists(), "a write in flight elsewhere is left alone");
        assert!(!old.exists(), "a crash's leftover is removed");
    }
}
