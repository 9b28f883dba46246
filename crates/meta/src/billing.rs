//! Payments for plan changes, the audit log, and throttling counters.

use chrono::{DateTime, Utc};
use stratus_core::{AuditEntry, Payment, UserId};

use crate::{
    Db, MetaError, Result,
    row::{id, ms, size, time},
};

/// What settling a payment did.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    /// The payment was pending; it is now paid and the plan applied.
    Applied(Payment),
    /// It was settled before: nothing changed.
    AlreadySettled(Payment),
    Unknown,
}

/// Which audit entries to read: newest first, before `before` (an entry id).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<UserId>,
    pub action: Option<String>,
    pub before: Option<String>,
    pub limit: u64,
}

type PaymentRow = (String, String, i64, i64, String, String, Option<String>, i64, Option<i64>);

fn payment(r: PaymentRow) -> Result<Payment> {
    let (reference, user, gb, amount, currency, status, authorization_url, created_at, paid_at) = r;
    Ok(Payment {
        reference,
        user_id: id(&user)?,
        gb: size(gb)?,
        amount: size(amount)?,
        currency,
        status,
        authorization_url,
        created_at: time(created_at)?,
        paid_at: paid_at.map(time).transpose()?,
    })
}

const PAYMENT_COLUMNS: &str =
    "reference, user_id, gb, amount, currency, status, authorization_url, created_at, paid_at";

/// How long a paid plan lasts.
pub const PLAN_DAYS: i64 = 30;

impl Db {
    pub async fn insert_payment(&self, p: &Payment) -> Result<()> {
        let (gb, amount) = (i64::try_from(p.gb), i64::try_from(p.amount));
        let (Ok(gb), Ok(amount)) = (gb, amount) else {
            return Err(MetaError::Invalid("amount too large"));
        };
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO payments (reference, user_id, gb, amount, currency, status, \
                 authorization_url, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&p.reference)
            .bind(p.user_id.to_string())
            .bind(gb)
            .bind(amount)
            .bind(&p.currency)
            .bind(&p.status)
            .bind(&p.authorization_url)
            .bind(ms(p.created_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn payment(&self, reference: &str) -> Result<Option<Payment>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE reference = $1");
        let row: Option<PaymentRow> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(reference).fetch_optional(pool).await?
        });
        row.map(payment).transpose()
    }

    /// The user's payments, newest first.
    pub async fn payments(&self, user: UserId) -> Result<Vec<Payment>> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE user_id = $1 ORDER BY created_at DESC, reference"
        );
        let rows: Vec<PaymentRow> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user.to_string()).fetch_all(pool).await?
        });
        rows.into_iter().map(payment).collect()
    }

    /// Marks a pending payment paid and moves its user to the plan paid for, in one
    /// transaction; a payment settled before changes nothing (webhooks are replayed).
    pub async fn settle_payment(&self, reference: &str, now: DateTime<Utc>) -> Result<Settled> {
        let Some(found) = self.payment(reference).await? else {
            return Ok(Settled::Unknown);
        };
        let gb = i64::try_from(found.gb).map_err(|_| MetaError::Invalid("plan too large"))?;
        let applied = in_tx!(self, |tx| {
            let changed = sqlx::query(
                "UPDATE payments SET status = 'success', paid_at = $1 WHERE reference = $2 AND status = 'pending'",
            )
            .bind(ms(now))
            .bind(reference)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 {
                // A payment buys a month, from now.
                sqlx::query(
                    "UPDATE users SET plan_gb = $1, quota_limit = $2, plan_expires_at = $4 WHERE id = $3",
                )
                .bind(gb)
                .bind(gb << 30)
                .bind(found.user_id.to_string())
                .bind(ms(now + chrono::Duration::days(PLAN_DAYS)))
                .execute(&mut *tx)
                .await?;
            }
            changed == 1
        });
        let now_payment = self.payment(reference).await?.ok_or(MetaError::NotFound)?;
        Ok(if applied { Settled::Applied(now_payment) } else { Settled::AlreadySettled(now_payment) })
    }

    /// Moves users whose paid plan ran out before `now` back to the free plan and its quota
    /// (`free_quota`), whatever they store: nothing is deleted, and above the quota uploads
    /// are refused until they free space or pay again. The users moved.
    pub async fn expire_plans(&self, now: DateTime<Utc>, free_quota: u64) -> Result<Vec<UserId>> {
        let free = i64::try_from(free_quota).map_err(|_| MetaError::Invalid("quota too large"))?;
        let rows: Vec<(String,)> = on_db!(self, |pool| {
            sqlx::query_as(
                "UPDATE users SET plan_gb = NULL, quota_limit = $2, plan_expires_at = NULL \
                 WHERE plan_expires_at IS NOT NULL AND plan_expires_at <= $1 RETURNING id",
            )
            .bind(ms(now))
            .bind(free)
            .fetch_all(pool)
            .await?
        });
        rows.iter().map(|(u,)| crate::row::id(u)).collect()
    }

    /// Marks a pending payment failed (the provider said so).
    pub async fn fail_payment(&self, reference: &str) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE payments SET status = 'failed' WHERE reference = $1 AND status = 'pending'")
                .bind(reference)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn insert_audit(&self, e: &AuditEntry) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO audit_log (id, at, actor_id, actor, action, target, ip, success, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&e.id)
            .bind(ms(e.at))
            .bind(e.actor_id.map(|u| u.to_string()))
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.ip)
            .bind(e.success)
            .bind(&e.detail)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Audit entries, newest first (ids are time-ordered UUIDv7 strings).
    pub async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        type Row = (
            String,
            i64,
            Option<String>,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            bool,
            Option<String>,
            Option<String>,
        );
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let rows: Vec<Row> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT a.id, a.at, a.actor_id, a.actor, a.action, a.target, a.ip, a.success, a.detail, \
                 COALESCE(n.name, u.username) FROM audit_log a \
                 LEFT JOIN nodes n ON n.id = a.target LEFT JOIN users u ON u.id = a.target \
                 WHERE ($1 IS NULL OR a.actor_id = $1) AND ($2 IS NULL OR a.action = $2) AND ($3 IS NULL OR a.id < $3) \
                 ORDER BY a.id DESC LIMIT $4",
            )
            .bind(f.actor.map(|u| u.to_string()))
            .bind(&f.action)
            .bind(&f.before)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id_, at, actor_id, actor, action, target, ip, success, detail, target_name)| {
                Ok(AuditEntry {
                    id: id_,
                    at: time(at)?,
                    actor_id: actor_id.as_deref().map(id).transpose()?,
                    actor,
                    action,
                    target,
                    target_name,
                    ip,
                    success,
                    detail,
                })
            })
            .collect()
    }

    /// Counts a hit on `key` in its current fixed window of `window_ms`, starting a new
    /// window when the last one is over; returns the window's start and its hits so far.
    pub async fn throttle_hit(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_ms: i64,
    ) -> Result<(DateTime<Utc>, u64)> {
        let (start, hits): (i64, i64) = on_db!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO throttle (key, window_start, hits) VALUES ($1, $2, 1) \
                 ON CONFLICT (key) DO UPDATE SET \
                 hits = CASE WHEN throttle.window_start <= $2 - $3 THEN 1 ELSE throttle.hits + 1 END, \
                 window_start = CASE WHEN throttle.window_start <= $2 - $3 THEN $2 ELSE throttle.window_start END \
                 RETURNING window_start, hits",
            )
            .bind(key)
            .bind(ms(now))
            .bind(window_ms)
            .fetch_one(pool)
            .await?
        });
        Ok((time(start)?, size(hits)?))
    }

    /// Consecutive failures recorded on `key`, and when the last one was.
    pub async fn throttle_failures(&self, key: &str) -> Result<(u64, Option<DateTime<Utc>>)> {
        let row: Option<(i64, Option<i64>)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT failures, last_failure FROM throttle WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some((n, last)) => Ok((size(n)?, last.map(time).transpose()?)),
            None => Ok((0, None)),
        }
    }

    /// Records a failure on `key` (`success: false`) or clears its failures.
    pub async fn throttle_outcome(&self, key: &str, now: DateTime<Utc>, success: bool) -> Result<()> {
        on_db!(self, |pool| {
            if success {
                sqlx::query("UPDATE throttle SET failures = 0, last_failure = NULL WHERE key = $1")
                    .bind(key)
                    .execute(pool)
                    .await?;
            } else {
                sqlx::query(
                    "INSERT INTO throttle (key, window_start, hits, failures, last_failure) VALUES ($1, $2, 0, 1, $2) \
                     ON CONFLICT (key) DO UPDATE SET failures = throttle.failures + 1, last_failure = $2",
                )
                .bind(key)
                .bind(ms(now))
                .execute(pool)
                .await?;
            }
        });
        Ok(())
    }

    /// Forgets counters untouched since `before`.
    pub async fn prune_throttle(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(on_db!(self, |pool| {
            sqlx::query(
                "DELETE FROM throttle WHERE window_start < $1 AND (last_failure IS NULL OR last_failure < $1)",
            )
            .bind(ms(before))
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}
