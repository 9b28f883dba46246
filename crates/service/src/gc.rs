//! Garbage collection of blocks: those whose last reference went away, and those an upload
//! wrote but never committed (it was cut off, or its process died). Both wait out a grace
//! period, so an upload in flight never loses a block it is about to reference.

use std::time::{Duration, SystemTime};

use crate::{Result, Stratus};

/// What one collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Block files deleted from the volume.
    pub blocks: u64,
    /// Block files looked at.
    pub examined: u64,
}

impl Stratus {
    /// Deletes every block file that no version references and that nothing wrote or reused
    /// during the last `grace`.
    pub async fn collect_garbage(&self, grace: Duration) -> Result<Collected> {
        let cutoff = chrono::Duration::from_std(grace)
            .ok()
            .and_then(|g| self.now().checked_sub_signed(g))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        // The service's clock, not the wall clock, so that a test moving time ages blocks too.
        let unused_since = SystemTime::from(self.now()).checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        // Rows first: a block that lost its last reference before the cutoff is forgotten, so a
        // later commit that reuses it inserts a fresh row.
        self.db().forget_unreferenced(cutoff).await?;
        let referenced = self.db().referenced_hashes().await?;
        let mut collected = Collected::default();
        for (hash, modified) in self.blocks().list().await? {
            collected.examined += 1;
            if referenced.contains(&hash) || modified > unused_since {
                continue;
            }
            if self.blocks().collect(hash, unused_since).await? {
                collected.blocks += 1;
            }
        }
        Ok(collected)
    }
}
