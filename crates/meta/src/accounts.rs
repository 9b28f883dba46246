//! The account lifecycle: single-use mailed tokens (email verification, password reset),
//! passwords, profiles, plans, OpenID Connect identities and login states.

use chrono::{DateTime, Utc};
use stratus_core::{User, UserId};

use crate::{
    Db, MetaError, Result,
    row::{contains_pattern, id, ms},
    users::{UserRow, user_columns},
};

/// What presenting a mailed token found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// It was valid, and is now spent.
    Used(UserId),
    Expired,
    AlreadyUsed,
    Unknown,
}

/// A login under way at the identity provider.
#[derive(Debug, Clone)]
pub struct OidcState {
    pub nonce: String,
    pub verifier: String,
    pub return_to: String,
}

/// Which users an administrator's listing shows.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Part of the username, email or display name.
    pub search: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// Spends a mailed token of `purpose` inside the transaction `$tx` (a macro, so that it
/// compiles against either engine's transaction): `TokenUse`.
macro_rules! spend_token {
    ($tx:ident, $hash:expr, $purpose:expr, $now:expr) => {{
        let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT user_id, expires_at, used_at FROM account_tokens WHERE secret_hash = $1 AND purpose = $2",
        )
        .bind(&$hash[..])
        .bind($purpose)
        .fetch_optional(&mut *$tx)
        .await?;
        match row {
            None => TokenUse::Unknown,
            Some((_, _, Some(_))) => TokenUse::AlreadyUsed,
            Some((_, expires, None)) if expires <= ms($now) => TokenUse::Expired,
            Some((user, _, None)) => {
                let spent = sqlx::query(
                    "UPDATE account_tokens SET used_at = $1 WHERE secret_hash = $2 AND used_at IS NULL",
                )
                .bind(ms($now))
                .bind(&$hash[..])
                .execute(&mut *$tx)
                .await?
                .rows_affected();
                if spent == 1 { TokenUse::Used(id(&user)?) } else { TokenUse::AlreadyUsed }
            }
        }
    }};
}

/// Which users a search pattern (`$1`, a `LIKE` pattern with `\` escapes) matches.
macro_rules! user_search {
    () => {
        "(username LIKE $1 ESCAPE '\\' OR email LIKE $1 ESCAPE '\\' \
         OR LOWER(COALESCE(display_name, '')) LIKE $1 ESCAPE '\\')"
    };
}

impl Db {
    pub async fn insert_account_token(
        &self,
        secret_hash: &[u8; 32],
        user: UserId,
        purpose: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO account_tokens (secret_hash, user_id, purpose, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&secret_hash[..])
            .bind(user.to_string())
            .bind(purpose)
            .bind(ms(now))
            .bind(ms(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Marks the email of the user whose verification token this is as verified, spending the
    /// token.
    pub async fn verify_email_with_token(
        &self,
        secret_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<TokenUse> {
        in_tx!(self, |tx| {
            let found = spend_token!(tx, secret_hash, "verify", now);
            if let TokenUse::Used(user) = found {
                sqlx::query("UPDATE users SET email_verified = TRUE WHERE id = $1")
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, MetaError>(found)
        })
    }

    /// Sets a new password with a reset token, spending it and every other reset token of the
    /// user, and ends every session and app token of the user — all or nothing.
    pub async fn reset_password_with_token(
        &self,
        secret_hash: &[u8; 32],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenUse> {
        in_tx!(self, |tx| {
            let found = spend_token!(tx, secret_hash, "reset", now);
            if let TokenUse::Used(user) = found {
                let user = user.to_string();
                // Proving the mailbox also proves the address.
                sqlx::query("UPDATE users SET password_hash = $1, email_verified = TRUE WHERE id = $2")
                    .bind(password_hash)
                    .bind(&user)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM tokens WHERE user_id = $1").bind(&user).execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE account_tokens SET used_at = $1 \
                     WHERE user_id = $2 AND purpose = 'reset' AND used_at IS NULL",
                )
                .bind(ms(now))
                .bind(&user)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, MetaError>(found)
        })
    }

    /// Changes a password and ends every session and app token but `keep` (the one changing it).
    pub async fn set_password(&self, user: UserId, password_hash: &str, keep: Option<String>) -> Result<()> {
        let user = user.to_string();
        in_tx!(self, |tx| {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(&user)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM tokens WHERE user_id = $1 AND id <> $2")
                .bind(&user)
                .bind(keep.unwrap_or_default())
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    pub async fn touch_login(&self, user: UserId, now: DateTime<Utc>) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
                .bind(ms(now))
                .bind(user.to_string())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn set_display_name(&self, user: UserId, name: Option<&str>) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
                .bind(name)
                .bind(user.to_string())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Sets (or, with `None`, removes) the profile photo: its media type and bytes.
    pub async fn set_photo(&self, user: UserId, photo: Option<(&str, &[u8])>) -> Result<()> {
        let (kind, bytes) = photo.unzip();
        on_db!(self, |pool| {
            sqlx::query("UPDATE users SET photo_type = $1, photo = $2 WHERE id = $3")
                .bind(kind)
                .bind(bytes)
                .bind(user.to_string())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn photo(&self, user: UserId) -> Result<Option<(String, Vec<u8>)>> {
        let row: Option<(Option<String>, Option<Vec<u8>>)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT photo_type, photo FROM users WHERE id = $1")
                .bind(user.to_string())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.and_then(|(kind, bytes)| kind.zip(bytes)))
    }

    /// Moves the user to a plan (`None`: the free plan) with its quota, unless more than the
    /// new quota is already stored or reserved (then [`MetaError::QuotaBelowUsage`]).
    pub async fn set_plan(&self, user: UserId, plan_gb: Option<u64>, quota_limit: u64) -> Result<()> {
        let plan =
            plan_gb.map(i64::try_from).transpose().map_err(|_| MetaError::Invalid("plan too large"))?;
        self.resize_quota(user, quota_limit, Some(plan)).await
    }

    /// Sets a quota by hand (an administrator's decision), unless more is stored or reserved.
    pub async fn set_quota(&self, user: UserId, quota_limit: u64) -> Result<()> {
        self.resize_quota(user, quota_limit, None).await
    }

    /// The one quota change: the limit (and the plan, when `plan` is given) only if what is
    /// stored and reserved still fits, checked in the same `UPDATE`.
    async fn resize_quota(&self, user: UserId, quota_limit: u64, plan: Option<Option<i64>>) -> Result<()> {
        let limit = i64::try_from(quota_limit).map_err(|_| MetaError::Invalid("quota too large"))?;
        let changed = on_db!(self, |pool| {
            sqlx::query(
                "UPDATE users SET quota_limit = $1, plan_gb = CASE WHEN $3 THEN $4 ELSE plan_gb END, \
                 plan_expires_at = CASE WHEN $3 AND $4 IS NULL THEN NULL ELSE plan_expires_at END \
                 WHERE id = $2 AND quota_used + quota_reserved <= $1",
            )
            .bind(limit)
            .bind(user.to_string())
            .bind(plan.is_some())
            .bind(plan.flatten())
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            self.user(user).await?;
            return Err(MetaError::QuotaBelowUsage);
        }
        Ok(())
    }

    /// Disables or enables an account; disabling also ends its sessions.
    pub async fn set_disabled(&self, user: UserId, disabled: bool) -> Result<()> {
        self.update_user_flag("UPDATE users SET disabled = $1 WHERE id = $2", disabled, user).await?;
        if disabled {
            on_db!(self, |pool| {
                sqlx::query("DELETE FROM tokens WHERE user_id = $1 AND kind = 'session'")
                    .bind(user.to_string())
                    .execute(pool)
                    .await?;
            });
        }
        Ok(())
    }

    pub async fn set_admin(&self, user: UserId, is_admin: bool) -> Result<()> {
        self.update_user_flag("UPDATE users SET is_admin = $1 WHERE id = $2", is_admin, user).await
    }

    async fn update_user_flag<T>(&self, sql: &'static str, value: T, user: UserId) -> Result<()>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Clone,
    {
        let changed = on_db!(self, |pool| {
            sqlx::query(sql).bind(value.clone()).bind(user.to_string()).execute(pool).await?.rows_affected()
        });
        if changed == 0 {
            return Err(MetaError::NotFound);
        }
        Ok(())
    }

    /// Accounts in creation order, filtered, one page, and how many match in all.
    pub async fn users(&self, filter: &UserFilter) -> Result<(Vec<User>, u64)> {
        let pattern = filter.search.as_deref().map(contains_pattern).unwrap_or_else(|| "%".into());
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
        let (rows, total): (Vec<UserRow>, i64) = on_db!(self, |pool| {
            let rows = sqlx::query_as(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE ",
                user_search!(),
                " ORDER BY created_at, id LIMIT $2 OFFSET $3"
            ))
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let (total,): (i64,) =
                sqlx::query_as(concat!("SELECT COUNT(*) FROM users WHERE ", user_search!()))
                    .bind(&pattern)
                    .fetch_one(pool)
                    .await?;
            (rows, total)
        });
        let users = rows.into_iter().map(User::try_from).collect::<Result<_>>()?;
        Ok((users, u64::try_from(total).unwrap_or(0)))
    }

    pub async fn insert_oidc_state(
        &self,
        state_hash: &[u8; 32],
        s: &OidcState,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO oidc_states (state_hash, nonce, verifier, return_to, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&state_hash[..])
            .bind(&s.nonce)
            .bind(&s.verifier)
            .bind(&s.return_to)
            .bind(ms(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes and returns the login state, if it exists and has not expired: each state
    /// serves one callback.
    pub async fn take_oidc_state(
        &self,
        state_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<OidcState>> {
        let row: Option<(String, String, String, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM oidc_states WHERE state_hash = $1 RETURNING nonce, verifier, return_to, expires_at",
            )
            .bind(&state_hash[..])
            .fetch_optional(pool)
            .await?
        });
        on_db!(self, |pool| {
            sqlx::query("DELETE FROM oidc_states WHERE expires_at <= $1").bind(ms(now)).execute(pool).await?;
        });
        Ok(row.filter(|r| r.3 > ms(now)).map(|(nonce, verifier, return_to, _)| OidcState {
            nonce,
            verifier,
            return_to,
        }))
    }

    pub async fn oidc_user(&self, issuer: &str, subject: &str) -> Result<Option<UserId>> {
        let row: Option<(String,)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT user_id FROM oidc_identities WHERE issuer = $1 AND subject = $2")
                .bind(issuer)
                .bind(subject)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(u,)| id(&u)).transpose()
    }

    /// Links an identity to an account (and, the provider having vouched for it, marks the
    /// account's email verified when `email_verified`).
    pub async fn link_oidc(
        &self,
        issuer: &str,
        subject: &str,
        user: UserId,
        email_verified: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let user = user.to_string();
        in_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(issuer)
            .bind(subject)
            .bind(&user)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            if email_verified {
                sqlx::query("UPDATE users SET email_verified = TRUE WHERE id = $1")
                    .bind(&user)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// The user with this email, and whether it is verified.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row: Option<UserRow> = on_db!(self, |pool| {
            sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1"))
                .bind(email)
                .fetch_optional(pool)
                .await?
        });
        row.map(User::try_from).transpose()
    }

    pub async fn username_exists(&self, username: &str) -> Result<bool> {
        let row: Option<(String,)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT id FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.is_some())
    }
}
