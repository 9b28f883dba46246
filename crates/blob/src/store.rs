//! The block store: volumes in pools, replicas placed by free space, verified reads that
//! fall back to another replica and heal the bad copy.

use std::{
    collections::HashSet,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use futures_util::future::join_all;
use stratus_core::{BLOCK_SIZE, BlockCheck, BlockHash, VolumeRecord, VolumeState};

use crate::{
    BlobError, BlockWriter, Result,
    cipher::{self, Cipher, KEY_CHECK_FILE},
    local::Space,
    s3::S3Settings,
    volume::Backend,
};

/// A volume with less free space than this takes no new blocks.
const FULL_RESERVE: u64 = 2 * BLOCK_SIZE as u64;

/// Used share of a volume past which administrators are warned.
const NEARLY_FULL: f64 = 0.85;

/// How the store behaves, whatever volumes it has.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Copies of each block, on distinct volumes of its pool (fewer when the pool is smaller).
    pub replicas: usize,
    pub cipher: Option<Cipher>,
    pub s3: S3Settings,
    /// Blocks that all uploads together may have in flight (being hashed and written) while
    /// they read on; `None`: two per core, at least four. With 0, every upload stores each
    /// block before it reads more of its body. Bounds the memory of many uploads at once.
    pub blocks_in_flight: Option<usize>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { replicas: 2, cipher: None, s3: S3Settings::default(), blocks_in_flight: None }
    }
}

/// A registered volume as this process sees it.
#[derive(Debug)]
pub(crate) struct Mounted {
    pub(crate) record: VolumeRecord,
    /// `None` when the volume cannot be used; `problem` says why.
    pub(crate) backend: Option<Backend>,
    pub(crate) problem: Option<String>,
    /// Offline because it does not answer (S3 down, a disk not mounted), which may pass, as
    /// opposed to a configuration fault (a wrong key, another volume's marker).
    pub(crate) unreachable: bool,
}

impl Mounted {
    pub(crate) fn online(&self) -> Option<&Backend> {
        self.backend.as_ref()
    }

    fn draining(&self) -> bool {
        self.record.state == VolumeState::Draining
    }
}

pub(crate) type Volumes = Arc<Vec<Arc<Mounted>>>;

/// What the store has seen go wrong and put right since the process started.
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// Corrupt copies met by reads (each served from another replica, or refused).
    pub read_faults: AtomicU64,
    /// Bad copies rewritten from a good one right after a read met them.
    pub read_repairs: AtomicU64,
    /// Blocks stored on fewer volumes than their pool's replica count (no room elsewhere).
    pub degraded_writes: AtomicU64,
}

/// One volume's state, capacity and health, for administrators.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct VolumeStatus {
    pub id: String,
    pub pool: String,
    pub location: String,
    pub state: VolumeState,
    /// `online`, or `offline` with `problem` saying why.
    pub health: &'static str,
    pub problem: Option<String>,
    /// Capacity and free bytes of the disk (unknown for a bucket).
    pub capacity_bytes: Option<u64>,
    pub available_bytes: Option<u64>,
    pub used_ratio: Option<f64>,
    /// Past 85 % of its capacity (or full).
    pub nearly_full: bool,
    /// Too full to take another block.
    pub full: bool,
    /// Block files it holds and their bytes (counted when asked for).
    pub block_files: Option<u64>,
    pub block_bytes: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct BlockStore(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    config: StoreConfig,
    volumes: RwLock<Volumes>,
    counters: StoreCounters,
    /// Blocks that uploads may have in flight (hashed and written) beyond one each; shared by
    /// every upload of the process (see [`BlockWriter`]).
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl BlockStore {
    pub fn new(config: StoreConfig) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let in_flight = config.blocks_in_flight.unwrap_or((2 * cores).max(4));
        Self(Arc::new(Inner {
            config,
            volumes: RwLock::default(),
            counters: StoreCounters::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(in_flight)),
        }))
    }

    pub(crate) fn in_flight(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.0.in_flight
    }

    pub fn counters(&self) -> &StoreCounters {
        &self.0.counters
    }

    pub fn replicas(&self) -> usize {
        self.0.config.replicas.max(1)
    }

    pub(crate) fn snapshot(&self) -> Volumes {
        match self.0.volumes.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Initialises a volume about to be registered (its directory, marker and key check), so
    /// a typo or an unreachable bucket is refused before anything points at it.
    pub async fn prepare(&self, record: &VolumeRecord) -> Result<()> {
        let backend = Backend::open(&record.location, &record.id, &self.0.config.s3, true).await?;
        if let Some(problem) = self.key_problem(&backend).await? {
            return Err(BlobError::Io(std::io::Error::other(problem)));
        }
        backend.check().await
    }

    /// Makes the registered volumes the ones in use: new ones are opened, gone ones dropped,
    /// and every volume is checked to still be there (a dead disk goes offline here).
    pub async fn apply(&self, records: Vec<VolumeRecord>) {
        let current = self.snapshot();
        let mut next = Vec::with_capacity(records.len());
        for record in records {
            let known =
                current.iter().find(|m| m.record.id == record.id && m.record.location == record.location);
            let reusable = match known.and_then(|m| m.backend.clone()) {
                Some(backend) if backend.present().await => Some(backend),
                _ => None,
            };
            let opened = match reusable {
                Some(backend) => Ok(backend),
                None => Backend::open(&record.location, &record.id, &self.0.config.s3, false).await,
            };
            let not_answering = |err: &BlobError| match err {
                BlobError::Unavailable(_) => true,
                BlobError::Io(e) => e.kind() == std::io::ErrorKind::NotFound,
                _ => false,
            };
            let (backend, problem, unreachable) = match opened {
                Ok(backend) => match self.key_problem(&backend).await {
                    Ok(None) => (Some(backend), None, false),
                    Ok(Some(problem)) => (None, Some(problem), false),
                    Err(err) => (None, Some(err.to_string()), not_answering(&err)),
                },
                Err(err) => (None, Some(err.to_string()), not_answering(&err)),
            };
            let was_online = known.is_some_and(|m| m.backend.is_some());
            if let Some(problem) = &problem
                && (was_online || known.is_none())
            {
                tracing::error!(volume = %record.id, %problem, "volume offline");
            }
            if problem.is_none() && known.is_some_and(|m| m.backend.is_none()) {
                tracing::info!(volume = %record.id, "volume back online");
            }
            next.push(Arc::new(Mounted { record, backend, problem, unreachable }));
        }
        let next = Arc::new(next);
        match self.0.volumes.write() {
            Ok(mut v) => *v = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    /// Why the configured key cannot be used on this volume, if it cannot. A volume first
    /// used with a key records a check of it.
    async fn key_problem(&self, backend: &Backend) -> Result<Option<String>> {
        let stored = backend.read_meta(KEY_CHECK_FILE).await?;
        Ok(match (&self.0.config.cipher, stored) {
            (Some(cipher), Some(check)) if !cipher.matches(&check) => {
                Some("the encryption key is not the one this volume was written with".into())
            }
            (Some(cipher), None) => {
                backend.write_meta(KEY_CHECK_FILE, cipher.key_check()).await?;
                None
            }
            (None, Some(_)) => Some("this volume holds encrypted blocks and no encryption key is set".into()),
            _ => None,
        })
    }

    /// The pool blocks headed for `wanted` go to: that pool if it has volumes, else the
    /// default pool (the first volume's), so a small install can serve every tier from one.
    pub(crate) fn resolve_pool(volumes: &[Arc<Mounted>], wanted: &str) -> String {
        if volumes.iter().any(|m| m.record.pool == wanted) {
            return wanted.to_string();
        }
        volumes.first().map_or_else(|| wanted.to_string(), |m| m.record.pool.clone())
    }

    /// How many copies a block of `pool` should have.
    pub(crate) fn target(&self, volumes: &[Arc<Mounted>], pool: &str) -> usize {
        let size = volumes.iter().filter(|m| m.record.pool == pool && !m.draining()).count();
        self.replicas().min(size).max(1)
    }

    /// The volumes of `pool` that take new blocks, the emptiest first.
    pub(crate) async fn writable(volumes: &[Arc<Mounted>], pool: &str) -> Vec<Arc<Mounted>> {
        let mut out = Vec::new();
        for m in volumes.iter().filter(|m| m.record.pool == pool && m.record.state == VolumeState::Active) {
            let Some(backend) = m.online() else { continue };
            let available = match backend.space().await {
                Ok(Some(space)) if space.available < FULL_RESERVE => continue,
                Ok(Some(space)) => space.available,
                Ok(None) => u64::MAX,
                Err(_) => continue,
            };
            out.push((available, m.clone()));
        }
        // Emptiest first, counted in whole GiB so that volumes about as free as each other
        // (one disk, or twins) share the load in random order.
        use rand::seq::SliceRandom;
        out.shuffle(&mut rand::thread_rng());
        out.sort_by_key(|(available, _)| std::cmp::Reverse(*available >> 30));
        out.into_iter().map(|(_, m)| m).collect()
    }

    /// Why no copy of a block could be written to `pool`: its volumes are full, or some
    /// cannot be reached (that is no full disk, and clients should retry).
    fn no_room_in(volumes: &[Arc<Mounted>], pool: &str) -> BlobError {
        let active =
            || volumes.iter().filter(|m| m.record.pool == pool && m.record.state == VolumeState::Active);
        match active().find(|m| m.online().is_none() && m.unreachable) {
            Some(m) => BlobError::Unavailable(format!("volume {} cannot be reached", m.record.id)),
            None => BlobError::NoSpace,
        }
    }

    /// A pipelined writer for one upload of `expected` bytes (if known) into `pool`.
    pub fn writer(&self, pool: &str, expected: Option<u64>) -> BlockWriter {
        BlockWriter::new(self.clone(), pool.into(), expected)
    }

    /// Hashes and stores one block into `pool`: its address and its check.
    pub async fn put(&self, pool: &str, data: Bytes) -> Result<(BlockHash, BlockCheck)> {
        let block = data.clone();
        let (hash, check) =
            tokio::task::spawn_blocking(move || (BlockHash::of(&block), BlockCheck::of(&block)))
                .await
                .map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        self.store(pool, hash, data).await?;
        Ok((hash, check))
    }

    /// Stores a block a client declared as `expected`, after checking that it is.
    pub async fn put_checked(&self, pool: &str, data: Bytes, expected: BlockHash) -> Result<()> {
        let block = data.clone();
        let ok = tokio::task::spawn_blocking(move || BlockHash::of(&block) == expected)
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        if !ok {
            return Err(BlobError::Mismatch(expected));
        }
        self.store(pool, expected, data).await
    }

    /// Puts a block of known hash on as many volumes of `pool` as it should be on, counting
    /// the copies already anywhere (copies on draining volumes do not count). Durable on
    /// every copy before this returns. With no room for every replica, it is stored on the
    /// volumes that had room (the repair job completes it once there is space); with room
    /// for none, it fails with [`BlobError::NoSpace`].
    async fn store(&self, pool: &str, hash: BlockHash, plain: Bytes) -> Result<()> {
        let volumes = self.snapshot();
        let pool = Self::resolve_pool(&volumes, pool);
        let target = self.target(&volumes, &pool);
        let mut holders = HashSet::new();
        for m in volumes.iter().filter(|m| !m.draining()) {
            let Some(backend) = m.online() else { continue };
            match backend.touch(hash).await {
                Ok(true) => {
                    holders.insert(m.record.id.clone());
                }
                Ok(false) => {}
                Err(err) => tracing::warn!(volume = %m.record.id, error = %err, "volume unreadable"),
            }
        }
        if holders.len() >= target {
            return Ok(());
        }
        let stored = self.seal(hash, plain).await?;
        let candidates: Vec<_> = Self::writable(&volumes, &pool)
            .await
            .into_iter()
            .filter(|m| !holders.contains(&m.record.id))
            .collect();
        let (written, error) = write_copies(candidates, target - holders.len(), hash, stored).await;
        let copies = holders.len() + written;
        if copies == 0 {
            return Err(error.unwrap_or_else(|| Self::no_room_in(&volumes, &pool)));
        }
        if copies < target {
            self.0.counters.degraded_writes.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%hash, copies, target, pool, "block stored on fewer volumes than its replica count");
        }
        Ok(())
    }

    /// The bytes to store for a block: sealed when encryption is on.
    pub(crate) async fn seal(&self, hash: BlockHash, plain: Bytes) -> Result<Bytes> {
        match &self.0.config.cipher {
            None => Ok(plain),
            Some(cipher) => {
                let cipher = cipher.clone();
                tokio::task::spawn_blocking(move || Bytes::from(cipher.seal(&hash, &plain)))
                    .await
                    .map_err(|e| BlobError::Io(std::io::Error::other(e)))
            }
        }
    }

    /// How a small file's bytes are kept in the metadata database instead of as a block:
    /// its block hash, then the bytes sealed as a stored block would be.
    pub fn seal_inline(&self, plain: &[u8]) -> (BlockHash, Vec<u8>) {
        let hash = BlockHash::of(plain);
        let mut out = hash.0.to_vec();
        match &self.0.config.cipher {
            None => out.extend_from_slice(plain),
            Some(cipher) => out.extend(cipher.seal(&hash, plain)),
        }
        (hash, out)
    }

    /// The bytes of a small file kept by [`BlockStore::seal_inline`], verified against their
    /// hash, which is returned with them.
    pub fn open_inline(&self, kept: Bytes) -> Result<(BlockHash, Bytes)> {
        let Some(head) = kept.get(..32) else { return Err(BlobError::Corrupt(BlockHash([0; 32]))) };
        let mut hash = BlockHash([0; 32]);
        hash.0.copy_from_slice(head);
        match cipher::unseal(self.0.config.cipher.as_ref(), &hash, kept.slice(32..)) {
            Ok(plain) if BlockHash::of(&plain) == hash => Ok((hash, plain)),
            _ => Err(BlobError::Corrupt(hash)),
        }
    }

    /// Whether some volume holds the block; each copy found has its age refreshed, so the
    /// GC's grace period restarts for a client about to reference it.
    pub async fn touch(&self, hash: BlockHash) -> Result<bool> {
        let mut found = false;
        for m in self.snapshot().iter() {
            if let Some(backend) = m.online() {
                found |= backend.touch(hash).await.unwrap_or(false);
            }
        }
        Ok(found)
    }

    /// Reads one copy of a block: `None` if the volume does not hold it, the plaintext and
    /// stored bytes if it verifies, [`BlobError::Corrupt`] if it does not.
    pub(crate) async fn read_copy(
        &self,
        backend: &Backend,
        hash: BlockHash,
    ) -> Result<Option<(Bytes, Bytes)>> {
        self.read_checked_copy(backend, hash, None).await
    }

    /// One copy's plain bytes (and stored form), verified against `check` if given, else
    /// against the address.
    async fn read_checked_copy(
        &self,
        backend: &Backend,
        hash: BlockHash,
        check: Option<BlockCheck>,
    ) -> Result<Option<(Bytes, Bytes)>> {
        let Some(stored) = backend.get(hash).await? else { return Ok(None) };
        let cipher = self.0.config.cipher.clone();
        let sound = move |plain: &[u8]| match check {
            Some(check) => BlockCheck::of(plain) == check,
            None => BlockHash::of(plain) == hash,
        };
        tokio::task::spawn_blocking(move || match cipher::unseal(cipher.as_ref(), &hash, stored.clone()) {
            Ok(plain) if sound(&plain) => Ok(Some((plain, stored))),
            _ => Err(BlobError::Corrupt(hash)),
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
    }

    /// Reads a block, verified. A copy that is missing, corrupt or unreadable is skipped for
    /// the next one (draining volumes last); a corrupt copy is rewritten from the good one in
    /// the background. Fails only when no volume holds a good copy.
    pub async fn get(&self, hash: BlockHash) -> Result<Bytes> {
        self.get_checked(hash, None).await
    }

    /// [`get`](Self::get), each copy verified against the block's `check` when it is known
    /// (several times cheaper than its SHA-256), else against its address.
    pub async fn get_checked(&self, hash: BlockHash, check: Option<BlockCheck>) -> Result<Bytes> {
        let mut volumes: Vec<_> = self.snapshot().iter().filter(|m| m.online().is_some()).cloned().collect();
        volumes.sort_by_key(|m| m.draining());
        let mut bad = Vec::new();
        let mut failure = None;
        for m in volumes {
            let Some(backend) = m.online() else { continue };
            match self.read_checked_copy(backend, hash, check).await {
                Ok(Some((plain, stored))) => {
                    if !bad.is_empty() {
                        self.heal(bad, hash, stored);
                    }
                    return Ok(plain);
                }
                Ok(None) => {}
                Err(BlobError::Corrupt(_)) => {
                    self.0.counters.read_faults.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(volume = %m.record.id, %hash, "corrupt block copy; reading another");
                    bad.push(m.clone());
                }
                Err(err) => {
                    tracing::warn!(volume = %m.record.id, %hash, error = %err, "unreadable block copy");
                    failure = Some(err);
                }
            }
        }
        Err(if bad.is_empty() {
            failure.unwrap_or_else(|| {
                match self.snapshot().iter().find(|m| m.online().is_none() && m.unreachable) {
                    // Not found on the volumes that answer, and one does not: it may be there.
                    Some(m) => BlobError::Unavailable(format!("volume {} cannot be reached", m.record.id)),
                    None => BlobError::Missing(hash),
                }
            })
        } else {
            BlobError::Corrupt(hash)
        })
    }

    /// Rewrites bad copies from a good copy's stored bytes, off the reader's path.
    fn heal(&self, bad: Vec<Arc<Mounted>>, hash: BlockHash, stored: Bytes) {
        let store = self.clone();
        tokio::spawn(async move {
            for m in bad {
                let Some(backend) = m.online() else { continue };
                match backend.write(hash, stored.clone()).await {
                    Ok(()) => {
                        store.0.counters.read_repairs.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(volume = %m.record.id, %hash, "corrupt copy repaired");
                    }
                    Err(err) => tracing::error!(volume = %m.record.id, %hash, error = %err, "repair failed"),
                }
            }
        });
    }

    /// Every registered volume with its state, capacity and health; `count` also counts the
    /// block files of each (a directory walk).
    pub async fn status(&self, count: bool) -> Vec<VolumeStatus> {
        let mut out = Vec::new();
        for m in self.snapshot().iter() {
            let mut problem = m.problem.clone();
            let space = match m.online() {
                Some(backend) => backend.space().await.unwrap_or_else(|err| {
                    problem = Some(err.to_string());
                    None
                }),
                None => None,
            };
            let usage = match (count, m.online()) {
                (true, Some(backend)) => {
                    backend.usage().await.map_err(|err| problem = Some(err.to_string())).ok()
                }
                _ => None,
            };
            let full = space.is_some_and(|s| s.available < FULL_RESERVE);
            let used_ratio = space.filter(|s| s.total > 0).map(|s| 1.0 - s.available as f64 / s.total as f64);
            out.push(VolumeStatus {
                id: m.record.id.clone(),
                pool: m.record.pool.clone(),
                location: m.record.location.clone(),
                state: m.record.state,
                health: if problem.is_none() { "online" } else { "offline" },
                problem,
                capacity_bytes: space.map(|s: Space| s.total),
                available_bytes: space.map(|s| s.available),
                used_ratio,
                nearly_full: used_ratio.is_some_and(|r| r >= NEARLY_FULL) || full,
                full,
                block_files: usage.map(|u| u.0),
                block_bytes: usage.map(|u| u.1),
            });
        }
        out
    }

    /// Whether every online volume takes writes and at least one can take new blocks.
    pub async fn check(&self) -> Result<()> {
        let volumes = self.snapshot();
        let mut writable = 0;
        for m in volumes.iter() {
            if let Some(backend) = m.online() {
                backend.check().await?;
                writable += usize::from(m.record.state == VolumeState::Active);
            }
        }
        if writable == 0 {
            return Err(BlobError::Io(std::io::Error::other("no volume takes new blocks")));
        }
        Ok(())
    }

    /// Block files across the online volumes (a block with two replicas counts twice).
    pub async fn count_blocks(&self) -> Result<u64> {
        let mut n = 0;
        for m in self.snapshot().iter() {
            if let Some(backend) = m.online() {
                n += backend.list().await?.len() as u64;
            }
        }
        Ok(n)
    }
}

/// Writes `need` copies, trying the next candidate when one fails; returns how many were
/// written and the error to report if too few were (a full disk wins over other errors).
pub(crate) async fn write_copies(
    candidates: Vec<Arc<Mounted>>,
    need: usize,
    hash: BlockHash,
    stored: Bytes,
) -> (usize, Option<BlobError>) {
    let mut candidates = candidates.into_iter();
    let (mut written, mut error) = (0, None);
    while written < need {
        let batch: Vec<_> = candidates.by_ref().take(need - written).collect();
        if batch.is_empty() {
            break;
        }
        let results = join_all(batch.iter().map(|m| async {
            match m.online() {
                Some(backend) => backend.write(hash, stored.clone()).await,
                None => Err(BlobError::Missing(hash)),
            }
        }))
        .await;
        for (m, result) in batch.iter().zip(results) {
            match result {
                Ok(()) => written += 1,
                Err(err) => {
                    tracing::warn!(volume = %m.record.id, %hash, error = %err, "could not store a block copy");
                    if !matches!(error, Some(BlobError::NoSpace)) {
                        error = Some(err);
                    }
                }
            }
        }
    }
    (written, error)
}
