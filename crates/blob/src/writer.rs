//! The upload pipeline: cut a byte stream into blocks and store them in parallel (each block
//! hashed on a blocking thread, then written to its replicas at once).
//!
//! Memory stays bounded however many uploads run at once: every block in flight holds a
//! permit of the store's shared budget, and an upload that finds none left stores its block
//! before reading more of its body (one block in memory; TCP slows its sender meanwhile).
//! Permits are held only by blocks being stored, which the disks release, never by a buffer
//! waiting on a slow client: no client can hold the budget hostage.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::BytesMut;
use stratus_core::{BLOCK_SIZE, BlockRef, ContentHasher};
use tokio::{sync::OwnedSemaphorePermit, task::JoinHandle};

use crate::{BlobError, BlockStore, Result};

/// Blocks hashed and written concurrently for one upload, at most.
pub const IN_FLIGHT_BLOCKS: usize = 3;

/// Uploads up to this size are not stored as blocks: their bytes are kept with their version
/// in the metadata database ([`Written::inline`]), durable in the commit itself.
pub const INLINE_MAX: u64 = 64 * 1024;

/// What an upload stored: its blocks in order (all durable), its size and content hash.
#[derive(Debug, Clone)]
pub struct Written {
    pub blocks: Vec<BlockRef>,
    pub size: u64,
    pub content_hash: String,
    /// For a file of at most [`INLINE_MAX`] bytes: no blocks, but these bytes to keep with
    /// the version (from [`BlockStore::seal_inline`]); nothing is durable until they commit.
    pub inline: Option<Vec<u8>>,
}

type Job = JoinHandle<Result<BlockRef>>;

pub struct BlockWriter {
    store: BlockStore,
    pool: Arc<str>,
    buf: BytesMut,
    jobs: VecDeque<Job>,
    done: Vec<BlockRef>,
    size: u64,
    /// The total the caller expects, if known: a small file never gets a 4 MiB buffer.
    expected: Option<u64>,
    /// Whether a small file's bytes may be handed back instead of stored.
    inline: bool,
}

impl BlockWriter {
    pub(crate) fn new(store: BlockStore, pool: Arc<str>, expected: Option<u64>) -> Self {
        Self {
            store,
            pool,
            buf: BytesMut::new(),
            jobs: VecDeque::new(),
            done: Vec::new(),
            size: 0,
            expected,
            inline: true,
        }
    }

    /// Stores every file as blocks, however small (see [`INLINE_MAX`]).
    pub fn without_inline(mut self) -> Self {
        self.inline = false;
        self
    }

    /// Bytes accepted so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `data`; every completed 4 MiB block is handed to a blocking thread. Waits
    /// (applying back-pressure to the sender) while [`IN_FLIGHT_BLOCKS`] are being stored, or
    /// while the shared budget is spent (see the module's documentation).
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        let before = self.size;
        self.size += data.len() as u64;
        while !data.is_empty() {
            if self.buf.capacity() == 0 {
                // A whole block, unless the caller said less is coming (it may still grow).
                let left = self.expected.map_or(u64::MAX, |e| e.saturating_sub(before));
                let want = left.clamp(data.len().min(BLOCK_SIZE) as u64, BLOCK_SIZE as u64);
                self.buf.reserve(usize::try_from(want).unwrap_or(BLOCK_SIZE));
            }
            let take = (BLOCK_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == BLOCK_SIZE {
                self.dispatch().await?;
            }
        }
        Ok(())
    }

    async fn dispatch(&mut self) -> Result<()> {
        let block = self.buf.split().freeze();
        self.collect_finished().await?;
        let permit = loop {
            if self.jobs.len() < IN_FLIGHT_BLOCKS {
                match self.store.in_flight().clone().try_acquire_owned() {
                    Ok(permit) => break Some(permit),
                    Err(_) if self.jobs.is_empty() => break None,
                    Err(_) => {}
                }
            }
            self.take_oldest().await?;
        };
        let (store, pool) = (self.store.clone(), self.pool.clone());
        match permit {
            Some(permit) => self.jobs.push_back(tokio::spawn(store_block(store, pool, block, Some(permit)))),
            None => self.done.push(store_block(store, pool, block, None).await?),
        }
        Ok(())
    }

    /// Waits for the oldest block in flight and keeps its result.
    async fn take_oldest(&mut self) -> Result<()> {
        if let Some(job) = self.jobs.pop_front() {
            self.done.push(job.await.map_err(|_| closed())??);
        }
        Ok(())
    }

    /// Takes the results of jobs that already ended, in order, surfacing a failure early.
    async fn collect_finished(&mut self) -> Result<()> {
        while self.jobs.front().is_some_and(|job| job.is_finished()) {
            self.take_oldest().await?;
        }
        Ok(())
    }

    /// Stores the last (short) block and waits until every block is durable — or, for a file
    /// of at most [`INLINE_MAX`] bytes, stores nothing and hands its bytes back to be kept
    /// with the version.
    pub async fn finish(mut self) -> Result<Written> {
        let small = self.size <= INLINE_MAX && self.jobs.is_empty() && self.done.is_empty();
        if self.inline && small && !self.buf.is_empty() {
            let (hash, kept) = self.store.seal_inline(&self.buf);
            let mut hasher = ContentHasher::default();
            hasher.push(&hash);
            return Ok(Written {
                blocks: Vec::new(),
                size: self.size,
                content_hash: hasher.finish(),
                inline: Some(kept),
            });
        }
        if !self.buf.is_empty() {
            self.dispatch().await?;
        }
        while !self.jobs.is_empty() {
            self.take_oldest().await?;
        }
        let mut hasher = ContentHasher::default();
        for block in &self.done {
            hasher.push(&block.hash);
        }
        Ok(Written { blocks: self.done, size: self.size, content_hash: hasher.finish(), inline: None })
    }
}

/// Hashes and stores one block; `_permit` (its share of the budget) is released once it is
/// durable.
async fn store_block(
    store: BlockStore,
    pool: Arc<str>,
    block: bytes::Bytes,
    _permit: Option<OwnedSemaphorePermit>,
) -> Result<BlockRef> {
    let len = u32::try_from(block.len()).map_err(|_| closed())?;
    let (hash, check) = store.put(&pool, block).await?;
    Ok(BlockRef { hash, len, check: Some(check) })
}

fn closed() -> BlobError {
    BlobError::Io(std::io::Error::other("block writer task failed"))
}
