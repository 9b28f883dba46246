//! Sharing with users: share, list, change role, revoke, and "shared with me".

use stratus_core::{NodeId, Role, Share, ShareId, SharedItem};

use crate::{Caller, Result, ServiceError, Stratus, access::Share as MayShare};

impl Stratus {
    /// Shares a node with the user named `user` (username or email). Sharing with the same
    /// user again changes the role; only the owner may share.
    pub async fn share(&self, caller: &Caller, node: NodeId, user: &str, role: Role) -> Result<Share> {
        let node = self.authorize::<MayShare>(Some(caller), node).await?.into_node();
        if role == Role::Owner {
            return Err(ServiceError::invalid("invalid_role", "a share is `viewer` or `editor`"));
        }
        // Whether a name or email has an account is what a miss tells: misses are throttled per
        // caller (20 an hour), so the share dialog cannot be used to sweep for accounts.
        let Some((grantee, _)) = self.db().find_user(&user.trim().to_lowercase()).await? else {
            self.rate(&format!("share:miss:{}", caller.user()), 20, chrono::Duration::hours(1)).await?;
            return Err(ServiceError::invalid("unknown_user", "no user has this username or email"));
        };
        if grantee == node.owner_id {
            return Err(ServiceError::invalid("invalid_share", "an item cannot be shared with its owner"));
        }
        let share = self.db().upsert_share(&node, grantee, role, self.now()).await?;
        let detail = Some(format!("with {} as {}", user.trim().to_lowercase(), role_name(role)));
        self.audit(&caller.into(), "share_created", Some(node.id.to_string()), true, detail).await;
        Ok(share)
    }

    /// The node's shares (owner only).
    pub async fn shares(&self, caller: &Caller, node: NodeId) -> Result<Vec<Share>> {
        self.authorize::<MayShare>(Some(caller), node).await?;
        Ok(self.db().shares_of(node).await?)
    }

    pub async fn update_share(
        &self,
        caller: &Caller,
        node: NodeId,
        share: ShareId,
        role: Role,
    ) -> Result<Share> {
        self.authorize::<MayShare>(Some(caller), node).await?;
        if role == Role::Owner {
            return Err(ServiceError::invalid("invalid_role", "a share is `viewer` or `editor`"));
        }
        let found = self.db().share(share).await?;
        if found.node_id != node {
            return Err(ServiceError::NotFound);
        }
        self.db().set_share_role(share, role).await?;
        let detail = Some(format!("with {}, now as {}", found.username, role_name(role)));
        self.audit(&caller.into(), "share_updated", Some(node.to_string()), true, detail).await;
        Ok(self.db().share(share).await?)
    }

    /// Revokes a share: the owner may revoke any, the grantee may leave their own.
    pub async fn revoke_share(&self, caller: &Caller, node: NodeId, share: ShareId) -> Result<()> {
        let found = self.db().share(share).await?;
        if found.node_id != node {
            return Err(ServiceError::NotFound);
        }
        if found.user_id != caller.user() {
            self.authorize::<MayShare>(Some(caller), node).await?;
        }
        self.db().delete_share(share).await?;
        self.audit(
            &caller.into(),
            "share_revoked",
            Some(node.to_string()),
            true,
            Some(format!("no longer shared with {}", found.username)),
        )
        .await;
        Ok(())
    }

    pub async fn shared_with_me(&self, caller: &Caller) -> Result<Vec<SharedItem>> {
        Ok(self.db().shared_with(caller.user()).await?)
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Editor => "editor",
        Role::Viewer => "viewer",
    }
}
