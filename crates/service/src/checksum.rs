//! A whole file's SHA-1 as its uploader declares it (Nextcloud's `OC-Checksum`): hashed while
//! the body is stored and compared before the commit, so a file whose bytes changed on the way
//! never becomes current. Once verified it is kept for the content (`oc:checksums`), and
//! clients check their downloads against it.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use sha1::{Digest, Sha1};

use crate::{Result, ServiceError};

/// A SHA-1 an uploader says its file has: 40 hex digits, kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredSha1(String);

impl DeclaredSha1 {
    pub fn parse(hex: &str) -> Result<Self> {
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceError::bad_request("invalid_checksum", "a SHA-1 is 40 hexadecimal digits"));
        }
        Ok(Self(hex.to_ascii_lowercase()))
    }

    pub fn hex(&self) -> &str {
        &self.0
    }
}

/// The SHA-1 of a body as it passes, when one was declared.
pub(crate) struct Sha1Tap(Option<Arc<Mutex<Sha1>>>);

impl Sha1Tap {
    pub(crate) fn new(declared: Option<&DeclaredSha1>) -> Self {
        Self(declared.map(|_| Arc::new(Mutex::new(Sha1::new()))))
    }

    /// `body`, hashed on its way through.
    pub(crate) fn tap<S, E>(&self, body: S) -> impl Stream<Item = std::result::Result<Bytes, E>> + Send
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    {
        let hasher = self.0.clone();
        body.inspect_ok(move |chunk| {
            if let Some(hasher) = &hasher {
                hasher.lock().unwrap_or_else(PoisonError::into_inner).update(chunk);
            }
        })
    }

    /// Whether the whole body had the declared SHA-1: the verified digest, or a 400.
    pub(crate) fn verify(self, declared: Option<&DeclaredSha1>) -> Result<Option<String>> {
        let (Some(hasher), Some(declared)) = (self.0, declared) else { return Ok(None) };
        let hasher = hasher.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let got = hex::encode(hasher.finalize());
        if got != declared.hex() {
            return Err(ServiceError::bad_request(
                "checksum_mismatch",
                format!("the body's SHA-1 is {got}, not the {} declared", declared.hex()),
            ));
        }
        Ok(Some(got))
    }
}
