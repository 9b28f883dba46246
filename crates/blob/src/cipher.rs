//! Encryption at rest: AES-256-GCM per block. A block's address stays the SHA-256 of its
//! plaintext (so dedup and the content hash are unchanged); the hash is also the AEAD's
//! associated data, so a stored block cannot be passed off under another address. A stored
//! encrypted block is `MAGIC ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag`; blocks
//! written before encryption was turned on have no magic and are read as they are.

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use stratus_core::BlockHash;

const MAGIC: &[u8; 5] = b"STRX\x01";
const NONCE: usize = 12;

/// What a volume stores to tell a wrong key from corrupt blocks.
pub(crate) const KEY_CHECK_FILE: &str = ".stratus-key-check";
const KEY_CHECK: &[u8] = b"stratus volume key check";

#[derive(Clone)]
pub struct Cipher(Aes256Gcm);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(<key>)")
    }
}

/// Why stored bytes could not be turned back into a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unseal {
    /// The bytes are encrypted and no key is configured.
    NoKey,
    /// Authentication failed: corrupt bytes, or another key.
    Failed,
}

impl Cipher {
    /// A cipher from a 32-byte key given as 64 hex digits (or as the 32 raw bytes of a key file).
    pub fn from_key(key: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(key).ok().map(str::trim);
        let raw = match text.and_then(|t| hex::decode(t).ok()) {
            Some(raw) => raw,
            None => key.to_vec(),
        };
        Aes256Gcm::new_from_slice(&raw).ok().filter(|_| raw.len() == 32).map(Self)
    }

    pub(crate) fn seal(&self, hash: &BlockHash, plain: &[u8]) -> Vec<u8> {
        self.seal_with(&hash.0, plain)
    }

    fn seal_with(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE] = rand::random();
        // Encryption cannot fail for inputs under GCM's 64 GiB limit; an empty result would
        // fail to open, never pass for a block.
        let sealed =
            self.0.encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad }).unwrap_or_default();
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    fn open_with(&self, aad: &[u8], stored: &[u8]) -> Result<Vec<u8>, Unseal> {
        let body = stored.strip_prefix(MAGIC).ok_or(Unseal::Failed)?;
        if body.len() < NONCE {
            return Err(Unseal::Failed);
        }
        let (nonce, sealed) = body.split_at(NONCE);
        self.0.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad }).map_err(|_| Unseal::Failed)
    }

    /// The key check a volume keeps.
    pub(crate) fn key_check(&self) -> Vec<u8> {
        self.seal_with(b"key-check", KEY_CHECK)
    }

    /// Whether `stored` (a volume's key check) was written with this key.
    pub(crate) fn matches(&self, stored: &[u8]) -> bool {
        self.open_with(b"key-check", stored).is_ok_and(|p| p == KEY_CHECK)
    }
}

/// Turns stored bytes back into the block's plaintext (not yet verified against its hash).
pub(crate) fn unseal(
    cipher: Option<&Cipher>,
    hash: &BlockHash,
    stored: bytes::Bytes,
) -> Result<bytes::Bytes, Unseal> {
    if !stored.starts_with(MAGIC) {
        return Ok(stored);
    }
    match cipher {
        Some(cipher) => cipher.open_with(&hash.0, &stored).map(bytes::Bytes::from),
        None => Err(Unseal::NoKey),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_block_round_trips_and_a_wrong_key_or_address_fails() {
        let key = Cipher::from_key(&[7u8; 32]).unwrap();
        let other = Cipher::from_key(hex::encode([8u8; 32]).as_bytes()).unwrap();
        let data = b"hello block";
        let hash = BlockHash::of(data);
        let sealed = bytes::Bytes::from(key.seal(&hash, data));
        assert_ne!(&sealed[MAGIC.len() + NONCE..], &data[..]);
        assert_eq!(unseal(Some(&key), &hash, sealed.clone()).unwrap(), &data[..]);
        assert_eq!(unseal(Some(&other), &hash, sealed.clone()), Err(Unseal::Failed));
        assert_eq!(unseal(None, &hash, sealed.clone()), Err(Unseal::NoKey));
        assert_eq!(unseal(Some(&key), &BlockHash::of(b"x"), sealed), Err(Unseal::Failed));
        assert!(key.matches(&key.key_check()) && !other.matches(&key.key_check()));
        assert!(Cipher::from_key(b"too short").is_none());
    }
}
