//! Thumbnails, derived from a content and kept by its owner and hash: a content never changes,
//! so a thumbnail never goes stale, and every file, copy and version of the owner's with that
//! content shares it. (Per owner, so how fast one comes tells no one that someone else holds
//! the same picture.)

use chrono::{DateTime, Utc};
use stratus_core::UserId;

use crate::{Db, Result, row::ms};

impl Db {
    /// The thumbnail of `owner`'s content `content_hash` at `size`, as (media type, bytes), if
    /// one was made.
    pub async fn thumbnail(
        &self,
        owner: UserId,
        content_hash: &str,
        size: u32,
    ) -> Result<Option<(String, Vec<u8>)>> {
        Ok(on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT media_type, data FROM thumbnails WHERE owner_id = $1 AND content_hash = $2 AND size = $3",
            )
            .bind(owner.to_string())
            .bind(content_hash)
            .bind(i64::from(size))
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Keeps a thumbnail made of `owner`'s content `content_hash` (one made at the same time
    /// elsewhere is as good: both were made of the same content).
    pub async fn keep_thumbnail(
        &self,
        owner: UserId,
        content_hash: &str,
        size: u32,
        media_type: &str,
        data: &[u8],
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO thumbnails (owner_id, content_hash, size, media_type, data, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner_id, content_hash, size) DO NOTHING",
            )
            .bind(owner.to_string())
            .bind(content_hash)
            .bind(i64::from(size))
            .bind(media_type)
            .bind(data)
            .bind(ms(now))
            .execute(pool)
            .await
            .map(drop)?
        });
        Ok(())
    }
}
