//! tus uploads in progress.

use chrono::{DateTime, Utc};
use stratus_core::{ConflictPolicy, NodeId, UserId, VersionId};

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

    /// Moves the offset from `from` to `to` (and records the length and reservation), only if
    /// nobody moved it meanwhile. False when they did.
    pub async fn advance_tus(
        &self,
        upload: VersionId,
        from: u64,
        to: u64,
        length: Option<u64>,
        reserved: u64,
    ) -> Result<bool> {
        let length = length.map(big).transpose()?;
        let done = on_db!(self, |pool| {
            sqlx::query(
                "UPDATE tus_uploads SET upload_offset = $3, length = COALESCE(length, $4), reserved = $5 \
                 WHERE id = $1 AND upload_offset = $2",
            )
            .bind(upload.to_string())
            .bind(big(from)?)
            .bind(big(to)?)
            .bind(length)
            .bind(big(reserved)?)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
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
