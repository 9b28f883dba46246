//! Garbage collection of blocks: those whose last reference went away, and those an upload
//! wrote but never committed (it was cut off, or its process died). Both wait out a grace
//! period, so an upload in flight never loses a block it is about to reference.

use std::time::{Duration, SystemTime};

pub use stratus_blob::Collected;

use crate::{Result, Stratus};

impl Stratus {
    /// Deletes every block file (on every volume) that no version references and that nothing wrote or reused
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
        self.blocks().remove_stale_temp().await?;
        // A shard at a time: the referenced hashes of one shard, then its block files.
        let mut collected = Collected::default();
        for shard in stratus_blob::shards() {
            let referenced = self.db().referenced_hashes_in(shard).await?;
            let done = self.blocks().collect_garbage(shard, &referenced, unused_since).await?;
            collected.blocks += done.blocks;
            collected.examined += done.examined;
        }
        Ok(collected)
    }
}
