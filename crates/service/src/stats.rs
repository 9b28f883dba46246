//! Usage statistics for users and administrators.

use stratus_core::{DailyUsage, SystemStats, UserStats, VolumeUsage};

use crate::{Caller, Result, Stratus};

/// Days in the usage series.
const SERIES_DAYS: i64 = 90;

impl Stratus {
    /// The caller's usage: by category, in the trash, in older versions, and over time, read
    /// from the counters the database keeps in every transaction that changes them (`fsck`
    /// recounts them).
    pub async fn stats(&self, caller: &Caller) -> Result<UserStats> {
        let user = self.db().user(caller.user()).await?;
        let usage = self.db().usage(caller.user()).await?;
        let now = self.now();
        let today = now.format("%Y-%m-%d").to_string();
        let files: u64 = usage.by_category.iter().map(|c| c.files).sum();
        let mut daily =
            self.db().daily_usage(caller.user(), now - chrono::Duration::days(SERIES_DAYS - 1)).await?;
        daily.retain(|d| d.day != today);
        daily.push(DailyUsage { day: today, bytes: user.quota.used, files });
        Ok(UserStats {
            quota: user.quota,
            files,
            folders: usage.folders,
            by_category: usage.by_category,
            trash_bytes: usage.trash_bytes,
            trash_files: usage.trash_files,
            version_bytes: usage.version_bytes,
            versions: usage.versions,
            daily,
        })
    }

    /// System-wide figures (administrators only).
    pub async fn system_stats(&self, caller: &Caller) -> Result<SystemStats> {
        self.require_admin(caller).await?;
        let (users, logical_bytes, blocks, block_bytes, inline_bytes) = self.db().system_totals().await?;
        let stored_bytes = block_bytes + inline_bytes;
        let dedup_ratio = if stored_bytes == 0 { 1.0 } else { logical_bytes as f64 / stored_bytes as f64 };
        let volumes = self
            .blocks()
            .status(true)
            .await
            .into_iter()
            .map(|v| VolumeUsage {
                name: v.id,
                pool: v.pool,
                block_files: v.block_files.unwrap_or(0),
                bytes: v.block_bytes.unwrap_or(0),
                used_ratio: v.used_ratio,
            })
            .collect();
        Ok(SystemStats { users, logical_bytes, stored_bytes, inline_bytes, blocks, dedup_ratio, volumes })
    }

    /// Records today's usage of every user for the series; returns the users recorded.
    pub(crate) async fn snapshot_usage(&self) -> Result<u64> {
        Ok(self.db().snapshot_usage(self.now().date_naive()).await?)
    }
}
