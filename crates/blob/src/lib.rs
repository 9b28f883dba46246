//! Stratus block store: content-addressed 4 MiB blocks on volumes grouped in pools.
//!
//! A volume is a local directory (one per disk) or an S3 bucket. Each block is written to
//! `replicas` distinct volumes of its pool, chosen by free space; read-only, draining and full
//! volumes take no new blocks. Writes are durable before they are acknowledged (temp file,
//! fsync, rename, fsync of the directory). Every read is verified against the block's hash and falls back to the next
//! copy when one is missing or corrupt, and the bad copy is rewritten from the good one.
//! Optional AES-256-GCM encryption at rest keeps the plaintext's hash as the address.
//!
//! [`BlockWriter`] pipelines an upload: the caller keeps receiving while up to
//! [`IN_FLIGHT_BLOCKS`] blocks are hashed and written, so memory stays bounded (about
//! `(IN_FLIGHT_BLOCKS + 1) × 4 MiB` per upload) and both cores stay busy. [`maintain`] holds
//! the sweeps: GC, scrub, repair, drain and the audit behind `fsck`. This crate knows
//! nothing of users, files or the database: the caller tells it which volumes exist and
//! which blocks matter.

mod cipher;
mod local;
pub mod maintain;
mod s3;
mod store;
mod volume;
mod writer;

use std::io;

use stratus_core::BlockHash;

pub use cipher::Cipher;
pub use local::Space;
pub use maintain::{Audit, Collected, CopySeen, RepairReport, ScrubReport};
pub use s3::S3Settings;
pub use store::{BlockStore, StoreConfig, StoreCounters, VolumeStatus};
pub use writer::{BlockWriter, IN_FLIGHT_BLOCKS, INLINE_MAX, Written};

/// The shards blocks are stored and swept in: the first byte of their hash (a directory on a
/// disk, a key prefix in a bucket). A sweep holds one shard's hashes at a time, 1/256 of all.
pub fn shards() -> std::ops::RangeInclusive<u8> {
    0..=u8::MAX
}

/// Whether `hash` is in `shard`.
pub fn in_shard(hash: &stratus_core::BlockHash, shard: u8) -> bool {
    hash.0[0] == shard
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("block {0} is missing")]
    Missing(BlockHash),
    #[error("block {0} is corrupt: its content does not match its hash")]
    Corrupt(BlockHash),
    #[error("the data sent for block {0} has another hash")]
    Mismatch(BlockHash),
    #[error("no volume has room for the block")]
    NoSpace,
    /// The storage cannot be reached (S3 down, a volume offline): try again later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("block store I/O error: {0}")]
    Io(#[source] io::Error),
}

impl From<io::Error> for BlobError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::StorageFull { Self::NoSpace } else { Self::Io(err) }
    }
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;
