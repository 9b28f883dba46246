//! Who may do what to a node: the owner; a user holding a share on the node or a folder
//! above it; anyone, when the node or a folder above it is public. The best grant wins; the
//! table of what each role allows is `stratus_core::access`.

use stratus_core::{Action, Node, NodeId, PublicAccess, Role};

use crate::{Caller, Result, ServiceError, Stratus};

/// A caller's standing on one live node.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub node: Node,
    pub role: Role,
    /// The nodes whose share or public attribute gives `role` (empty for the owner): the
    /// shared trees an editor may work within.
    pub roots: Vec<NodeId>,
    /// The node and the folders above it, up to the drive's root (empty for the owner, who
    /// needs no walk to be authorised).
    pub chain: Vec<NodeId>,
}

impl Access {
    /// Whether the caller reaches this node only through a grant on the node itself (it is
    /// the shared item): renaming, moving or deleting it is then the owner's call.
    pub fn is_grant_root(&self) -> bool {
        self.role != Role::Owner && self.roots.contains(&self.node.id)
    }
}

impl Stratus {
    /// The caller's standing on a live node; `NotFound` when they have none at all.
    pub(crate) async fn access(&self, caller: Option<&Caller>, node: NodeId) -> Result<Access> {
        let node = self.db().live_node(node).await?;
        if caller.is_some_and(|c| c.user == node.owner_id) {
            return Ok(Access { node, role: Role::Owner, roots: Vec::new(), chain: Vec::new() });
        }
        let mut grants: Vec<(NodeId, Role)> = Vec::new();
        let ancestry = self.db().ancestry(node.id).await?;
        let chain = ancestry.iter().map(|n| n.id).collect();
        for ancestor in ancestry {
            match ancestor.public_access {
                PublicAccess::View => grants.push((ancestor.id, Role::Viewer)),
                PublicAccess::Edit => grants.push((ancestor.id, Role::Editor)),
                PublicAccess::None => {}
            }
        }
        if let Some(caller) = caller {
            grants.extend(self.db().grants_on_path(node.id, caller.user).await?);
        }
        let role = grants.iter().map(|(_, r)| *r).max().ok_or(ServiceError::NotFound)?;
        let roots = grants.into_iter().filter(|(_, r)| *r == role).map(|(n, _)| n).collect();
        Ok(Access { node, role, roots, chain })
    }

    /// The caller's standing, if it allows `action`. A caller who can see the node but not do
    /// this gets `Forbidden`; one who cannot see it gets `NotFound`.
    pub(crate) async fn authorize(
        &self,
        caller: Option<&Caller>,
        node: NodeId,
        action: Action,
    ) -> Result<Access> {
        let access = self.access(caller, node).await?;
        if !access.role.allows(action) {
            return Err(ServiceError::Forbidden("your role on this item does not allow this"));
        }
        if action == Action::Write {
            self.ensure_unlocked(caller, &access, false).await?;
        }
        Ok(access)
    }

    /// 423 unless every live WebDAV lock on the node — its own, or a deep one on a folder
    /// above it, whoever took it — has its token among the caller's; with `below`, locks on
    /// anything inside the node count too (it is about to be deleted or moved). Every write,
    /// through any door, comes through here: `authorize` calls it for `Action::Write`.
    pub(crate) async fn ensure_unlocked(
        &self,
        caller: Option<&Caller>,
        access: &Access,
        below: bool,
    ) -> Result<()> {
        let chain = if access.chain.is_empty() {
            self.db().ancestry(access.node.id).await?.iter().map(|n| n.id).collect()
        } else {
            access.chain.clone()
        };
        let now = self.now();
        let mut locks = self.db().locks_on(&chain, now).await?;
        locks.retain(|l| l.node == access.node.id || l.deep);
        if below {
            locks.extend(self.db().locks_below(access.node.id, now).await?);
        }
        let tokens = caller.map(|c| c.lock_tokens.as_slice()).unwrap_or_default();
        if locks.iter().any(|l| !tokens.contains(&l.token)) {
            return Err(ServiceError::Locked);
        }
        Ok(())
    }

    /// The standing of a caller who may write to the node, for managing it (its links and
    /// signed URLs) rather than changing it: WebDAV locks do not stand in the way.
    pub(crate) async fn authorize_manage(&self, caller: &Caller, node: NodeId) -> Result<Access> {
        let access = self.access(Some(caller), node).await?;
        if !access.role.allows(Action::Write) {
            return Err(ServiceError::Forbidden("your role on this item does not allow this"));
        }
        Ok(access)
    }

    /// Like [`authorize`](Self::authorize), for a folder.
    pub(crate) async fn authorize_folder(
        &self,
        caller: Option<&Caller>,
        node: NodeId,
        action: Action,
    ) -> Result<Access> {
        let access = self.authorize(caller, node, action).await?;
        if !access.node.is_folder() {
            return Err(ServiceError::invalid("not_a_folder", "this item is not a folder"));
        }
        Ok(access)
    }
}
