//! The volume registry, and the reference counts `fsck` checks.

use std::collections::HashMap;

use stratus_core::{BlockHash, VolumeRecord, VolumeState};

use crate::{
    Db, MetaError, Result,
    row::{decode_blocks, ms, time},
};

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

    /// The reference count each block row holds, and the count the versions imply (one per
    /// occurrence in a version's block list, as commits count them).
    pub async fn reference_counts(&self) -> Result<(HashMap<BlockHash, i64>, HashMap<BlockHash, i64>)> {
        type Rows = (Vec<(Vec<u8>, i64)>, Vec<(Vec<u8>,)>);
        let (rows, lists): Rows = on_db!(self, |pool| {
            let rows = sqlx::query_as("SELECT hash, refcount FROM blocks").fetch_all(pool).await?;
            let lists = sqlx::query_as("SELECT blocks FROM versions").fetch_all(pool).await?;
            (rows, lists)
        });
        let stored = rows.iter().filter_map(|(h, n)| Some((BlockHash::from_slice(h)?, *n))).collect();
        let mut implied: HashMap<BlockHash, i64> = HashMap::new();
        for (list,) in &lists {
            for hash in decode_blocks(list)? {
                *implied.entry(hash).or_default() += 1;
            }
        }
        Ok((stored, implied))
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
