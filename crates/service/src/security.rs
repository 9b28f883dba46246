//! Brute-force protection and the audit log.
//!
//! Counters live in the database (`throttle`), so every node behind a load balancer counts
//! the same attempts. Two mechanisms: a fixed-window rate per key (per IP, per account), and
//! a progressive delay after consecutive failures on an account — after
//! [`Limits::free_failures`] failures, each attempt must wait 1, 2, 4… seconds (capped) after
//! the last failure. A success clears the failures.

use std::net::IpAddr;

use chrono::Duration;
use stratus_core::{AuditEntry, UserId};

use crate::{Caller, Result, ServiceError, Stratus};

/// Attempts allowed before answering 429.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Login attempts per IP per minute.
    pub login_per_ip: u64,
    /// Login attempts per account per minute.
    pub login_per_account: u64,
    /// Registrations per IP per hour.
    pub register_per_ip: u64,
    /// Password-reset requests per IP per hour.
    pub reset_per_ip: u64,
    /// Password-reset requests per email address per hour (whether it exists or not).
    pub reset_per_account: u64,
    /// Consecutive failed logins on an account before the progressive delay starts.
    pub free_failures: u64,
    /// The longest delay, in seconds.
    pub max_delay_secs: u64,
    /// Password hashes that may wait for a hashing thread before logins get 503 (0: 16 per
    /// core).
    pub hash_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_per_ip: 30,
            login_per_account: 10,
            register_per_ip: 20,
            reset_per_ip: 10,
            reset_per_account: 3,
            free_failures: 5,
            max_delay_secs: 900,
            hash_queue: 0,
        }
    }
}

/// Who acts, for the audit log: a user, an address, or both.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub id: Option<UserId>,
    pub name: Option<String>,
    pub ip: Option<IpAddr>,
}

impl Who {
    pub fn anonymous(ip: Option<IpAddr>) -> Self {
        Self { id: None, name: None, ip }
    }

    pub(crate) fn named(name: &str, ip: Option<IpAddr>) -> Self {
        Self { id: None, name: Some(name.to_string()), ip }
    }
}

impl From<&Caller> for Who {
    fn from(c: &Caller) -> Self {
        Self { id: Some(c.user()), name: Some(c.username().to_string()), ip: c.ip() }
    }
}

impl Stratus {
    /// Counts an attempt on `key`; more than `max` in `window` is refused with the seconds
    /// until the window ends.
    pub(crate) async fn rate(&self, key: &str, max: u64, window: Duration) -> Result<()> {
        let now = self.now();
        let (start, hits) = self.db().throttle_hit(key, now, window.num_milliseconds()).await?;
        if hits > max {
            let retry_after = (start + window - now).num_seconds().max(1);
            return Err(ServiceError::RateLimited { retry_after: u64::try_from(retry_after).unwrap_or(1) });
        }
        Ok(())
    }

    /// Refuses an attempt on `key` made too soon after its last failure.
    pub(crate) async fn check_delay(&self, key: &str) -> Result<()> {
        let limits = &self.0.settings.limits;
        let (failures, last) = self.db().throttle_failures(key).await?;
        let (Some(last), true) = (last, failures >= limits.free_failures) else {
            return Ok(());
        };
        let exponent = u32::try_from(failures - limits.free_failures).unwrap_or(u32::MAX).min(20);
        let delay = (1u64 << exponent).min(limits.max_delay_secs);
        let ready = last + Duration::seconds(i64::try_from(delay).unwrap_or(i64::MAX));
        let now = self.now();
        if now < ready {
            let wait = ((ready - now).num_milliseconds() + 999) / 1000;
            return Err(ServiceError::RateLimited { retry_after: u64::try_from(wait).unwrap_or(1) });
        }
        Ok(())
    }

    pub(crate) async fn record_outcome(&self, key: &str, success: bool) -> Result<()> {
        Ok(self.db().throttle_outcome(key, self.now(), success).await?)
    }

    /// Writes an audit entry. Auditing never fails the action it records: an error is logged.
    pub(crate) async fn audit(
        &self,
        who: &Who,
        action: &str,
        target: Option<String>,
        success: bool,
        detail: Option<String>,
    ) {
        let entry = AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at: self.now(),
            actor_id: who.id,
            actor: who.name.clone(),
            action: action.to_string(),
            target,
            target_name: None,
            ip: who.ip.map(|ip| ip.to_string()),
            success,
            detail,
        };
        tracing::info!(action, actor = ?entry.actor, target = ?entry.target, ip = ?entry.ip, success, "audit");
        if let Err(err) = self.db().insert_audit(&entry).await {
            tracing::error!(error = %err, action, "could not write an audit entry");
        }
    }

    /// Forgets throttling counters older than a day (run by the hourly maintenance).
    pub async fn prune_throttle(&self) -> Result<u64> {
        Ok(self.db().prune_throttle(self.now() - Duration::days(1)).await?)
    }
}
