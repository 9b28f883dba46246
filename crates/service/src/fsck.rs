//! `fsck`: checks that every referenced block has its replicas with the right hash, that every
//! block file is referenced, and that the reference counts match the versions; with
//! `repair`, fixes what it found and checks again. It also recounts every user's usage
//! counters from the data itself.

use std::time::SystemTime;

use serde::Serialize;
use stratus_blob::{RepairReport, ScrubReport};

use crate::{Result, Stratus};

/// What one check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckFindings {
    /// Distinct blocks stored, and their copies.
    pub blocks: u64,
    pub copies: u64,
    /// Blocks the versions reference.
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
        let (stored, implied) = self.db().reference_counts().await?;
        for (hash, count) in &implied {
            if stored.get(hash) != Some(count) {
                let size = self.blocks().get(*hash).await.map_or(0, |b| b.len() as i64);
                self.db().fix_reference_count(*hash, *count, size, self.now()).await?;
                report.refcounts_fixed += 1;
            }
        }
        for hash in stored.keys().filter(|h| !implied.contains_key(h)) {
            if stored.get(hash).is_some_and(|n| *n > 0) {
                self.db().fix_reference_count(*hash, 0, 0, self.now()).await?;
                report.refcounts_fixed += 1;
            }
        }
        report.usage_fixed = self.db().recount_usage(true).await?.mismatched;
        // Versions' blocks, and the parts tus uploads in progress hold.
        let mut held = self.db().referenced_hashes().await?;
        held.extend(implied.keys().copied());
        report.repair = Some(self.blocks().repair(&held, false).await?);
        report.garbage_collected = self.collect_garbage(self.0.settings.gc_grace).await?.blocks;
        report.after = Some(self.fsck_findings().await?);
        Ok(report)
    }

    async fn fsck_findings(&self) -> Result<FsckFindings> {
        let audit = self.blocks().audit().await?;
        let (stored, implied) = self.db().reference_counts().await?;
        // Parts of tus uploads in progress are held, though no version names them yet.
        let held = self.db().referenced_hashes().await?;
        let unused_since = SystemTime::from(self.now()).checked_sub(self.0.settings.gc_grace);
        let mut f = FsckFindings {
            blocks: audit.copies.len() as u64,
            referenced: implied.len() as u64,
            offline_volumes: audit.offline_volumes.clone(),
            ..FsckFindings::default()
        };
        for (hash, copies) in &audit.copies {
            f.copies += copies.len() as u64;
            let good = copies.iter().filter(|c| c.good).count();
            f.corrupt_copies += (copies.len() - good) as u64;
            if implied.contains_key(hash) {
                if good < audit.targets.get(hash).copied().unwrap_or(1) {
                    f.under_replicated += 1;
                }
            } else if held.contains(hash) {
                if good == 0 {
                    f.missing += 1;
                }
            } else if copies.iter().any(|c| unused_since.is_none_or(|t| c.modified > t)) {
                f.pending_garbage += 1;
            } else {
                f.stale_garbage += 1;
            }
        }
        for hash in implied.keys() {
            if !audit.copies.get(hash).is_some_and(|c| c.iter().any(|c| c.good)) {
                f.missing += 1;
            }
        }
        let mut mismatches = implied.iter().filter(|(h, n)| stored.get(*h) != Some(*n)).count();
        mismatches += stored.iter().filter(|(h, n)| **n > 0 && !implied.contains_key(*h)).count();
        f.refcount_mismatches = mismatches as u64;
        f.usage_mismatches = self.db().recount_usage(false).await?.mismatched;
        Ok(f)
    }
}
