//! Block-negotiation upload sessions.

use chrono::{DateTime, Utc};
use stratus_core::{BlockHash, ConflictPolicy, NodeId, UserId, VersionId};

use crate::{
    Db, MetaError, Result,
    row::{decode_blocks, encode_blocks, id, ms, size, time},
};

/// A declared upload waiting for its blocks.
#[derive(Debug, Clone)]
pub struct UploadSession {
    pub id: VersionId,
    pub owner: UserId,
    pub created_by: UserId,
    pub parent: NodeId,
    pub name: String,
    pub policy: ConflictPolicy,
    pub size: u64,
    pub blocks: Vec<BlockHash>,
    pub expires_at: DateTime<Utc>,
}

impl Db {
    /// Which of `hashes` `user` has shown to hold (sent, or committed into their drive).
    pub async fn known_blocks(
        &self,
        user: UserId,
        hashes: &[BlockHash],
    ) -> Result<std::collections::HashSet<BlockHash>> {
        let mut known = std::collections::HashSet::new();
        for chunk in hashes.chunks(500) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql =
                format!("SELECT hash FROM user_blocks WHERE user_id = $1 AND hash IN ({})", marks.join(", "));
            let rows: Vec<(Vec<u8>,)> = on_db!(self, |pool| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(user.to_string());
                for hash in chunk {
                    q = q.bind(hash.0.to_vec());
                }
                q.fetch_all(pool).await?
            });
            known.extend(rows.iter().filter_map(|(h,)| BlockHash::from_slice(h)));
        }
        Ok(known)
    }

    /// Records that `user` holds `hash` (they sent its bytes).
    pub async fn add_known_block(&self, user: UserId, hash: BlockHash) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("INSERT INTO user_blocks (user_id, hash) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(user.to_string())
                .bind(&hash.0[..])
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn insert_session(&self, s: &UploadSession, now: DateTime<Utc>) -> Result<()> {
        let bytes = i64::try_from(s.size).map_err(|_| MetaError::Invalid("size"))?;
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO upload_sessions (id, owner_id, created_by, parent_id, name, on_conflict, size, \
                 blocks, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(s.id.to_string())
            .bind(s.owner.to_string())
            .bind(s.created_by.to_string())
            .bind(s.parent.to_string())
            .bind(&s.name)
            .bind(s.policy.as_str())
            .bind(bytes)
            .bind(encode_blocks(&s.blocks))
            .bind(ms(now))
            .bind(ms(s.expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn session(&self, session: VersionId) -> Result<UploadSession> {
        type Row = (String, String, String, String, String, i64, Vec<u8>, i64);
        let (owner, by, parent, name, policy, bytes, blocks, expires): Row = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT owner_id, created_by, parent_id, name, on_conflict, size, blocks, expires_at \
                 FROM upload_sessions WHERE id = $1",
            )
            .bind(session.to_string())
            .fetch_one(pool)
            .await?
        });
        let policy = ConflictPolicy::parse(&policy).ok_or_else(|| MetaError::corrupt(&policy))?;
        Ok(UploadSession {
            id: session,
            owner: id(&owner)?,
            created_by: id(&by)?,
            parent: id(&parent)?,
            name,
            policy,
            size: size(bytes)?,
            blocks: decode_blocks(&blocks)?,
            expires_at: time(expires)?,
        })
    }

    pub async fn delete_session(&self, session: VersionId) -> Result<bool> {
        Ok(on_db!(self, |pool| {
            sqlx::query("DELETE FROM upload_sessions WHERE id = $1")
                .bind(session.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        }) > 0)
    }

    /// Deletes sessions that expired before `now` (their reservations expire with them).
    pub async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(on_db!(self, |pool| {
            sqlx::query("DELETE FROM upload_sessions WHERE expires_at < $1")
                .bind(ms(now))
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
