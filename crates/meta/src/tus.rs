//! tus uploads in progress.

use chrono::{DateTime, Utc};
use stratus_core::{BlockHash, ConflictPolicy, NodeId, UserId, VersionId};

use crate::{
    Db, MetaError, Result,
    row::{id, ms, size, time},
};

#[derive(Debug, Clone)]
pub struct TusUpload {
    pub id: VersionId,
    pub owner: UserId,
    pub created_by: UserId,
    pub parent: NodeId,
    pub name: String,
    pub policy: ConflictPolicy,
    /// `None` until the client tells it (deferred length).
    pub length: Option<u64>,
    pub offset: u64,
    /// Quota reserved for it so far.
    pub reserved: u64,
    pub expires_at: DateTime<Utc>,
}

fn big(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| MetaError::Invalid("too large"))
}

impl Db {
    pub async fn insert_tus(&self, t: &TusUpload, now: DateTime<Utc>) -> Result<()> {
        let length = t.length.map(big).transpose()?;
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO tus_uploads (id, owner_id, created_by, parent_id, name, on_conflict, length, \
                 reserved, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(t.id.to_string())
            .bind(t.owner.to_string())
            .bind(t.created_by.to_string())
            .bind(t.parent.to_string())
            .bind(&t.name)
            .bind(t.policy.as_str())
            .bind(length)
            .bind(big(t.reserved)?)
            .bind(ms(now))
            .bind(ms(t.expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn tus(&self, upload: VersionId) -> Result<TusUpload> {
        type Row = (String, String, String, String, String, Option<i64>, i64, i64, i64);
        let (owner, by, parent, name, policy, length, offset, reserved, expires): Row =
            on_db!(self, |pool| {
                sqlx::query_as(
                "SELECT owner_id, created_by, parent_id, name, on_conflict, length, upload_offset, reserved, \
                 expires_at FROM tus_uploads WHERE id = $1",
            )
            .bind(upload.to_string())
            .fetch_one(pool)
            .await?
            });
        Ok(TusUpload {
            id: upload,
            owner: id(&owner)?,
            created_by: id(&by)?,
            parent: id(&parent)?,
            name,
            policy: ConflictPolicy::parse(&policy).ok_or_else(|| MetaError::corrupt(&policy))?,
            length: length.map(size).transpose()?,
            offset: size(offset)?,
            reserved: size(reserved)?,
            expires_at: time(expires)?,
        })
    }

    /// Claims the upload for one PATCH at `offset`: only when the offset is still there and no
    /// other PATCH holds an unexpired claim. False otherwise. This compare-and-set comes before
    /// any byte is written, so two PATCHes never interleave, whichever nodes they reach.
    pub async fn claim_tus(
        &self,
        upload: VersionId,
        offset: u64,
        claim: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_db!(self, |pool| {
            sqlx::query(
                "UPDATE tus_uploads SET claim = $3, claim_expires = $4 WHERE id = $1 AND upload_offset = $2 \
                 AND (claim IS NULL OR claim_expires < $5)",
            )
            .bind(upload.to_string())
            .bind(big(offset)?)
            .bind(claim)
            .bind(ms(until))
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// Records `parts` (start offset, length, block) stored from `from` on, moves the offset past
    /// them and records the length and reservation — only while `claim` holds the upload at
    /// `from`. `release` ends the claim (the PATCH is over); otherwise it runs until `until`.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_tus_parts(
        &self,
        upload: VersionId,
        claim: &str,
        from: u64,
        parts: &[(u64, u64, BlockHash)],
        length: Option<u64>,
        reserved: u64,
        release: bool,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let to = from + parts.iter().map(|(_, len, _)| len).sum::<u64>();
        let length = length.map(big).transpose()?;
        let id = upload.to_string();
        in_tx!(self, |tx| {
            let moved = sqlx::query(
                "UPDATE tus_uploads SET upload_offset = $3, length = COALESCE(length, $4), reserved = $5, \
                 claim = CASE WHEN $6 THEN NULL ELSE claim END, claim_expires = $7 \
                 WHERE id = $1 AND upload_offset = $2 AND claim = $8",
            )
            .bind(&id)
            .bind(big(from)?)
            .bind(big(to)?)
            .bind(length)
            .bind(big(reserved)?)
            .bind(release)
            .bind(ms(until))
            .bind(claim)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 0 {
                return Ok(false);
            }
            for (start, len, hash) in parts {
                sqlx::query(
                    "INSERT INTO tus_parts (upload_id, start_offset, length, hash) VALUES ($1, $2, $3, $4)",
                )
                .bind(&id)
                .bind(big(*start)?)
                .bind(big(*len)?)
                .bind(&hash.0[..])
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(true)
    }

    /// The stored parts of an upload, in order: (start offset, length, block).
    pub async fn tus_parts(&self, upload: VersionId) -> Result<Vec<(u64, u64, BlockHash)>> {
        let rows: Vec<(i64, i64, Vec<u8>)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT start_offset, length, hash FROM tus_parts WHERE upload_id = $1 ORDER BY start_offset",
            )
            .bind(upload.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(start, len, hash)| {
                let hash = BlockHash::from_slice(&hash).ok_or_else(|| MetaError::corrupt("tus part hash"))?;
                Ok((size(start)?, size(len)?, hash))
            })
            .collect()
    }

    pub async fn delete_tus(&self, upload: VersionId) -> Result<bool> {
        Ok(on_db!(self, |pool| {
            sqlx::query("DELETE FROM tus_uploads WHERE id = $1")
                .bind(upload.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        }) > 0)
    }

    /// tus uploads that expired before `now`.
    pub async fn expired_tus(&self, now: DateTime<Utc>) -> Result<Vec<VersionId>> {
        let rows: Vec<(String,)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT id FROM tus_uploads WHERE expires_at < $1")
                .bind(ms(now))
                .fetch_all(pool)
                .await?
        });
        rows.iter().map(|(u,)| id(u)).collect()
    }
}

impl Db {
    /// Names a tus upload by the transfer a chunking client chose. False when the caller
    /// already has a transfer of that name.
    pub async fn insert_chunk_transfer(
        &self,
        user: UserId,
        transfer: &str,
        upload: VersionId,
    ) -> Result<bool> {
        let inserted = on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO chunk_transfers (user_id, transfer, upload_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, transfer) DO NOTHING",
            )
            .bind(user.to_string())
            .bind(transfer)
            .bind(upload.to_string())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted > 0)
    }

    /// Takes a transfer away (its MOVE began): true for exactly one caller, however many try.
    pub async fn take_chunk_transfer(&self, user: UserId, transfer: &str, upload: VersionId) -> Result<bool> {
        let taken = on_db!(self, |pool| {
            sqlx::query("DELETE FROM chunk_transfers WHERE user_id = $1 AND transfer = $2 AND upload_id = $3")
                .bind(user.to_string())
                .bind(transfer)
                .bind(upload.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(taken > 0)
    }

    /// The tus upload behind a user's named transfer.
    pub async fn chunk_transfer(&self, user: UserId, transfer: &str) -> Result<Option<VersionId>> {
        let row: Option<(String,)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT upload_id FROM chunk_transfers WHERE user_id = $1 AND transfer = $2")
                .bind(user.to_string())
                .bind(transfer)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(upload,)| id(&upload)).transpose()
    }
}
