//! Sweeps over every copy of every block: garbage collection, scrub (re-hash and repair),
//! repair and drain (restore each block's replica count, moving blocks off draining
//! volumes), and the audit `fsck` builds on. The caller says which blocks matter (the
//! metadata's references); this crate still knows nothing of users or files.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use stratus_core::{BlockHash, VolumeState};

use crate::{
    BlobError, BlockStore, Result,
    store::{Mounted, write_copies},
};

/// Copies read and verified at once by scrub and audit: enough to keep both cores hashing
/// while the disk reads the next.
const READ_AHEAD: usize = 3;

/// What one garbage collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Block files deleted.
    pub blocks: u64,
    /// Block files looked at.
    pub examined: u64,
}

/// What a scrub found and fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ScrubReport {
    pub copies_checked: u64,
    pub bytes_checked: u64,
    pub corrupt: u64,
    pub repaired: u64,
    /// Corrupt copies with no good copy anywhere to repair them from.
    pub unrepairable: u64,
    pub offline_volumes: Vec<String>,
}

/// What a repair (or drain) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RepairReport {
    pub blocks: u64,
    pub copies_made: u64,
    /// Copies deleted from draining volumes once enough copies were elsewhere.
    pub moved_off_draining: u64,
    /// Blocks still on fewer volumes than their pool's replica count (no room).
    pub under_replicated: u64,
    /// Blocks the caller expects that have no good copy on any online volume.
    pub lost: u64,
    /// Draining volumes that now hold no block: they can be removed.
    pub drained: Vec<String>,
    pub offline_volumes: Vec<String>,
}

/// One copy of a block, as an audit saw it.
#[derive(Debug, Clone)]
pub struct CopySeen {
    pub volume: String,
    pub good: bool,
    pub modified: SystemTime,
}

/// Every copy of one shard's blocks on the online volumes, each verified.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    pub copies: HashMap<BlockHash, Vec<CopySeen>>,
    /// How many good copies each block should have.
    pub targets: HashMap<BlockHash, usize>,
    pub offline_volumes: Vec<String>,
}

impl BlockStore {
    /// Removes temporary files a crash left long ago, on every online volume.
    pub async fn remove_stale_temp(&self) -> Result<u64> {
        let mut removed = 0;
        for m in self.snapshot().iter() {
            if let Some(backend) = m.online() {
                removed += backend.remove_stale_temp().await?;
            }
        }
        Ok(removed)
    }

    /// Deletes every block file of `shard` not in `keep` (that shard's referenced blocks) that
    /// nothing wrote or reused since `unused_since`, on every online volume.
    pub async fn collect_garbage(
        &self,
        shard: u8,
        keep: &HashSet<BlockHash>,
        unused_since: SystemTime,
    ) -> Result<Collected> {
        let mut collected = Collected::default();
        for m in self.snapshot().iter() {
            let Some(backend) = m.online() else { continue };
            for (hash, modified) in backend.list_shard(shard).await? {
                collected.examined += 1;
                if keep.contains(&hash) || modified > unused_since {
                    continue;
                }
                if backend.collect(hash, unused_since).await? {
                    collected.blocks += 1;
                }
            }
        }
        Ok(collected)
    }

    /// The stored bytes of a good copy on any online volume but `except`.
    async fn good_copy(&self, volumes: &[Arc<Mounted>], hash: BlockHash, except: &str) -> Option<Bytes> {
        for m in volumes.iter().filter(|m| m.record.id != except) {
            if let Some(backend) = m.online()
                && let Ok(Some((_, stored))) = self.read_copy(backend, hash).await
            {
                return Some(stored);
            }
        }
        None
    }

    /// Re-hashes every copy on every online volume, at most `rate` bytes a second, and
    /// rewrites each corrupt copy from a good one. A copy with no good twin is reported,
    /// never deleted. `progress` hears a line now and then.
    pub async fn scrub(&self, rate: Option<u64>, progress: impl Fn(&ScrubReport)) -> Result<ScrubReport> {
        let volumes = self.snapshot();
        let mut report = ScrubReport::default();
        let started = Instant::now();
        for m in volumes.iter() {
            let Some(backend) = m.online() else {
                report.offline_volumes.push(m.record.id.clone());
                continue;
            };
            // A shard at a time: one shard's listing in memory, never the whole volume's.
            for shard in crate::shards() {
                let listed = backend.list_shard(shard).await?;
                let mut reads = stream::iter(listed)
                    .map(|(hash, _)| async move { (hash, self.read_copy(backend, hash).await) })
                    .buffered(READ_AHEAD);
                while let Some((hash, read)) = reads.next().await {
                    match read {
                        Ok(Some((plain, _))) => report.bytes_checked += plain.len() as u64,
                        // Collected since the listing.
                        Ok(None) => continue,
                        Err(BlobError::Corrupt(_)) => {
                            report.corrupt += 1;
                            tracing::warn!(volume = %m.record.id, %hash, "scrub: corrupt copy");
                            let fixed = match self.good_copy(&volumes, hash, &m.record.id).await {
                                Some(stored) => backend.write(hash, stored).await.is_ok(),
                                None => false,
                            };
                            if fixed {
                                report.repaired += 1;
                            } else {
                                report.unrepairable += 1;
                                tracing::error!(volume = %m.record.id, %hash, "scrub: no good copy to repair from");
                            }
                        }
                        Err(err) => return Err(err),
                    }
                    report.copies_checked += 1;
                    if report.copies_checked % 64 == 0 {
                        progress(&report);
                    }
                    if let Some(rate) = rate.filter(|r| *r > 0) {
                        let due = Duration::from_secs_f64(report.bytes_checked as f64 / rate as f64);
                        if let Some(ahead) = due.checked_sub(started.elapsed()) {
                            tokio::time::sleep(ahead).await;
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// Brings every block of `shard` back to its pool's replica count from a verified copy,
    /// and moves blocks off draining volumes (a draining copy is deleted only once a verified
    /// copy is elsewhere). With `only_draining`, looks at the blocks on draining volumes only.
    /// Blocks in `expected` (that shard's referenced blocks) found nowhere are counted as
    /// lost; adds to `report`. A sweep calls it for every shard, then
    /// [`BlockStore::finish_repair`].
    pub async fn repair_shard(
        &self,
        shard: u8,
        expected: &HashSet<BlockHash>,
        only_draining: bool,
        report: &mut RepairReport,
    ) -> Result<()> {
        let volumes = self.snapshot();
        let mut index: HashMap<BlockHash, Vec<usize>> = HashMap::new();
        for (i, m) in volumes.iter().enumerate() {
            let Some(backend) = m.online() else { continue };
            for (hash, _) in backend.list_shard(shard).await? {
                index.entry(hash).or_default().push(i);
            }
        }
        let draining = |i: &usize| volumes[*i].record.state == VolumeState::Draining;
        if only_draining {
            index.retain(|_, holders| holders.iter().any(draining));
        } else {
            for hash in expected {
                index.entry(*hash).or_default();
            }
        }
        for (hash, holders) in index {
            report.blocks += 1;
            let (on_draining, good): (Vec<usize>, Vec<usize>) = holders.iter().partition(|i| draining(i));
            let Some(&first) = good.first().or(on_draining.first()) else {
                report.lost += u64::from(expected.contains(&hash));
                continue;
            };
            let pool = BlockStore::resolve_pool(&volumes, &volumes[first].record.pool);
            let target = self.target(&volumes, &pool);
            if good.len() >= target && on_draining.is_empty() {
                // Healthy: nothing to copy or move (the scrub is what re-reads everything).
                continue;
            }
            // A verified copy: needed to make copies, and before deleting a draining one.
            let mut verified = None;
            for &i in good.iter().chain(&on_draining) {
                if let Some(backend) = volumes[i].online()
                    && let Ok(Some((_, stored))) = self.read_copy(backend, hash).await
                {
                    verified = Some((i, stored));
                    break;
                }
            }
            let Some((source, stored)) = verified else {
                report.lost += 1;
                tracing::error!(%hash, "repair: no good copy of this block on any volume");
                continue;
            };
            let mut copies = good.len();
            if copies < target {
                let candidates: Vec<_> = BlockStore::writable(&volumes, &pool)
                    .await
                    .into_iter()
                    .filter(|m| !holders.iter().any(|&i| volumes[i].record.id == m.record.id))
                    .collect();
                let (written, _) = write_copies(candidates, target - copies, hash, stored).await;
                report.copies_made += written as u64;
                copies += written;
            }
            if copies < target {
                report.under_replicated += 1;
            }
            // The copies just written came from verified bytes.
            let verified_elsewhere = copies > good.len() || !on_draining.contains(&source);
            if copies > 0 && verified_elsewhere {
                for &i in &on_draining {
                    if let Some(backend) = volumes[i].online()
                        && backend.remove(hash).await?
                    {
                        report.moved_off_draining += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends a repair: names the offline volumes, and the draining ones that now hold nothing.
    pub async fn finish_repair(&self, report: &mut RepairReport) -> Result<()> {
        for m in self.snapshot().iter() {
            match m.online() {
                None => report.offline_volumes.push(m.record.id.clone()),
                Some(backend) if m.record.state == VolumeState::Draining && backend.is_empty().await? => {
                    report.drained.push(m.record.id.clone());
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Reads and verifies every copy of `shard`'s blocks on every online volume: a sweep
    /// calls it for each shard, holding one shard's copies at a time.
    pub async fn audit_shard(&self, shard: u8) -> Result<Audit> {
        let volumes = self.snapshot();
        let mut audit = Audit::default();
        for m in volumes.iter() {
            let Some(backend) = m.online() else {
                audit.offline_volumes.push(m.record.id.clone());
                continue;
            };
            let listed = backend.list_shard(shard).await?;
            let mut reads = stream::iter(listed)
                .map(|(hash, modified)| async move { (hash, modified, self.read_copy(backend, hash).await) })
                .buffered(READ_AHEAD);
            while let Some((hash, modified, read)) = reads.next().await {
                let good = match read {
                    Ok(Some(_)) => true,
                    Ok(None) => continue,
                    Err(BlobError::Corrupt(_)) => false,
                    Err(err) => return Err(err),
                };
                audit.copies.entry(hash).or_default().push(CopySeen {
                    volume: m.record.id.clone(),
                    good,
                    modified,
                });
            }
        }
        for (hash, copies) in &audit.copies {
            let holder = copies
                .iter()
                .filter_map(|c| volumes.iter().find(|m| m.record.id == c.volume))
                .find(|m| m.record.state != VolumeState::Draining);
            let pool = holder.map_or_else(String::new, |m| m.record.pool.clone());
            let pool = BlockStore::resolve_pool(&volumes, &pool);
            audit.targets.insert(*hash, self.target(&volumes, &pool));
        }
        Ok(audit)
    }
}
