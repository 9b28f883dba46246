//! What WebDAV needs beyond the REST use cases: paths resolved in the caller's drive, dead
//! properties, locks (in the database, so several servers agree), and COPY that carries the
//! dead properties along. Every rule of the other use cases (names, quota, authz, trash) holds:
//! the WebDAV adapter calls them.

use std::collections::{HashMap, HashSet};

use futures_util::Stream;
use stratus_core::{Node, NodeId, NodeName, Role, SortKey, SortOrder};
use stratus_meta::ChildCursor;
pub use stratus_meta::DavLock;

use crate::{
    Caller, Result, ServiceError, Stratus,
    access::{Manage, Read, Write},
};

/// A path of the caller's drive, resolved.
#[derive(Debug, Clone)]
pub enum DavTarget {
    /// The node at the path.
    Found(Node),
    /// Nothing there, but its parent folder exists (a PUT, MKCOL or LOCK may create it).
    Missing { parent: Node, name: String },
    /// A folder on the way is missing.
    NoParent,
    /// `/Shared`: the folder listing what others share with the caller (read-only itself).
    SharedRoot,
}

/// The virtual folder at the drive's top that holds what others share with the caller.
pub const SHARED: &str = "Shared";

/// Dead properties: (`{namespace}name`, the element as XML).
pub type Props = Vec<(String, String)>;

/// Children per page of a PROPFIND Depth 1.
const DAV_PAGE: u32 = 500;

/// The longest lock the server grants.
pub const MAX_LOCK_SECS: i64 = 7 * 24 * 3600;

/// The virtual Shared folder's number (`oc:fileid`), the highest a client can read exactly.
pub const SHARED_FILE_NO: i64 = (1 << 53) - 1;

/// The virtual Shared folder as a node: its tag changes whenever an item is shared with the
/// caller, unshared, renamed, or changes below (the items' own tags and ETags are in it). Its
/// times are the newest item's, never before `since` (the caller's account).
pub fn shared_folder(items: &[Node], since: chrono::DateTime<chrono::Utc>) -> Node {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for item in items {
        hash.update(item.id.as_uuid().as_bytes());
        hash.update(item.name.as_bytes());
        hash.update(item.tree_tag.to_le_bytes());
        hash.update(item.content_hash.as_deref().unwrap_or("").as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&digest[..8]);
    let at = items.iter().map(|i| i.modified_at).max().unwrap_or(since).max(since);
    Node {
        id: NodeId::from(uuid::Uuid::nil()),
        name: SHARED.to_string(),
        kind: stratus_core::NodeKind::Folder,
        size: 0,
        content_hash: None,
        parent_id: None,
        owner_id: stratus_core::UserId::from(uuid::Uuid::nil()),
        public_access: Default::default(),
        created_at: at,
        modified_at: at,
        version_id: None,
        tree_tag: i64::from_le_bytes(tag) & i64::MAX,
        // No node has it: numbers count up from 1.
        file_no: SHARED_FILE_NO,
        sha1: None,
    }
}

impl Stratus {
    /// The caller's role on a node they reached (the owner's, or their share's).
    pub async fn dav_role(&self, caller: &Caller, node: &Node) -> Result<Role> {
        if node.owner_id == caller.user() {
            return Ok(Role::Owner);
        }
        Ok(self.authorize::<Read>(Some(caller), node.id).await?.role())
    }

    /// The file or folder numbered `file_no` (its `oc:fileid`), if it is the caller's or
    /// shared with them; otherwise not found, whether or not it exists. Numbers count up, so
    /// a node public to anyone who knows its id is not found by number: that would let anyone
    /// walk the numbers to every public file.
    pub async fn node_by_number(&self, caller: &Caller, file_no: i64) -> Result<Node> {
        let node = self.db().node_by_number(file_no).await?.ok_or(ServiceError::NotFound)?;
        if node.owner_id != caller.user()
            && self.db().grants_on_path(node.id, caller.user()).await?.is_empty()
        {
            return Err(ServiceError::NotFound);
        }
        Ok(self.authorize::<Read>(Some(caller), node.id).await?.into_node())
    }

    /// Resolves `segments` (already percent-decoded) from the caller's root.
    pub async fn dav_resolve(&self, caller: &Caller, segments: &[String]) -> Result<DavTarget> {
        let (mut node, rest) = match segments.split_first() {
            Some((first, rest)) if first == SHARED => {
                let Some((name, rest)) = rest.split_first() else { return Ok(DavTarget::SharedRoot) };
                let shared = self.dav_shared(caller).await?;
                match shared.into_iter().find(|n| &n.name == name) {
                    Some(node) => (node, rest),
                    None => return Ok(DavTarget::NoParent),
                }
            }
            _ => (self.db().root_node(caller.user()).await?, segments),
        };
        for (i, segment) in rest.iter().enumerate() {
            let name = NodeName::new(segment)?;
            match self.db().child_by_name(node.id, name.as_str()).await? {
                Some(child) => node = child,
                None if i + 1 == rest.len() && node.is_folder() => {
                    return Ok(DavTarget::Missing { parent: node, name: name.as_str().to_string() });
                }
                None => return Ok(DavTarget::NoParent),
            }
            if i + 1 < rest.len() && !node.is_folder() {
                return Ok(DavTarget::NoParent);
            }
        }
        Ok(DavTarget::Found(node))
    }

    /// What others share with the caller, as the `Shared` folder lists it, each under a name
    /// of its own: the oldest share keeps the item's name, a later one with the same name is
    /// `name (owner)`, then `name (owner) (2)`… So a newer share can never take the place of an
    /// older one (anyone may share a folder named like one you already use).
    pub async fn dav_shared(&self, caller: &Caller) -> Result<Vec<Node>> {
        let mut items = self.shared_with_me(caller).await?;
        items.sort_by_key(|item| item.share_id);
        let mut taken = HashSet::new();
        let mut nodes = Vec::with_capacity(items.len());
        for item in items {
            let mut node = item.node;
            let is_file = !node.is_folder();
            // A name stored before today's rules is shown cleaned, not refused.
            let plain = NodeName::new(&node.name).or_else(|_| NodeName::new(&NodeName::clean(&node.name)))?;
            let owned = plain.suffixed(&format!("({})", item.owner_username), is_file);
            let candidates =
                std::iter::once(Some(plain.clone())).chain(std::iter::once(owned.clone())).chain(
                    (2..)
                        .take(taken.len() + 1)
                        .map(|n| owned.as_ref().unwrap_or(&plain).numbered(n, is_file)),
                );
            // What the caller may do with it is part of what they hold: a change of role
            // changes its tag, so their clients read its permissions again.
            if item.role >= Role::Editor {
                node.tree_tag ^= 1 << 62;
            }
            if let Some(name) = candidates.flatten().find(|n| !taken.contains(n.as_str())) {
                node.name = name.as_str().to_string();
                taken.insert(node.name.clone());
                nodes.push(node);
            }
        }
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nodes)
    }

    /// Every live child of a folder the caller may read, by name.
    pub async fn dav_children(&self, caller: &Caller, folder: NodeId) -> Result<Vec<Node>> {
        self.authorize::<Read>(Some(caller), folder).await?;
        Ok(self.db().all_children(folder).await?)
    }

    /// A folder's children with their dead properties, by name, a page at a time: memory stays
    /// bounded whatever the folder's size, and each page is authorised afresh, so a caller whose
    /// share is revoked halfway gets no further page.
    pub fn dav_children_pages(
        &self,
        caller: &Caller,
        folder: NodeId,
    ) -> impl Stream<Item = Result<Vec<(Node, Props)>>> + Send + 'static {
        let (stratus, caller) = (self.clone(), caller.clone());
        futures_util::stream::try_unfold(Some(None), move |cursor: Option<Option<ChildCursor>>| {
            let (stratus, caller) = (stratus.clone(), caller.clone());
            async move {
                let Some(after) = cursor else { return Ok(None) };
                stratus.authorize::<Read>(Some(&caller), folder).await?;
                let children = stratus
                    .db()
                    .children(folder, SortKey::Name, SortOrder::Asc, after.as_ref(), DAV_PAGE)
                    .await?;
                let next = match children.last() {
                    Some(last) if children.len() == DAV_PAGE as usize => {
                        Some(Some(ChildCursor::after(last, SortKey::Name)))
                    }
                    _ => None,
                };
                let ids: Vec<NodeId> = children.iter().map(|c| c.id).collect();
                let mut props: HashMap<NodeId, Props> = HashMap::new();
                for (node, name, value) in stratus.db().dav_props_of(&ids).await? {
                    props.entry(node).or_default().push((name, value));
                }
                let page = children
                    .into_iter()
                    .map(|c| {
                        let p = props.remove(&c.id).unwrap_or_default();
                        (c, p)
                    })
                    .collect();
                Ok(Some((page, next)))
            }
        })
    }

    pub async fn dav_props(&self, caller: &Caller, node: NodeId) -> Result<Props> {
        self.authorize::<Read>(Some(caller), node).await?;
        Ok(self.db().dav_props(node).await?)
    }

    pub async fn dav_patch_props(
        &self,
        caller: &Caller,
        node: NodeId,
        changes: &[(String, Option<String>)],
    ) -> Result<()> {
        self.authorize::<Write>(Some(caller), node).await?;
        if changes
            .iter()
            .any(|(name, value)| name.len() > 1024 || value.as_ref().is_some_and(|v| v.len() > 64 << 10))
        {
            return Err(ServiceError::invalid("property_too_large", "a property is at most 64 KiB"));
        }
        Ok(self.db().patch_dav_props(node, changes).await?)
    }

    /// Copies `source` into `parent` as `name`, dead properties included (all of a folder's).
    /// With `replace` (what stands at the destination, `Overwrite: T`), that node goes to the
    /// trash in the copy's transaction: if the copy is refused (quota, authorisation), the
    /// destination is left as it was.
    pub async fn dav_copy(
        &self,
        caller: &Caller,
        source: &Node,
        parent: NodeId,
        name: &str,
        deep: bool,
        replace: Option<NodeId>,
    ) -> Result<Node> {
        if deep || !source.is_folder() {
            let copy = self.copy_replacing(caller, source.id, parent, Some(name), replace).await?;
            self.copy_props_below(source.id, copy.id, deep).await?;
            return Ok(copy);
        }
        // A folder without its members: an empty folder, in place of `replace`.
        self.authorize::<Read>(Some(caller), source.id).await?;
        let copy = match replace {
            Some(old) => {
                let name = NodeName::new(name)?;
                let parent = self.authorize_folder::<Write>(Some(caller), parent).await?;
                self.swap_in_empty_folder(caller, &parent, &name, old).await?
            }
            None => self.mkdir(Some(caller), parent, name).await?,
        };
        self.copy_props_below(source.id, copy.id, false).await?;
        Ok(copy)
    }

    /// Moves `source` into `parent` as `name`; with `replace`, the node standing there goes to
    /// the trash in the move's transaction, so a refused move leaves both where they were.
    pub async fn dav_move(
        &self,
        caller: &Caller,
        source: &Node,
        parent: NodeId,
        name: &str,
        replace: Option<NodeId>,
    ) -> Result<Node> {
        let rename = (name != source.name).then(|| name.to_string());
        let update = crate::NodeUpdate { name: rename, parent_id: Some(parent), public_access: None };
        self.update_node_replacing(caller, source.id, update, replace).await
    }

    async fn copy_props_below(&self, from: NodeId, to: NodeId, deep: bool) -> Result<()> {
        let mut pending = vec![(from, to)];
        while let Some((from, to)) = pending.pop() {
            self.db().copy_dav_props(from, to).await?;
            if !deep {
                continue;
            }
            for child in self.db().all_children(from).await? {
                if let Some(twin) = self.db().child_by_name(to, &child.name).await? {
                    pending.push((child.id, twin.id));
                }
            }
        }
        Ok(())
    }

    /// The caller's unexpired locks.
    pub async fn dav_locks(&self, caller: &Caller) -> Result<Vec<DavLock>> {
        Ok(self.db().dav_locks(caller.user(), self.now()).await?)
    }

    /// Locks `node` (at `path` in the caller's drive) unless a live lock of anyone's conflicts
    /// with it: checked and taken in one transaction (423 `locked` on a conflict).
    #[allow(clippy::too_many_arguments)]
    pub async fn dav_lock(
        &self,
        caller: &Caller,
        path: &str,
        node: NodeId,
        deep: bool,
        exclusive: bool,
        owner_xml: String,
        timeout_secs: i64,
    ) -> Result<DavLock> {
        let grant = self.authorize::<Manage>(Some(caller), node).await?;
        let ancestors: Vec<NodeId> =
            self.db().ancestry(node).await?.iter().map(|n| n.id).filter(|id| *id != node).collect();
        let timeout_secs = timeout_secs.clamp(1, MAX_LOCK_SECS);
        let lock = DavLock {
            token: format!("opaquelocktoken:{}", uuid::Uuid::new_v4()),
            user: caller.user(),
            node: Some(node),
            path: path.to_string(),
            deep,
            exclusive,
            owner_xml,
            timeout_secs,
            expires_at: self.now() + chrono::Duration::seconds(timeout_secs),
        };
        if !self.db().take_dav_lock(&lock, grant.node().owner_id, &ancestors, self.now()).await? {
            return Err(ServiceError::Locked);
        }
        Ok(lock)
    }

    pub async fn dav_refresh_lock(&self, caller: &Caller, token: &str, timeout_secs: i64) -> Result<bool> {
        let timeout_secs = timeout_secs.clamp(1, MAX_LOCK_SECS);
        let expires = self.now() + chrono::Duration::seconds(timeout_secs);
        Ok(self.db().refresh_dav_lock(caller.user(), token, timeout_secs, expires).await?)
    }

    pub async fn dav_unlock(&self, caller: &Caller, token: &str) -> Result<bool> {
        Ok(self.db().delete_dav_lock(caller.user(), token).await?)
    }

    /// Drops the locks on `path` and below (deleted, or moved away).
    pub async fn dav_drop_locks(&self, caller: &Caller, path: &str) -> Result<()> {
        Ok(self.db().delete_dav_locks_under(caller.user(), path).await?)
    }
}
