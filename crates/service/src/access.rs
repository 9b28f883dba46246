//! Who may do what to a node: the owner; a user holding a share on the node or a folder
//! above it; anyone, when the node or a folder above it is public; a visitor holding an opened
//! link. The best grant wins; the table of what each role allows is `stratus_core::access`.
//!
//! The decision is a value: [`Grant<P>`] is proof that the caller may do `P` to one live node,
//! and only this module can make one — from a checked role ([`Stratus::authorize`]), from an
//! opened link ([`LinkVisit`]), or from a folder already granted (what is inside it). Every
//! helper that reads or writes content takes a grant, so a code path that forgot to check
//! does not compile.

use std::marker::PhantomData;

use stratus_core::{Action, Node, NodeId, PublicAccess, Role};

use crate::{Caller, LinkVisit, Result, ServiceError, Stratus};

mod sealed {
    pub trait Sealed {}
}

/// What a [`Grant`] allows, as a type.
pub(crate) trait Permission: sealed::Sealed {
    /// The row of the role table the caller's role must allow.
    const ACTION: Action;
    /// Whether WebDAV locks stand in the way (they do for changing a node, not for managing
    /// its links or for locking it).
    const HONOURS_LOCKS: bool;
}

/// Permissions that let the holder create things in a folder.
pub(crate) trait Adds: Permission {}

macro_rules! permission {
    ($(#[$doc:meta])* $name:ident, $action:expr, $locks:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub(crate) enum $name {}
        impl sealed::Sealed for $name {}
        impl Permission for $name {
            const ACTION: Action = $action;
            const HONOURS_LOCKS: bool = $locks;
        }
    };
}

permission!(
    /// Metadata, listing, content, versions.
    Read, Action::Read, false
);
permission!(
    /// Changing the node or what is in it, unless a WebDAV lock the caller lacks is on it.
    Write, Action::Write, true
);
permission!(
    /// What an editor may do besides changing it: links, signed URLs, locks.
    Manage, Action::Write, false
);
permission!(
    /// Sharing with users.
    Share, Action::Share, false
);
permission!(
    /// The owner's own business: restoring from the trash (into a folder, so locks count).
    Own, Action::Own, true
);
impl Adds for Write {}
impl Adds for Own {}

/// Adding new files to a file-drop link's folder, and nothing else: never listing it, never
/// replacing what is there.
#[derive(Debug)]
pub(crate) enum Drop {}

/// Proof that a caller may do `P` to one live node, with their standing on it. Its fields are
/// private to this module: no other code can make one.
#[derive(Debug)]
pub(crate) struct Grant<P> {
    node: Node,
    role: Role,
    /// The nodes whose share or public attribute gives `role` (empty for the owner): the
    /// shared trees an editor may work within.
    roots: Vec<NodeId>,
    /// The node and the folders above it, up to the drive's root (empty for the owner, who
    /// needs no walk to be authorised).
    chain: Vec<NodeId>,
    _permission: PhantomData<fn() -> P>,
}

// By hand: a derive would ask `P` (a marker never made) to be `Clone` too.
impl<P> Clone for Grant<P> {
    fn clone(&self) -> Self {
        Self::new(self.node.clone(), self.role, self.roots.clone(), self.chain.clone())
    }
}

impl<P> Grant<P> {
    fn new(node: Node, role: Role, roots: Vec<NodeId>, chain: Vec<NodeId>) -> Self {
        Self { node, role, roots, chain, _permission: PhantomData }
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    pub fn into_node(self) -> Node {
        self.node
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn roots(&self) -> &[NodeId] {
        &self.roots
    }

    /// Whether the caller reaches this node only through a grant on the node itself (it is
    /// the shared item): renaming, moving or deleting it is then the owner's call.
    pub fn is_grant_root(&self) -> bool {
        self.role != Role::Owner && self.roots.contains(&self.node.id)
    }
}

impl Grant<Read> {
    /// The grant must be on a folder.
    pub fn folder(self) -> Result<Self> {
        if !self.node.is_folder() {
            return Err(ServiceError::invalid("not_a_folder", "this item is not a folder"));
        }
        Ok(self)
    }
}

impl LinkVisit {
    /// Reading what an opened link names (not through a file drop).
    pub(crate) fn read_grant(&self) -> Result<Grant<Read>> {
        if self.link().upload_only {
            return Err(ServiceError::Forbidden("this link only accepts uploads"));
        }
        Ok(Grant::new(self.target().clone(), Role::Viewer, vec![self.root().id], Vec::new()))
    }

    /// Dropping files into the folder an opened file-drop link names.
    pub(crate) fn drop_grant(&self) -> Result<Grant<Drop>> {
        if !self.link().upload_only {
            return Err(ServiceError::Forbidden("this link does not accept uploads"));
        }
        if !self.target().is_folder() {
            return Err(ServiceError::invalid("not_a_folder", "files are dropped into a folder"));
        }
        Ok(Grant::new(self.target().clone(), Role::Viewer, vec![self.root().id], Vec::new()))
    }
}

impl Stratus {
    /// The caller's standing on a live node; `NotFound` when they have none at all.
    async fn standing(&self, caller: Option<&Caller>, node: NodeId) -> Result<Grant<()>> {
        let node = self.db().live_node(node).await?;
        if caller.is_some_and(|c| c.user() == node.owner_id) {
            return Ok(Grant::new(node, Role::Owner, Vec::new(), Vec::new()));
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
            grants.extend(self.db().grants_on_path(node.id, caller.user()).await?);
        }
        let role = grants.iter().map(|(_, r)| *r).max().ok_or(ServiceError::NotFound)?;
        let roots = grants.into_iter().filter(|(_, r)| *r == role).map(|(n, _)| n).collect();
        Ok(Grant::new(node, role, roots, chain))
    }

    /// Proof that the caller may do `P` to the node. A caller who can see the node but not do
    /// this gets `Forbidden`; one who cannot see it gets `NotFound`; a write to a node under a
    /// WebDAV lock whose token the caller did not send gets `Locked`.
    pub(crate) async fn authorize<P: Permission>(
        &self,
        caller: Option<&Caller>,
        node: NodeId,
    ) -> Result<Grant<P>> {
        let standing = self.standing(caller, node).await?;
        if !standing.role.allows(P::ACTION) {
            return Err(ServiceError::Forbidden("your role on this item does not allow this"));
        }
        let grant = Grant::new(standing.node, standing.role, standing.roots, standing.chain);
        if P::HONOURS_LOCKS {
            self.ensure_unlocked(caller, &grant, false).await?;
        }
        Ok(grant)
    }

    /// Like [`authorize`](Self::authorize), for a folder.
    pub(crate) async fn authorize_folder<P: Permission>(
        &self,
        caller: Option<&Caller>,
        node: NodeId,
    ) -> Result<Grant<P>> {
        let grant = self.authorize::<P>(caller, node).await?;
        if !grant.node.is_folder() {
            return Err(ServiceError::invalid("not_a_folder", "this item is not a folder"));
        }
        Ok(grant)
    }

    /// 423 unless every live WebDAV lock on the node — its own, or a deep one on a folder
    /// above it, whoever took it — has its token among the caller's; with `below`, locks on
    /// anything inside the node count too (it is about to be deleted or moved). Every write,
    /// through any door, comes through here: `authorize::<Write>` calls it.
    pub(crate) async fn ensure_unlocked<P>(
        &self,
        caller: Option<&Caller>,
        grant: &Grant<P>,
        below: bool,
    ) -> Result<()> {
        let now = self.now();
        let mut locks = if grant.chain.is_empty() {
            self.db().locks_above(grant.node.id, now).await?
        } else {
            self.db().locks_on(&grant.chain, now).await?
        };
        locks.retain(|l| l.node == grant.node.id || l.deep);
        if below {
            locks.extend(self.db().locks_below(grant.node.id, now).await?);
        }
        let tokens = caller.map(Caller::lock_tokens).unwrap_or_default();
        if locks.iter().any(|l| !tokens.contains(&l.token)) {
            return Err(ServiceError::Locked);
        }
        Ok(())
    }

    /// Everything inside a granted folder, with the path below it: reading a folder means
    /// reading what is in it.
    pub(crate) async fn subtree(&self, folder: &Grant<Read>) -> Result<Vec<(String, Grant<Read>)>> {
        let entries = self.db().subtree(folder.node.id).await?;
        Ok(entries
            .into_iter()
            .map(|(path, node)| (path, Grant::new(node, folder.role, folder.roots.clone(), Vec::new())))
            .collect())
    }
}
