//! Volumes and pools: where blocks live, and which pool a user's plan sends new blocks to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an administrator allows a volume to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VolumeState {
    /// Takes new blocks and serves reads.
    Active,
    /// Serves reads; takes no new blocks.
    ReadOnly,
    /// Serves reads while the drain job moves every block elsewhere; then it can be removed.
    Draining,
}

impl VolumeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::ReadOnly => "read_only",
            Self::Draining => "draining",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "read_only" | "readonly" => Some(Self::ReadOnly),
            "draining" => Some(Self::Draining),
            _ => None,
        }
    }
}

/// A registered volume: a directory (one per disk) or an S3 bucket (`s3://bucket/prefix`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VolumeRecord {
    pub id: String,
    pub pool: String,
    pub location: String,
    pub state: VolumeState,
    pub added_at: DateTime<Utc>,
}

/// One step of the tier map: quotas of at least `min_gb` GB send new blocks to `pool`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub min_gb: u64,
    pub pool: String,
}

/// The seed's disk categories: free → A, 10–24 GB → B, 25–49 → C, 50–74 → D, 75–100 → E.
pub fn default_tiers() -> Vec<Tier> {
    [(0, "A"), (10, "B"), (25, "C"), (50, "D"), (75, "E")]
        .into_iter()
        .map(|(min_gb, pool)| Tier { min_gb, pool: pool.to_string() })
        .collect()
}

/// The pool a quota of `quota_bytes` belongs to (a GB being 2^30 bytes, as the free 1 GB is).
pub fn pool_for_quota(tiers: &[Tier], quota_bytes: u64) -> Option<&str> {
    let gb = quota_bytes >> 30;
    tiers.iter().filter(|t| t.min_gb <= gb).max_by_key(|t| t.min_gb).map(|t| t.pool.as_str())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quotas_map_to_the_seed_categories() {
        let tiers = default_tiers();
        let gb = |n: u64| n << 30;
        for (quota, pool) in [
            (gb(1), "A"),
            (gb(9), "A"),
            (gb(10), "B"),
            (gb(24), "B"),
            (gb(25), "C"),
            (gb(74), "D"),
            (gb(100), "E"),
        ] {
            assert_eq!(pool_for_quota(&tiers, quota), Some(pool), "{quota}");
        }
        assert_eq!(pool_for_quota(&[], gb(1)), None);
    }
}
