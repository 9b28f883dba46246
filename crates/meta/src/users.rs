//! Accounts: creation (with the root folder, atomically), lookup and quota figures.

use chrono::{DateTime, Utc};
use stratus_core::{NodeId, Quota, User, UserId};

use crate::{
    Db, MetaError, Result,
    row::{id, ms, size, time},
};

pub struct NewUser {
    pub id: UserId,
    pub root_id: NodeId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub email_verified: bool,
    pub quota_limit: u64,
    pub now: DateTime<Utc>,
}

/// What login needs to check a password.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub id: UserId,
    pub password_hash: String,
    pub disabled: bool,
}

/// The columns of `users` a [`UserRow`] reads, as a literal for `concat!`.
macro_rules! user_columns {
    () => {
        "id, username, email, email_verified, display_name, photo_type IS NOT NULL AS has_photo, \
         is_admin, disabled, root_id, quota_used, quota_limit, plan_gb, created_at, last_login_at"
    };
}
pub(crate) use user_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    email: String,
    email_verified: bool,
    display_name: Option<String>,
    has_photo: bool,
    is_admin: bool,
    disabled: bool,
    root_id: String,
    quota_used: i64,
    quota_limit: i64,
    plan_gb: Option<i64>,
    created_at: i64,
    last_login_at: Option<i64>,
}

impl TryFrom<UserRow> for User {
    type Error = MetaError;

    fn try_from(r: UserRow) -> Result<Self> {
        Ok(User {
            id: id(&r.id)?,
            root_id: id(&r.root_id)?,
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            display_name: r.display_name,
            has_photo: r.has_photo,
            is_admin: r.is_admin,
            disabled: r.disabled,
            quota: Quota { used: size(r.quota_used)?, limit: size(r.quota_limit)? },
            plan_gb: r.plan_gb.map(size).transpose()?.unwrap_or(1),
            created_at: time(r.created_at)?,
            last_login_at: r.last_login_at.map(time).transpose()?,
        })
    }
}

impl Db {
    /// Creates the account and its root folder in one transaction.
    pub async fn create_user(&self, u: &NewUser) -> Result<User> {
        let (id, root) = (u.id.to_string(), u.root_id.to_string());
        let limit = i64::try_from(u.quota_limit).map_err(|_| MetaError::Invalid("quota too large"))?;
        let now = ms(u.now);
        in_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO users (id, username, email, password_hash, is_admin, root_id, \
                 quota_limit, created_at, email_verified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(&u.username)
            .bind(&u.email)
            .bind(&u.password_hash)
            .bind(u.is_admin)
            .bind(&root)
            .bind(limit)
            .bind(now)
            .bind(u.email_verified)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, created_at, \
                 modified_at) VALUES ($1, $2, NULL, '', '', 'folder', $3, $3)",
            )
            .bind(&root)
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        });
        self.user(u.id).await
    }

    pub async fn user(&self, user: UserId) -> Result<User> {
        let row: UserRow = on_db!(self, |pool| {
            sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
                .bind(user.to_string())
                .fetch_one(pool)
                .await?
        });
        row.try_into()
    }

    /// Finds an account by username or email (both stored lowercase).
    pub async fn login_record(&self, login: &str) -> Result<Option<LoginRecord>> {
        let row: Option<(String, String, bool)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT id, password_hash, disabled FROM users WHERE username = $1 OR email = $1")
                .bind(login)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(user, password_hash, disabled)| Ok(LoginRecord { id: id(&user)?, password_hash, disabled }))
            .transpose()
    }

    pub async fn login_record_by_id(&self, user: UserId) -> Result<LoginRecord> {
        let (password_hash, disabled): (String, bool) = on_db!(self, |pool| {
            sqlx::query_as("SELECT password_hash, disabled FROM users WHERE id = $1")
                .bind(user.to_string())
                .fetch_one(pool)
                .await?
        });
        Ok(LoginRecord { id: user, password_hash, disabled })
    }

    /// The account whose username or email is `login` (stored lowercase), with its username.
    pub async fn find_user(&self, login: &str) -> Result<Option<(UserId, String)>> {
        let row: Option<(String, String)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT id, username FROM users WHERE username = $1 OR email = $1")
                .bind(login)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(user, name)| Ok((id(&user)?, name))).transpose()
    }

    /// Whether the username or the email is already registered.
    pub async fn account_taken(&self, username: &str, email: &str) -> Result<Option<&'static str>> {
        let row: Option<(String, String)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT username, email FROM users WHERE username = $1 OR email = $2 LIMIT 1")
                .bind(username)
                .bind(email)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(name, _)| if name == username { "username" } else { "email" }))
    }
}
