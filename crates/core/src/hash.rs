//! Content addressing: 4 MiB blocks named by their SHA-256, and a file's `content_hash` as
//! Dropbox defines it — the SHA-256 of the concatenated raw digests of its blocks.

use std::{fmt, str::FromStr};

use sha2::{Digest, Sha256};

/// Size of every block but a file's last.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// The SHA-256 of one block's bytes: its address in the block store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockHash(pub [u8; 32]);

impl BlockHash {
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

/// The BLAKE3 of one block's bytes, kept in the metadata next to its address. A download
/// checks a block against it rather than against the SHA-256: as strong (a 256-bit
/// cryptographic hash, from the database, not from the volume that returns the bytes) and
/// several times faster, so a verified download is not bound by SHA-256 on one core per
/// block. `None` where unknown (blocks stored before it existed, or sent through an upload
/// session): those are checked by their SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockCheck(pub [u8; 32]);

impl BlockCheck {
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl fmt::Debug for BlockCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockCheck({})", hex::encode(self.0))
    }
}

/// One block of a file: its address, its length and (if known) its [`BlockCheck`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockRef {
    pub hash: BlockHash,
    pub len: u32,
    pub check: Option<BlockCheck>,
}

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({})", self.to_hex())
    }
}

impl FromStr for BlockHash {
    type Err = hex::FromHexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Self(out))
    }
}

/// Dropbox's content hash of a file made of `blocks`, as lowercase hex.
pub fn content_hash<'a>(blocks: impl IntoIterator<Item = &'a BlockHash>) -> String {
    let mut hasher = ContentHasher::default();
    for block in blocks {
        hasher.push(block);
    }
    hasher.finish()
}

/// Builds a content hash one block digest at a time.
#[derive(Default, Clone)]
pub struct ContentHasher(Sha256);

impl ContentHasher {
    pub fn push(&mut self, block: &BlockHash) {
        self.0.update(block.0);
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_hashes_the_empty_digest_list() {
        assert_eq!(content_hash([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn block_hash_round_trips_through_hex() {
        let h = BlockHash::of(b"abc");
        assert_eq!(h.to_hex().parse::<BlockHash>().ok(), Some(h));
        assert_eq!(h.to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
