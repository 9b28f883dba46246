//! Accounts and authentication: registration, password login, sessions, app tokens.
//!
//! Passwords are hashed with Argon2id on the bounded hashing pool (`hashing`). Token secrets are 256 random
//! bits; only their SHA-256 is stored, so a database leak yields no usable token.

use std::{net::IpAddr, sync::OnceLock};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use stratus_core::{AppToken, NodeId, TokenId, User, UserId};
use stratus_meta::{NewToken, NewUser, TokenKind};

use crate::{Result, ServiceError, Stratus, security::Who};

const TOKEN_PREFIX: &str = "stx_";
const MAX_PASSWORD_BYTES: usize = 1024;
const MIN_PASSWORD_CHARS: usize = 8;

/// An authenticated request's identity. Only authentication makes one (its fields are
/// private): an adapter can add where the request came from and the lock tokens it sent, never
/// who it is. Forging one does not compile:
///
/// ```compile_fail,E0451
/// let forged = stratus_service::Caller {
///     user: stratus_core::UserId::new(),
///     username: "alice".into(),
///     token: None,
///     expires_at: None,
///     ip: None,
///     lock_tokens: Vec::new(),
/// };
/// ```
#[derive(Debug, Clone)]
pub struct Caller {
    user: UserId,
    username: String,
    /// The session or app token used, if any (none for password Basic auth).
    token: Option<TokenId>,
    expires_at: Option<DateTime<Utc>>,
    /// Where the request came from (set by the adapter), for the audit log.
    ip: Option<IpAddr>,
    /// WebDAV lock tokens the request submitted (the `If` header): writes to a locked node
    /// need its token.
    lock_tokens: Vec<String>,
}

impl Caller {
    fn new(
        user: UserId,
        username: String,
        token: Option<TokenId>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self { user, username, token, expires_at, ip: None, lock_tokens: Vec::new() }
    }

    pub fn user(&self) -> UserId {
        self.user
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// The session or app token used, if any (none for password Basic auth).
    pub fn token(&self) -> Option<TokenId> {
        self.token
    }

    /// When the session used ends (none for app tokens and passwords).
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    pub fn lock_tokens(&self) -> &[String] {
        &self.lock_tokens
    }

    /// The address the request came from, for the audit log and throttling.
    pub fn with_ip(self, ip: Option<IpAddr>) -> Self {
        Self { ip, ..self }
    }

    /// The WebDAV lock tokens the request submitted.
    pub fn with_lock_tokens(self, lock_tokens: Vec<String>) -> Self {
        Self { lock_tokens, ..self }
    }
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
}

/// A new login session: the bearer token is shown once.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// A new app token: the secret is shown once.
#[derive(Debug, Clone)]
pub struct NewAppToken {
    pub token: AppToken,
    pub secret: String,
}

impl Stratus {
    /// Creates an account with the default quota and an empty root folder, and mails a link
    /// to verify its email address.
    pub async fn register(&self, r: Registration, ip: Option<IpAddr>) -> Result<User> {
        if let Some(ip) = ip {
            let max = self.0.settings.limits.register_per_ip;
            self.rate(&format!("register:ip:{ip}"), max, chrono::Duration::hours(1)).await?;
        }
        let user = self.create_user(r, false).await?;
        self.audit(
            &Who { id: Some(user.id), name: Some(user.username.clone()), ip },
            "register",
            None,
            true,
            None,
        )
        .await;
        self.send_verification(&user).await;
        Ok(user)
    }

    /// Creates an account, optionally an administrator (the `stratus admin` path).
    pub async fn create_user(&self, r: Registration, is_admin: bool) -> Result<User> {
        self.insert_user(r, is_admin, false).await
    }

    pub(crate) async fn insert_user(
        &self,
        r: Registration,
        is_admin: bool,
        email_verified: bool,
    ) -> Result<User> {
        let username = valid_username(&r.username)?;
        let email = valid_email(&r.email)?;
        valid_password(&r.password)?;
        if let Some(what) = self.db().account_taken(&username, &email).await? {
            return Err(stratus_meta::MetaError::Taken(what).into());
        }
        let password_hash = self.hash_password(r.password).await?;
        let user = NewUser {
            id: UserId::new(),
            root_id: NodeId::new(),
            username,
            email,
            password_hash,
            is_admin,
            email_verified,
            quota_limit: self.0.settings.default_quota,
            now: self.now(),
        };
        Ok(self.db().create_user(&user).await?)
    }

    /// Checks a password and opens a session. Attempts are rate-limited per IP and per
    /// account, and slowed down after repeated failures; every outcome is audited.
    pub async fn login(&self, login: &str, password: &str, ip: Option<IpAddr>) -> Result<Session> {
        let login = login.trim().to_lowercase();
        let limits = &self.0.settings.limits;
        let minute = chrono::Duration::minutes(1);
        let account_key = self.account_key(&login, ip).await?;
        let throttled = async {
            if let Some(ip) = ip {
                self.rate(&format!("login:ip:{ip}"), limits.login_per_ip, minute).await?;
            }
            self.rate(&account_key, limits.login_per_account, minute).await?;
            self.check_delay(&account_key).await
        };
        if let Err(err) = throttled.await {
            self.audit(&Who::named(&login, ip), "login_throttled", None, false, None).await;
            return Err(err);
        }
        let user = match self.check_password(&login, password).await {
            Ok(user) => user,
            Err(err) => {
                self.record_outcome(&account_key, false).await?;
                self.audit(&Who::named(&login, ip), "login_failed", None, false, None).await;
                return Err(err);
            }
        };
        self.record_outcome(&account_key, true).await?;
        let record = self.db().user(user).await?;
        if self.0.settings.require_email_verification && !record.email_verified {
            let who = Who { id: Some(user), name: Some(record.username.clone()), ip };
            self.audit(&who, "login_failed", None, false, Some("email not verified".into())).await;
            // A new link, at most a few an hour (the first may have expired or been lost).
            let max = self.0.settings.limits.reset_per_account;
            if self.rate(&format!("verify:account:{user}"), max, chrono::Duration::hours(1)).await.is_ok() {
                self.send_verification(&record).await;
            }
            return Err(ServiceError::Denied {
                code: "email_unverified",
                message: "confirm your email address first: we mailed you a link".into(),
            });
        }
        let session = self.open_session(user).await?;
        self.audit(
            &Who { id: Some(user), name: Some(session.user.username.clone()), ip },
            "login",
            None,
            true,
            None,
        )
        .await;
        Ok(session)
    }

    /// A new session for `user` (after a password or an identity provider vouched for it).
    pub(crate) async fn open_session(&self, user: UserId) -> Result<Session> {
        let secret = new_secret();
        let now = self.now();
        let expires_at = now + self.0.settings.session_ttl;
        self.db()
            .insert_token(&NewToken {
                id: TokenId::new(),
                user,
                kind: TokenKind::Session,
                name: "session",
                secret_hash: digest(&secret),
                now,
                expires_at: Some(expires_at),
            })
            .await?;
        self.db().touch_login(user, now).await?;
        Ok(Session { token: secret, expires_at, user: self.db().user(user).await? })
    }

    /// Changes the caller's password (the current one is needed) and ends every other session
    /// and every app token: whoever learnt the old password may have minted one.
    pub async fn change_password(&self, caller: &Caller, current: &str, new: &str) -> Result<()> {
        let record = self.db().login_record_by_id(caller.user).await?;
        if !self.verify_password(current.to_string(), record.password_hash).await? {
            self.audit(&caller.into(), "password_change_failed", None, false, None).await;
            return Err(ServiceError::Forbidden("the current password is wrong"));
        }
        valid_password(new)?;
        let hash = self.hash_password(new.to_string()).await?;
        self.db().set_password(caller.user, &hash, caller.token.map(|t| t.to_string())).await?;
        self.audit(&caller.into(), "password_changed", None, true, None).await;
        Ok(())
    }

    /// Ends the token the caller used, a session or an app token: it stops working at once.
    pub async fn logout(&self, caller: &Caller) -> Result<()> {
        if let Some(token) = caller.token
            && !self.db().delete_token(caller.user, token, TokenKind::Session).await?
        {
            self.db().delete_token(caller.user, token, TokenKind::App).await?;
        }
        Ok(())
    }

    /// Who a bearer token (session or app token) belongs to.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Caller> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Err(ServiceError::Unauthenticated);
        }
        let owner = self.db().token_owner(&digest(secret)).await?.ok_or(ServiceError::Unauthenticated)?;
        let now = self.now();
        if owner.user_disabled || owner.expires_at.is_some_and(|t| t <= now) {
            return Err(ServiceError::Unauthenticated);
        }
        let stale = owner.last_used_at.is_none_or(|t| now - t > chrono::Duration::minutes(1));
        if owner.kind == TokenKind::App && stale {
            self.db().touch_token(owner.token, now).await?;
        }
        Ok(Caller::new(owner.user, owner.username, Some(owner.token), owner.expires_at))
    }

    /// The throttling key of password attempts on an account from an address: by the account's
    /// id (its username and email are one account), and per address, so that strangers
    /// guessing elsewhere cannot lock the owner out. An unknown login is keyed by its text.
    async fn account_key(&self, login: &str, ip: Option<IpAddr>) -> Result<String> {
        let account = match self.db().login_record(login).await? {
            Some(record) => record.id.to_string(),
            None => format!("unknown:{login}"),
        };
        let from = ip.map_or_else(|| "-".to_string(), |ip| ip.to_string());
        Ok(format!("login:account:{from}:{account}"))
    }

    /// Basic auth, as WebDAV and CLI clients send it: the password may be an app token of
    /// that user (cheap to check) or the account password, whose failures count with the
    /// login's (the same key, the same progressive delay).
    pub async fn authenticate_basic(
        &self,
        username: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<Caller> {
        let login = username.trim().to_lowercase();
        if password.starts_with(TOKEN_PREFIX) {
            let caller = self.authenticate_token(password).await?;
            // The token's owner is known by username already; the email is read only if needed.
            if caller.username == login || self.db().user(caller.user).await?.email == login {
                return Ok(caller);
            }
            return Err(ServiceError::Unauthenticated);
        }
        let key = self.account_key(&login, ip).await?;
        self.rate(&key, self.0.settings.limits.login_per_account, chrono::Duration::minutes(1)).await?;
        self.check_delay(&key).await?;
        let checked = self.check_password(&login, password).await;
        self.record_outcome(&key, checked.is_ok()).await?;
        let user = checked?;
        let record = self.db().user(user).await?;
        Ok(Caller::new(user, record.username, None, None))
    }

    /// [`authenticate_basic`](Self::authenticate_basic) with successes remembered for a
    /// minute: WebDAV clients send the password with every request, and each check is an
    /// Argon2 hash. Safe to lose (a miss just hashes again). App tokens are not cached.
    pub async fn authenticate_basic_cached(
        &self,
        username: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<Caller> {
        use sha2::Digest;
        // An app token is one indexed lookup, and a revoked one must stop at once: never cached.
        if password.starts_with(TOKEN_PREFIX) {
            return self.authenticate_basic(username, password, ip).await;
        }
        let key: [u8; 32] = sha2::Sha256::new()
            .chain_update(username.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        let now = std::time::Instant::now();
        let cached = {
            let cache = self.0.basic_cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.get(&key).filter(|(_, until, _)| *until > now).map(|(c, _, hash)| (c.clone(), hash.clone()))
        };
        // A hit still asks the database (cheaply) whether the account was disabled or its
        // password changed since, on any node.
        if let Some((caller, hash)) = cached {
            let record = self.db().login_record_by_id(caller.user).await?;
            if !record.disabled && record.password_hash == hash {
                return Ok(caller);
            }
        }
        let caller = self.authenticate_basic(username, password, ip).await?;
        let hash = self.db().login_record_by_id(caller.user).await?.password_hash;
        let mut cache = self.0.basic_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (_, until, _)| *until > now);
        }
        cache.insert(key, (caller.clone(), now + std::time::Duration::from_secs(60), hash));
        Ok(caller)
    }

    /// `user` acting on their own, for a step they set up earlier (a signed URL they made): a
    /// disabled account acts no more.
    pub(crate) async fn caller_for(&self, user: UserId) -> Result<Caller> {
        let record = self.db().login_record_by_id(user).await?;
        if record.disabled {
            return Err(ServiceError::NotFound);
        }
        let username = self.db().user(user).await?.username;
        Ok(Caller::new(user, username, None, None))
    }

    /// The CSRF token that goes with a browser session: derived from the session's secret, so
    /// a cookie planted by another site or subdomain cannot pass for it.
    pub fn csrf_token(&self, session_secret: &str) -> String {
        hex::encode(digest(&format!("csrf:{session_secret}")))[..32].to_string()
    }

    pub async fn me(&self, caller: &Caller) -> Result<User> {
        Ok(self.db().user(caller.user).await?)
    }

    pub async fn create_app_token(&self, caller: &Caller, name: &str) -> Result<NewAppToken> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(ServiceError::invalid("invalid_token_name", "a token name is 1 to 100 bytes"));
        }
        let secret = new_secret();
        let id = TokenId::new();
        let now = self.now();
        self.db()
            .insert_token(&NewToken {
                id,
                user: caller.user,
                kind: TokenKind::App,
                name,
                secret_hash: digest(&secret),
                now,
                expires_at: None,
            })
            .await?;
        let token = AppToken { id, name: name.to_string(), created_at: now, last_used_at: None };
        Ok(NewAppToken { token, secret })
    }

    pub async fn app_tokens(&self, caller: &Caller) -> Result<Vec<AppToken>> {
        Ok(self.db().app_tokens(caller.user).await?)
    }

    pub async fn revoke_app_token(&self, caller: &Caller, token: TokenId) -> Result<()> {
        match self.db().delete_token(caller.user, token, TokenKind::App).await? {
            true => Ok(()),
            false => Err(ServiceError::NotFound),
        }
    }

    /// The user whose login and password these are. Unknown logins cost the same time as
    /// wrong passwords, so accounts cannot be probed by timing.
    async fn check_password(&self, login: &str, password: &str) -> Result<UserId> {
        let login = login.trim().to_lowercase();
        let record = self.db().login_record(&login).await?;
        let hash = match &record {
            Some(r) => r.password_hash.clone(),
            None => self.dummy_hash().await?,
        };
        let ok = self.verify_password(password.to_string(), hash).await?;
        match record {
            Some(r) if ok && !r.disabled => Ok(r.id),
            _ => Err(ServiceError::WrongCredentials),
        }
    }
}

pub(crate) fn valid_username(raw: &str) -> Result<String> {
    let name = raw.trim().to_lowercase();
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let starts_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !(3..=32).contains(&name.len()) || !ok_chars || !starts_ok {
        return Err(ServiceError::invalid(
            "invalid_username",
            "a username is 3 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit",
        ));
    }
    Ok(name)
}

pub(crate) fn valid_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !valid || email.len() > 254 {
        return Err(ServiceError::invalid("invalid_email", "this is not a valid email address"));
    }
    Ok(email)
}

pub(crate) fn valid_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(ServiceError::invalid(
            "weak_password",
            format!("a password is {MIN_PASSWORD_CHARS} characters to {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub(crate) fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Stratus {
    /// An Argon2id hash of `password`, on the hashing pool.
    pub(crate) async fn hash_password(&self, password: String) -> Result<String> {
        self.0
            .hashing
            .run(move || {
                let salt = SaltString::generate(&mut OsRng);
                Argon2::default()
                    .hash_password(password.as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(ServiceError::internal)
            })
            .await?
    }

    /// Whether `password` matches `hash`, on the hashing pool.
    pub(crate) async fn verify_password(&self, password: String, hash: String) -> Result<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        self.0
            .hashing
            .run(move || {
                let parsed = PasswordHash::new(&hash).map_err(ServiceError::internal)?;
                Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await?
    }

    /// A real Argon2id hash of a random password, verified against when the login is unknown.
    async fn dummy_hash(&self) -> Result<String> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        if let Some(hash) = DUMMY.get() {
            return Ok(hash.clone());
        }
        let hash = self.hash_password(new_secret()).await?;
        Ok(DUMMY.get_or_init(|| hash).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails_are_normalised_and_checked() {
        assert_eq!(valid_username(" Alice ").ok(), Some("alice".into()));
        assert!(valid_username("al").is_err());
        assert!(valid_username("-alice").is_err());
        assert!(valid_username("ali ce").is_err());
        assert_eq!(valid_email("A@Example.COM").ok(), Some("a@example.com".into()));
        assert!(valid_email("nobody").is_err());
        assert!(valid_email("a@b").is_err());
        assert!(valid_email("a b@c.d").is_err());
    }
}
