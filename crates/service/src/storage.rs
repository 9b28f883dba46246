//! Storage administration: the volume registry (in the database, so every server process
//! and `stratus admin` see one list), which pool a user's blocks go to, and the maintenance
//! sweeps run as jobs.

use serde::Serialize;
use stratus_blob::{RepairReport, ScrubReport, VolumeStatus};
use stratus_core::{UserId, VolumeRecord, VolumeState, pool_for_quota};
use utoipa::ToSchema;

use crate::{Caller, Result, ServiceError, Stratus};

/// The volumes and what administrators should know about them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StorageOverview {
    pub volumes: Vec<VolumeStatus>,
    /// Copies kept of each block (fewer in a pool with fewer volumes).
    pub replicas: usize,
    /// Human-readable warnings: volumes past 85 %, offline volumes.
    pub warnings: Vec<String>,
    /// Corrupt copies met by reads since the process started.
    pub read_faults: u64,
    /// Of those, rewritten from a good copy at once.
    pub read_repairs: u64,
    /// Blocks stored with fewer copies than their replica count, for want of room.
    pub degraded_writes: u64,
}

impl Stratus {
    /// The pool new blocks of `owner` go to, by the tier of their quota.
    pub(crate) async fn pool_of(&self, owner: UserId) -> Result<String> {
        let quota = self.db().user(owner).await?.quota;
        Ok(self.pool_for_limit(quota.limit))
    }

    /// The pool new blocks of an owner whose quota is `limit` go to.
    pub(crate) fn pool_for_limit(&self, limit: u64) -> String {
        pool_for_quota(&self.0.settings.tiers, limit).unwrap_or("A").to_string()
    }

    /// Re-reads the volume registry and brings the block store in line (new volumes opened,
    /// dead ones taken offline); warns once about each volume past 85 %.
    pub async fn sync_volumes(&self) -> Result<()> {
        self.blocks().apply(self.db().volumes().await?).await;
        let status = self.blocks().status(false).await;
        let mut warned = self.0.warned_full.lock().unwrap_or_else(|p| p.into_inner());
        for v in &status {
            if v.nearly_full && warned.insert(v.id.clone()) {
                let used = v.used_ratio.unwrap_or(0.0) * 100.0;
                tracing::warn!(volume = %v.id, pool = %v.pool, "volume is {used:.0}% full");
            } else if !v.nearly_full {
                warned.remove(&v.id);
            }
        }
        Ok(())
    }

    /// Registers the volumes the configuration names that are not registered yet (by
    /// location), then loads the registry. With none configured and none registered, the
    /// `default` volume is used.
    pub async fn register_configured(
        &self,
        configured: &[(String, String)],
        default: (String, String),
    ) -> Result<()> {
        let known = self.db().volumes().await?;
        let wanted: Vec<_> =
            if configured.is_empty() && known.is_empty() { vec![default] } else { configured.to_vec() };
        for (pool, location) in wanted {
            if known.iter().any(|v| v.location == location) {
                continue;
            }
            // Nodes starting together race to register the same volume: whoever loses finds
            // it registered (by location) and goes on; a clash on the id alone is retried.
            let mut tries = 0;
            loop {
                match self.add_volume(&pool, &location).await {
                    Ok(_) => break,
                    Err(err) => {
                        let normalised = normalise_location(&location)?;
                        if self.db().volumes().await?.iter().any(|v| v.location == normalised) {
                            break;
                        }
                        tries += 1;
                        if tries >= 5 {
                            return Err(err);
                        }
                    }
                }
            }
        }
        self.sync_volumes().await
    }

    /// Every volume with its state, capacity, use and health.
    pub async fn storage_overview(&self, count_blocks: bool) -> Result<StorageOverview> {
        self.sync_volumes().await?;
        Ok(self.storage_gauges(count_blocks).await)
    }

    /// The overview as this process last saw the registry (no database round trip: for
    /// `/metrics`).
    pub async fn storage_gauges(&self, count_blocks: bool) -> StorageOverview {
        let volumes = self.blocks().status(count_blocks).await;
        let mut warnings = Vec::new();
        for v in &volumes {
            if let Some(problem) = &v.problem {
                warnings.push(format!("volume {} is offline: {problem}", v.id));
            } else if v.full {
                warnings.push(format!("volume {} is full: it takes no new blocks", v.id));
            } else if v.nearly_full {
                let used = v.used_ratio.unwrap_or(0.0) * 100.0;
                warnings.push(format!("volume {} is {used:.0}% full", v.id));
            }
        }
        let counters = self.blocks().counters();
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        StorageOverview {
            volumes,
            replicas: self.blocks().replicas(),
            warnings,
            read_faults: load(&counters.read_faults),
            read_repairs: load(&counters.read_repairs),
            degraded_writes: load(&counters.degraded_writes),
        }
    }

    pub async fn storage_overview_for(&self, caller: &Caller) -> Result<StorageOverview> {
        self.require_admin(caller).await?;
        self.storage_overview(true).await
    }

    /// Adds a volume at runtime: its directory (or bucket) is initialised and checked before
    /// it is registered; every server process picks it up on its next registry sync.
    pub async fn add_volume(&self, pool: &str, location: &str) -> Result<VolumeRecord> {
        if pool.is_empty() || pool.len() > 32 || !pool.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ServiceError::invalid("invalid_pool", "a pool name is 1–32 letters, digits or '-'"));
        }
        let location = normalise_location(location)?;
        let known = self.db().volumes().await?;
        if known.iter().any(|v| v.location == location) {
            return Err(ServiceError::Conflict {
                code: "volume_exists",
                message: format!("{location} is already a volume"),
            });
        }
        let id = (1..)
            .map(|n| format!("{pool}{n}"))
            .find(|id| !known.iter().any(|v| &v.id == id))
            .unwrap_or_else(|| pool.to_string());
        let record = VolumeRecord {
            id,
            pool: pool.to_string(),
            location,
            state: VolumeState::Active,
            added_at: self.now(),
        };
        self.blocks().prepare(&record).await.map_err(|err| {
            ServiceError::invalid("volume_unusable", format!("{} cannot be used: {err}", record.location))
        })?;
        self.db().add_volume(&record).await?;
        self.sync_volumes().await?;
        tracing::info!(volume = %record.id, pool, location = %record.location, "volume added");
        Ok(record)
    }

    pub async fn add_volume_for(&self, caller: &Caller, pool: &str, location: &str) -> Result<VolumeStatus> {
        self.require_admin(caller).await?;
        let added = self.add_volume(pool, location).await;
        let target = added.as_ref().map(|r| r.id.clone()).unwrap_or_else(|_| location.to_string());
        self.audit(
            &caller.into(),
            "admin_volume_added",
            Some(target),
            added.is_ok(),
            Some(format!("pool {pool}")),
        )
        .await;
        self.volume_status(&added?.id).await
    }

    async fn volume_status(&self, id: &str) -> Result<VolumeStatus> {
        let all = self.blocks().status(true).await;
        all.into_iter().find(|v| v.id == id).ok_or(ServiceError::NotFound)
    }

    /// Marks a volume active, read-only or draining (the drain job then empties it).
    pub async fn set_volume_state(&self, id: &str, state: VolumeState) -> Result<()> {
        let volumes = self.db().volumes().await?;
        let writable = volumes.iter().filter(|v| v.id != id && v.state == VolumeState::Active).count();
        if state != VolumeState::Active && writable == 0 {
            return Err(ServiceError::Conflict {
                code: "last_writable_volume",
                message: "at least one volume must stay active to take new blocks".into(),
            });
        }
        self.db().set_volume_state(id, state).await?;
        self.sync_volumes().await
    }

    pub async fn set_volume_state_for(
        &self,
        caller: &Caller,
        id: &str,
        state: VolumeState,
    ) -> Result<VolumeStatus> {
        self.require_admin(caller).await?;
        let changed = self.set_volume_state(id, state).await;
        let detail = Some(format!("state {}", state.as_str()));
        self.audit(&caller.into(), "admin_volume_changed", Some(id.to_string()), changed.is_ok(), detail)
            .await;
        changed?;
        self.volume_status(id).await
    }

    /// Unregisters a volume. An online one must be empty (drain it first); an offline one
    /// (a dead disk) only with `force`, after which the repair job restores the replica count
    /// of its blocks from the other volumes.
    pub async fn remove_volume(&self, id: &str, force: bool) -> Result<()> {
        self.sync_volumes().await?;
        let status = self.blocks().status(true).await;
        let volume = status.iter().find(|v| v.id == id).ok_or(ServiceError::NotFound)?;
        if status.iter().all(|v| v.id == id || v.state != VolumeState::Active) {
            return Err(ServiceError::Conflict {
                code: "last_writable_volume",
                message: "at least one other volume must be active before this one goes".into(),
            });
        }
        match volume.block_files {
            Some(0) => {}
            Some(n) => {
                return Err(ServiceError::Conflict {
                    code: "volume_not_empty",
                    message: format!("volume {id} still holds {n} blocks: drain it first"),
                });
            }
            None if !force => {
                return Err(ServiceError::Conflict {
                    code: "volume_offline",
                    message: format!("volume {id} is offline; remove it with force to give up its copies"),
                });
            }
            None => {}
        }
        self.db().remove_volume(id).await?;
        tracing::info!(volume = %id, "volume removed");
        self.sync_volumes().await
    }

    pub async fn remove_volume_for(&self, caller: &Caller, id: &str, force: bool) -> Result<()> {
        self.require_admin(caller).await?;
        let removed = self.remove_volume(id, force).await;
        let detail = force.then(|| "forced".to_string());
        self.audit(&caller.into(), "admin_volume_removed", Some(id.to_string()), removed.is_ok(), detail)
            .await;
        removed
    }

    /// Scrub: re-hash every copy (at the configured rate), repair from good copies.
    pub(crate) async fn scrub(&self, progress: impl Fn(&ScrubReport)) -> Result<ScrubReport> {
        self.sync_volumes().await?;
        Ok(self.blocks().scrub(self.0.settings.scrub_rate, progress).await?)
    }

    /// Repair (every block) or drain (the blocks on draining volumes).
    pub(crate) async fn repair(&self, only_draining: bool) -> Result<RepairReport> {
        self.sync_volumes().await?;
        if only_draining && !self.db().volumes().await?.iter().any(|v| v.state == VolumeState::Draining) {
            return Ok(RepairReport::default());
        }
        // A shard at a time: the referenced hashes of one shard, then that shard's copies.
        let mut report = RepairReport::default();
        for shard in stratus_blob::shards() {
            let expected = self.db().referenced_hashes_in(shard).await?;
            self.blocks().repair_shard(shard, &expected, only_draining, &mut report).await?;
        }
        self.blocks().finish_repair(&mut report).await?;
        for id in &report.drained {
            tracing::info!(volume = %id, "volume drained: it holds no block and can be removed");
        }
        Ok(report)
    }
}

/// A location as registered: `s3://…` as given, a path made absolute (not resolved through
/// symlinks: a mount point stays what the operator named).
fn normalise_location(location: &str) -> Result<String> {
    let location = location.trim();
    if location.is_empty() {
        return Err(ServiceError::invalid("invalid_location", "a volume needs a path or an s3:// location"));
    }
    if location.starts_with("s3://") {
        return Ok(location.trim_end_matches('/').to_string());
    }
    let path = std::path::absolute(location)
        .map_err(|e| ServiceError::invalid("invalid_location", format!("{location}: {e}")))?;
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| ServiceError::invalid("invalid_location", "a volume path must be UTF-8"))
}
