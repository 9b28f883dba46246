//! Mailed links: email verification and password reset.
//!
//! Each link carries a single-use token of 256 random bits; only its SHA-256 is stored, with
//! its purpose and expiry. A reset request answers the same whether or not the address is
//! registered (the mail is sent in the background, so not even the timing differs).

use std::net::IpAddr;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Duration;
use rand::RngCore;
use stratus_core::User;
use stratus_meta::TokenUse;

use crate::{
    Caller, Result, ServiceError, Stratus,
    accounts::{digest, valid_password},
    security::Who,
};

const RESET_TTL: Duration = Duration::hours(1);
const VERIFY_TTL: Duration = Duration::days(7);

impl Stratus {
    /// Mails `user` a link to verify their address (in the background; failures are logged).
    pub(crate) async fn send_verification(&self, user: &User) {
        let link = match self.mail_token(user, "verify", VERIFY_TTL).await {
            Ok(token) => format!("{}/verify-email?token={token}", self.public_url()),
            Err(err) => return tracing::error!(error = %err, "could not create a verification token"),
        };
        let body = format!(
            "Hello {},\n\nPlease confirm your email address for Stratus by opening this link:\n\n{link}\n\n\
             The link works once, for 7 days. If you did not sign up, ignore this mail.\n",
            user.username
        );
        self.mail_later(user.email.clone(), "Confirm your email address", body);
    }

    /// Sends the caller a new verification link, unless the address is verified already.
    pub async fn resend_verification(&self, caller: &Caller) -> Result<()> {
        let user = self.db().user(caller.user()).await?;
        if user.email_verified {
            return Err(ServiceError::conflict(
                "email_already_verified",
                "this email address is verified already",
            ));
        }
        let max = self.0.settings.limits.reset_per_account;
        self.rate(&format!("verify:account:{}", user.id), max, Duration::hours(1)).await?;
        self.send_verification(&user).await;
        Ok(())
    }

    /// Marks the address of the token's user verified.
    pub async fn verify_email(&self, token: &str, ip: Option<IpAddr>) -> Result<User> {
        let found = self.db().verify_email_with_token(&digest(token.trim()), self.now()).await?;
        let user = self.spent(found, "email_verify", ip).await?;
        self.db().user(user).await.map_err(Into::into)
    }

    /// Mails a reset link if `email` belongs to an enabled account. Answers the same either
    /// way; only the rate limits (per IP, per address asked about) can refuse.
    pub async fn request_password_reset(&self, email: &str, ip: Option<IpAddr>) -> Result<()> {
        let email = email.trim().to_lowercase();
        let limits = &self.0.settings.limits;
        if let Some(ip) = ip {
            self.rate(&format!("reset:ip:{ip}"), limits.reset_per_ip, Duration::hours(1)).await?;
        }
        self.rate(&format!("reset:email:{email}"), limits.reset_per_account, Duration::hours(1)).await?;
        // Everything past the rate limits happens after the answer, so a registered address
        // costs the caller no more time than an unknown one.
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(err) = this.mail_reset_link(email, ip).await {
                tracing::error!(error = %err, "could not send a password-reset link");
            }
        });
        Ok(())
    }

    async fn mail_reset_link(&self, email: String, ip: Option<IpAddr>) -> Result<()> {
        let user = self.db().user_by_email(&email).await?.filter(|u| !u.disabled);
        let who = Who { id: user.as_ref().map(|u| u.id), name: Some(email.clone()), ip };
        self.audit(&who, "password_reset_requested", None, user.is_some(), None).await;
        let Some(user) = user else { return Ok(()) };
        let token = self.mail_token(&user, "reset", RESET_TTL).await?;
        let link = format!("{}/reset-password?token={token}", self.public_url());
        let body = format!(
            "Hello {},\n\nSomeone asked to reset the password of your Stratus account. To choose a new \
             password, open this link:\n\n{link}\n\nThe link works once, within one hour. Every session of \
             the account ends when the password changes. If you did not ask for this, ignore this mail.\n",
            user.username
        );
        self.mail_later(user.email, "Reset your Stratus password", body);
        Ok(())
    }

    /// Sets a new password with a mailed token and ends every session of the account.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        valid_password(password)?;
        let hash = self.hash_password(password.to_string()).await?;
        let found = self.db().reset_password_with_token(&digest(token.trim()), &hash, self.now()).await?;
        self.spent(found, "password_reset", ip).await?;
        Ok(())
    }

    /// The user a token was spent for, or the problem with it (audited either way).
    async fn spent(&self, found: TokenUse, action: &str, ip: Option<IpAddr>) -> Result<stratus_core::UserId> {
        let problem = match found {
            TokenUse::Used(user) => {
                let name = self.db().user(user).await.ok().map(|u| u.username);
                self.audit(&Who { id: Some(user), name, ip }, action, None, true, None).await;
                return Ok(user);
            }
            TokenUse::Expired => ServiceError::Gone {
                code: "token_expired",
                message: "this link has expired; ask for a new one".into(),
            },
            TokenUse::AlreadyUsed => ServiceError::Gone {
                code: "token_used",
                message: "this link was used already; ask for a new one".into(),
            },
            TokenUse::Unknown => ServiceError::bad_request("invalid_token", "this link is not valid"),
        };
        self.audit(&Who::anonymous(ip), action, None, false, Some(problem.code().into())).await;
        Err(problem)
    }

    async fn mail_token(&self, user: &User, purpose: &str, ttl: Duration) -> Result<String> {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let now = self.now();
        self.db().insert_account_token(&digest(&token), user.id, purpose, now, now + ttl).await?;
        Ok(token)
    }

    fn mail_later(&self, to: String, subject: &'static str, body: String) {
        let mailer = self.0.settings.mailer.clone();
        tokio::spawn(async move {
            if let Err(err) = mailer.send(&to, subject, body).await {
                tracing::error!(error = %err, to, subject, "could not send mail");
            }
        });
    }
}
