//! Administration of accounts and the audit log.

use serde::Deserialize;
use stratus_core::{AuditEntry, User, UserId};
use stratus_meta::{AuditFilter, UserFilter};
use utoipa::ToSchema;

use crate::{
    Caller, Result, ServiceError, Stratus,
    billing::{FREE_GB, valid_plan},
    security::Who,
};

/// What an administrator changes on an account; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// A disabled user cannot log in, and their sessions and tokens stop working at once.
    pub disabled: Option<bool>,
    pub is_admin: Option<bool>,
    /// A plan: 1 (free) or 10 to 100 GB; the quota follows.
    pub plan_gb: Option<u64>,
    /// A quota in bytes, independent of the plan.
    pub quota: Option<u64>,
}

impl Stratus {
    /// Accounts, filtered and paginated, and how many match in all.
    pub async fn users_for(&self, caller: &Caller, filter: UserFilter) -> Result<(Vec<User>, u64)> {
        self.require_admin(caller).await?;
        self.users(filter).await
    }

    /// [`users_for`](Self::users_for) without a caller (`stratus admin`).
    pub async fn users(&self, filter: UserFilter) -> Result<(Vec<User>, u64)> {
        let filter = UserFilter { limit: filter.limit.clamp(1, 500), ..filter };
        Ok(self.db().users(&filter).await?)
    }

    pub async fn user_for(&self, caller: &Caller, user: UserId) -> Result<User> {
        self.require_admin(caller).await?;
        Ok(self.db().user(user).await?)
    }

    /// Applies an administrator's change (audited, whether it worked or not).
    pub async fn update_user_for(&self, caller: &Caller, user: UserId, update: UserUpdate) -> Result<User> {
        self.require_admin(caller).await?;
        let target = self.db().user(user).await?;
        self.update_user(&caller.into(), &target, update).await
    }

    /// [`update_user_for`](Self::update_user_for) from the command line, by username or email.
    pub async fn update_user_cli(&self, login: &str, update: UserUpdate) -> Result<User> {
        let (user, _) =
            self.db().find_user(&login.trim().to_lowercase()).await?.ok_or(ServiceError::NotFound)?;
        let target = self.db().user(user).await?;
        self.update_user(&Who::named("stratus admin", None), &target, update).await
    }

    async fn update_user(&self, who: &Who, target: &User, update: UserUpdate) -> Result<User> {
        let result = self.apply_update(who, target, &update).await;
        let detail = serde_json::json!({
            "disabled": update.disabled, "is_admin": update.is_admin, "plan_gb": update.plan_gb,
            "quota": update.quota, "error": result.as_ref().err().map(ServiceError::code),
        })
        .to_string();
        self.audit(who, "admin_user_updated", Some(target.username.clone()), result.is_ok(), Some(detail))
            .await;
        result?;
        Ok(self.db().user(target.id).await?)
    }

    async fn apply_update(&self, who: &Who, target: &User, u: &UserUpdate) -> Result<()> {
        let demotes_self = u.disabled == Some(true) || u.is_admin == Some(false);
        if who.id == Some(target.id) && demotes_self {
            return Err(ServiceError::conflict(
                "cannot_change_self",
                "administrators cannot disable themselves or give up their own role",
            ));
        }
        if let Some(gb) = u.plan_gb {
            valid_plan(gb)?;
            self.db().set_plan(target.id, (gb > FREE_GB).then_some(gb), gb << 30).await?;
        }
        if let Some(quota) = u.quota {
            self.db().set_quota(target.id, quota).await?;
        }
        if let Some(is_admin) = u.is_admin {
            self.db().set_admin(target.id, is_admin).await?;
        }
        if let Some(disabled) = u.disabled {
            self.db().set_disabled(target.id, disabled).await?;
        }
        Ok(())
    }

    /// The audit log, newest first.
    pub async fn audit_log_for(&self, caller: &Caller, filter: AuditFilter) -> Result<Vec<AuditEntry>> {
        self.require_admin(caller).await?;
        self.audit_log(filter).await
    }

    /// [`audit_log_for`](Self::audit_log_for) without a caller (`stratus admin`).
    pub async fn audit_log(&self, filter: AuditFilter) -> Result<Vec<AuditEntry>> {
        let filter = AuditFilter { limit: filter.limit.clamp(1, 1000), ..filter };
        Ok(self.db().audit(&filter).await?)
    }
}
