//! `fsck`: checks that every referenced block has its replicas with the right hash, that every
//! block file is referenced, and that the reference counts match the versions; with
//! `repair`, fixes what it found and checks again. It also recounts every user's usage
//! counters from the data itself.

use std::{ops::RangeInclusive, time::SystemTime};

use serde::Serialize;
use stratus_blob::{RepairReport, ScrubReport};

use crate::{Result, Stratus};

/// What one check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckFindings {
    /// Distinct blocks stored, and their copies.
    pub blocks: u64,
    pub copies: u64,
    /// Blocks that must be kept: those the versions reference, and the parts of tus uploads
    /// in progress.
    pub referenced: u64,
    /// Referenced blocks with no good copy on any online volume: data loss.
    pub missing: u64,
    /// Copies whose content does not match their hash.
    pub corrupt_copies: u64,
    /// Referenced blocks with fewer good copies than their pool's replica count.
    pub under_replicated: u64,
    /// Block files no version references that the GC will collect (an upload in flight,
    /// or one a crash cut off, within the grace period).
    pub pending_garbage: u64,
    /// Unreferenced block files older than the grace period: the GC is not keeping up.
    pub stale_garbage: u64,
    /// Block rows whose reference count differs from what the versions imply.
    pub refcount_mismatches: u64,
    /// Users whose usage counters differ from a recount of their files.
    pub usage_mismatches: u64,
    /// Small files kept in the database whose bytes no longer match their hash: data loss
    /// (there is no other copy to repair them from).
    pub corrupt_inline: u64,
    pub offline_volumes: Vec<String>,
}

impl FsckFindings {
    pub fn clean(&self) -> bool {
        self.missing == 0
            && self.corrupt_copies == 0
            && self.under_replicated == 0
            && self.stale_garbage == 0
            && self.refcount_mismatches == 0
            && self.usage_mismatches == 0
            && self.corrupt_inline == 0
            && self.offline_volumes.is_empty()
    }
}

/// What `fsck` found, what it repaired, and what it finds after the repair.
#[derive(Debug, Clone, Serialize)]
pub struct FsckReport {
    pub found: FsckFindings,
    pub scrub: Option<ScrubReport>,
    pub repair: Option<RepairReport>,
    pub refcounts_fixed: u64,
    /// Users whose usage counters were set to the recount.
    pub usage_fixed: u64,
    pub garbage_collected: u64,
    pub after: Option<FsckFindings>,
}

impl FsckReport {
    /// Clean as found, or clean after the repair.
    pub fn clean(&self) -> bool {
        self.after.as_ref().unwrap_or(&self.found).clean()
    }
}

/// Distinct blocks whose implied reference counts one pass of the refcount check holds
/// (about 50 bytes each): the check takes as many passes over the versions as it needs to
/// stay under this.
const REFCOUNT_PASS_BLOCKS: u64 = 250_000;

/// Inlined files read per query by the check of their bytes (at most 64 KiB each).
const INLINE_PAGE: i64 = 256;

/// The shards of each pass of the refcount check over `blocks` distinct blocks: consecutive
/// ranges covering every shard, each expected to hold at most `per_pass` blocks (hashes
/// spread evenly over the shards).
fn refcount_passes(blocks: u64, per_pass: u64) -> Vec<RangeInclusive<u8>> {
    let shards = stratus_blob::shards().count() as u64;
    let per_range = (shards * per_pass.max(1) / blocks.max(1)).clamp(1, shards);
    stratus_blob::shards()
        .step_by(per_range as usize)
        .map(|first| first..=u8::try_from(u64::from(first) + per_range - 1).unwrap_or(u8::MAX))
        .collect()
}

impl Stratus {
    pub async fn fsck(&self, repair: bool) -> Result<FsckReport> {
        self.sync_volumes().await?;
        let found = self.fsck_findings().await?;
        let mut report = FsckReport {
            found,
            scrub: None,
            repair: None,
            refcounts_fixed: 0,
            usage_fixed: 0,
            garbage_collected: 0,
            after: None,
        };
        if !repair || report.found.clean() {
            return Ok(report);
        }
        report.scrub = Some(self.blocks().scrub(None, |_| {}).await?);
        for shards in self.refcount_passes().await? {
            for m in self.db().refcount_mismatches(shards).await? {
                // A row the versions need but lost is recreated with the block's size.
                let size = match m.stored {
                    Some(_) => 0,
                    None => self.blocks().get(m.hash).await.map_or(0, |b| b.len() as i64),
                };
                self.db().fix_reference_count(m.hash, m.implied, size, self.now()).await?;
                report.refcounts_fixed += 1;
            }
        }
        report.usage_fixed = self.db().recount_usage(true).await?.mismatched;
        report.repair = Some(self.repair(false).await?);
        report.garbage_collected = self.collect_garbage(self.0.settings.gc_grace).await?.blocks;
        report.after = Some(self.fsck_findings().await?);
        Ok(report)
    }

    async fn refcount_passes(&self) -> Result<Vec<RangeInclusive<u8>>> {
        let (blocks, _) = self.db().block_totals().await?;
        Ok(refcount_passes(blocks, REFCOUNT_PASS_BLOCKS))
    }

    /// A shard at a time: that shard's kept blocks and its verified copies, so memory holds
    /// 1/256 of the store; then the reference counts, in passes sized to memory.
    async fn fsck_findings(&self) -> Result<FsckFindings> {
        let unused_since = SystemTime::from(self.now()).checked_sub(self.0.settings.gc_grace);
        let mut f = FsckFindings::default();
        for shard in stratus_blob::shards() {
            // Versions' blocks and the parts of tus uploads in progress.
            let kept = self.db().referenced_hashes_in(shard).await?;
            let audit = self.blocks().audit_shard(shard).await?;
            f.referenced += kept.len() as u64;
            f.blocks += audit.copies.len() as u64;
            f.offline_volumes = audit.offline_volumes;
            for (hash, copies) in &audit.copies {
                f.copies += copies.len() as u64;
                let good = copies.iter().filter(|c| c.good).count();
                f.corrupt_copies += (copies.len() - good) as u64;
                if kept.contains(hash) {
                    if good < audit.targets.get(hash).copied().unwrap_or(1) {
                        f.under_replicated += 1;
                    }
                } else if copies.iter().any(|c| unused_since.is_none_or(|t| c.modified > t)) {
                    f.pending_garbage += 1;
                } else {
                    f.stale_garbage += 1;
                }
            }
            let has_good = |h| audit.copies.get(h).is_some_and(|c| c.iter().any(|c| c.good));
            f.missing += kept.iter().filter(|h| !has_good(h)).count() as u64;
        }
        for shards in self.refcount_passes().await? {
            f.refcount_mismatches += self.db().refcount_mismatches(shards).await?.len() as u64;
        }
        f.usage_mismatches = self.db().recount_usage(false).await?.mismatched;
        f.corrupt_inline = self.corrupt_inline().await?;
        Ok(f)
    }

    /// Reads every inlined small file, a page at a time, as a download would verify it.
    async fn corrupt_inline(&self) -> Result<u64> {
        let (mut after, mut corrupt) = (String::new(), 0);
        loop {
            let page = self.db().inline_contents_after(&after, INLINE_PAGE).await?;
            let Some((last, _)) = page.last() else { return Ok(corrupt) };
            after = last.clone();
            for (_, content) in page {
                if crate::files::verified_inline(self.blocks(), &content).is_err() {
                    corrupt += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::refcount_passes;

    #[test]
    fn refcount_passes_cover_every_shard_once_and_split_as_the_store_grows() {
        for (blocks, per_pass, passes) in
            [(0, 10, 1), (10, 10, 1), (11, 10, 2), (2560, 10, 256), (1 << 40, 10, 256)]
        {
            let ranges = refcount_passes(blocks, per_pass);
            assert_eq!(ranges.len(), passes, "{blocks} blocks, {per_pass} a pass");
            let shards: Vec<u8> = ranges.into_iter().flatten().collect();
            assert_eq!(shards, (0..=u8::MAX).collect::<Vec<_>>(), "{blocks} blocks");
        }
    }
}
