//! Session and app tokens, stored as SHA-256 digests of their secrets.

use chrono::{DateTime, Utc};
use stratus_core::{AppToken, TokenId, UserId};

use crate::{
    Db, Result,
    row::{id, ms, time},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// From a login; ends at logout or expiry.
    Session,
    /// Named by the user for WebDAV/CLI clients; ends when revoked.
    App,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::App => "app",
        }
    }
}

pub struct NewToken<'a> {
    pub id: TokenId,
    pub user: UserId,
    pub kind: TokenKind,
    pub name: &'a str,
    pub secret_hash: [u8; 32],
    pub now: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who a presented token belongs to.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub token: TokenId,
    pub user: UserId,
    pub username: String,
    pub kind: TokenKind,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub user_disabled: bool,
}

impl Db {
    pub async fn insert_token(&self, t: &NewToken<'_>) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO tokens (id, user_id, kind, name, secret_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(t.id.to_string())
            .bind(t.user.to_string())
            .bind(t.kind.as_str())
            .bind(t.name)
            .bind(&t.secret_hash[..])
            .bind(ms(t.now))
            .bind(t.expires_at.map(ms))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The owner of the token whose secret hashes to `secret_hash`, if it exists.
    pub async fn token_owner(&self, secret_hash: &[u8; 32]) -> Result<Option<TokenOwner>> {
        type Row = (String, String, String, String, Option<i64>, Option<i64>, bool);
        let row: Option<Row> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT t.id, t.user_id, u.username, t.kind, t.expires_at, t.last_used_at, u.disabled \
                 FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.secret_hash = $1",
            )
            .bind(&secret_hash[..])
            .fetch_optional(pool)
            .await?
        });
        let Some((token, user, username, kind, expires_at, last_used_at, user_disabled)) = row else {
            return Ok(None);
        };
        Ok(Some(TokenOwner {
            token: id(&token)?,
            user: id(&user)?,
            username,
            kind: if kind == "app" { TokenKind::App } else { TokenKind::Session },
            expires_at: expires_at.map(time).transpose()?,
            last_used_at: last_used_at.map(time).transpose()?,
            user_disabled,
        }))
    }

    /// Records use of an app token (callers do so at most once a minute, so requests do not
    /// all write; the condition keeps concurrent callers from writing twice).
    pub async fn touch_token(&self, token: TokenId, now: DateTime<Utc>) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "UPDATE tokens SET last_used_at = $1 WHERE id = $2 \
                 AND (last_used_at IS NULL OR last_used_at < $1 - 60000)",
            )
            .bind(ms(now))
            .bind(token.to_string())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Deletes one of `user`'s tokens of `kind`; false when there was none.
    pub async fn delete_token(&self, user: UserId, token: TokenId, kind: TokenKind) -> Result<bool> {
        let done = on_db!(self, |pool| {
            sqlx::query("DELETE FROM tokens WHERE id = $1 AND user_id = $2 AND kind = $3")
                .bind(token.to_string())
                .bind(user.to_string())
                .bind(kind.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    pub async fn app_tokens(&self, user: UserId) -> Result<Vec<AppToken>> {
        let rows: Vec<(String, String, i64, Option<i64>)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, created_at, last_used_at FROM tokens \
                 WHERE user_id = $1 AND kind = 'app' ORDER BY created_at, id",
            )
            .bind(user.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(token, name, created, used)| {
                Ok(AppToken {
                    id: id(&token)?,
                    name,
                    created_at: time(created)?,
                    last_used_at: used.map(time).transpose()?,
                })
            })
            .collect()
    }
}

/// Login Flow v2 (migration 0023): flows started by apps, granted in a browser, taken by a poll.
impl Db {
    /// Starts a flow (and forgets the expired ones).
    pub async fn insert_login_flow(
        &self,
        poll_hash: &[u8; 32],
        login_hash: &[u8; 32],
        client: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        in_tx!(self, |tx| {
            sqlx::query("DELETE FROM login_flows WHERE expires_at < $1")
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO login_flows (poll_hash, login_hash, client, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&poll_hash[..])
            .bind(&login_hash[..])
            .bind(client)
            .bind(ms(now))
            .bind(ms(expires_at))
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// The client that started a live, ungranted flow.
    pub async fn login_flow_client(
        &self,
        login_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let row: Option<(String,)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT client FROM login_flows WHERE login_hash = $1 AND user_id IS NULL AND expires_at > $2",
            )
            .bind(&login_hash[..])
            .bind(ms(now))
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(client,)| client))
    }

    /// Grants a live flow to `user`; false when there is no such flow, or it was granted.
    pub async fn grant_login_flow(
        &self,
        login_hash: &[u8; 32],
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_db!(self, |pool| {
            sqlx::query(
                "UPDATE login_flows SET user_id = $2 WHERE login_hash = $1 AND user_id IS NULL AND expires_at > $3",
            )
            .bind(&login_hash[..])
            .bind(user.to_string())
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// Takes a granted flow (once): its user and client.
    pub async fn take_login_flow(
        &self,
        poll_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, String)>> {
        let row: Option<(String, String)> = on_db!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM login_flows WHERE poll_hash = $1 AND user_id IS NOT NULL AND expires_at > $2 \
                 RETURNING user_id, client",
            )
            .bind(&poll_hash[..])
            .bind(ms(now))
            .fetch_optional(pool)
            .await?
        });
        row.map(|(user, client)| Ok((id(&user)?, client))).transpose()
    }
}
