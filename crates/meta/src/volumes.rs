//! The volume registry, and the reference counts `fsck` checks.

use std::{collections::HashMap, ops::RangeInclusive};

use futures_util::TryStreamExt;

use stratus_core::{BlockHash, VolumeRecord, VolumeState};

use crate::{
    Db, MetaError, Result,
    row::{decode_blocks, ms, time},
};

/// A block row whose reference count is not what the versions imply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefcountMismatch {
    pub hash: BlockHash,
    /// The row's count; `None` when the versions name a block with no row.
    pub stored: Option<i64>,
    pub implied: i64,
}

/// The key range of the shards in `shards`, `[from, to)`: an index range on a hash key, with
/// an upper bound past every hash even for shard 0xff.
pub(crate) fn shard_keys(shards: &RangeInclusive<u8>) -> (Vec<u8>, Vec<u8>) {
    let to = shards.end().checked_add(1).map_or_else(|| vec![0xff; 33], |next| vec![next]);
    (vec![*shards.start()], to)
}

impl Db {
    /// Every registered volume, oldest first (the first one's pool is the default pool).
    pub async fn volumes(&self) -> Result<Vec<VolumeRecord>> {
        let rows: Vec<(String, String, String, String, i64)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT id, pool, location, state, added_at FROM volumes ORDER BY added_at, id")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(id, pool, location, state, added)| {
                Ok(VolumeRecord {
                    id,
                    pool,
                    location,
                    state: VolumeState::parse(&state)
                        .ok_or_else(|| MetaError::corrupt(format!("volume state {state:?}")))?,
                    added_at: time(added)?,
                })
            })
            .collect()
    }

    /// Registers a volume; `NameConflict` if its id or location is taken.
    pub async fn add_volume(&self, v: &VolumeRecord) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO volumes (id, pool, location, state, added_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&v.id)
            .bind(&v.pool)
            .bind(&v.location)
            .bind(v.state.as_str())
            .bind(ms(v.added_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn set_volume_state(&self, id: &str, state: VolumeState) -> Result<()> {
        let done = on_db!(self, |pool| {
            sqlx::query("UPDATE volumes SET state = $2 WHERE id = $1")
                .bind(id)
                .bind(state.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 { Err(MetaError::NotFound) } else { Ok(()) }
    }

    pub async fn remove_volume(&self, id: &str) -> Result<()> {
        let done = on_db!(self, |pool| {
            sqlx::query("DELETE FROM volumes WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 { Err(MetaError::NotFound) } else { Ok(()) }
    }

    /// The block rows of the shards in `shards` (hashes whose first byte is in the range)
    /// whose reference count differs from what the versions imply (one per occurrence in a
    /// version's block list, as commits count them), read in one snapshot that blocks no
    /// writer. The versions are streamed; only those shards' implied counts are held, so a
    /// caller sizes the range to its memory.
    pub async fn refcount_mismatches(&self, shards: RangeInclusive<u8>) -> Result<Vec<RefcountMismatch>> {
        let (from, to) = shard_keys(&shards);
        Ok(in_snapshot!(self, |tx| {
            let mut implied: HashMap<BlockHash, i64> = HashMap::new();
            let mut lists = sqlx::query_as::<_, (Vec<u8>,)>("SELECT blocks FROM versions").fetch(&mut *tx);
            while let Some((list,)) = lists.try_next().await? {
                for hash in decode_blocks(&list)?.into_iter().filter(|h| shards.contains(&h.0[0])) {
                    *implied.entry(hash).or_default() += 1;
                }
            }
            drop(lists);
            let mut mismatches = Vec::new();
            let mut rows = sqlx::query_as::<_, (Vec<u8>, i64)>(
                "SELECT hash, refcount FROM blocks WHERE hash >= $1 AND hash < $2",
            )
            .bind(&from)
            .bind(&to)
            .fetch(&mut *tx);
            while let Some((hash, stored)) = rows.try_next().await? {
                let Some(hash) = BlockHash::from_slice(&hash) else { continue };
                let implied = implied.remove(&hash).unwrap_or(0);
                // A row at zero (or below) with no version is garbage awaiting the GC.
                if stored != implied && (implied > 0 || stored > 0) {
                    mismatches.push(RefcountMismatch { hash, stored: Some(stored), implied });
                }
            }
            drop(rows);
            mismatches.extend(implied.into_iter().map(|(hash, implied)| RefcountMismatch {
                hash,
                stored: None,
                implied,
            }));
            mismatches
        }))
    }

    /// Sets a block row's reference count to what the versions imply (fsck's repair); a
    /// block no version uses starts its GC grace period now.
    pub async fn fix_reference_count(
        &self,
        hash: BlockHash,
        count: i64,
        size: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO blocks (hash, size, refcount, created_at, unreferenced_since) \
                 VALUES ($1, $2, $3, $4, CASE WHEN $3 <= 0 THEN $4 END) \
                 ON CONFLICT (hash) DO UPDATE SET refcount = excluded.refcount, \
                 unreferenced_since = CASE WHEN excluded.refcount <= 0 THEN $4 END",
            )
            .bind(&hash.0[..])
            .bind(size)
            .bind(count)
            .bind(ms(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
