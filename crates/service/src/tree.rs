//! The tree: reading, listing, creating folders, rename, move, copy, lookup by path, delete.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stratus_core::{Node, NodeId, NodeKind, NodeName, PublicAccess, Role, SortKey, SortOrder, UserId};
use stratus_meta::{ChildCursor, CursorKey, NewFolder, NodeChange, Replacing, SearchCursor};

use crate::{
    Caller, Result, ServiceError, Stratus,
    access::{Adds, Grant, Read, Write},
};

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub sort: SortKey,
    pub order: SortOrder,
    pub limit: Option<u32>,
    /// Opaque, from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Node>,
    pub next_cursor: Option<String>,
    /// How many live items the folder holds; counted for the first page only.
    pub total: Option<u64>,
}

/// One page of search hits.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub items: Vec<SearchHit>,
    pub next_cursor: Option<String>,
}

/// A file or folder found by name, with the path of the folder that holds it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    #[serde(flatten)]
    pub node: Node,
    /// The folder holding the hit, from the drive's root (`/`, `/Photos/2024`).
    pub folder_path: String,
}

/// How many hits a search returns at most.
pub const MAX_SEARCH_HITS: u32 = 200;

/// A PATCH of a node: any of rename, move, public access.
#[derive(Debug, Clone, Default)]
pub struct NodeUpdate {
    pub name: Option<String>,
    pub parent_id: Option<NodeId>,
    pub public_access: Option<PublicAccess>,
}

/// The cursor's wire form: base64url of this JSON.
#[derive(Serialize, Deserialize)]
struct CursorWire {
    s: SortKey,
    k: NodeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<i64>,
    i: NodeId,
}

fn encode_cursor(sort: SortKey, c: &ChildCursor) -> String {
    let (t, n) = match &c.key {
        CursorKey::Text(t) => (Some(t.clone()), None),
        CursorKey::Int(n) => (None, Some(*n)),
    };
    let wire = CursorWire { s: sort, k: c.kind, t, n, i: c.id };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

/// A search cursor's wire form: base64url of this JSON.
#[derive(Serialize, Deserialize)]
struct SearchCursorWire {
    k: NodeKind,
    n: String,
    i: NodeId,
}

fn encode_search_cursor(node: &Node) -> String {
    let c = SearchCursor::after(node);
    let wire = SearchCursorWire { k: c.kind, n: c.sort_name, i: node.id };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

fn decode_search_cursor(raw: &str) -> Result<SearchCursor> {
    let bad = || ServiceError::bad_request("invalid_cursor", "this cursor is not valid for this search");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let wire: SearchCursorWire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    // No name holds a control character (and PostgreSQL refuses a NUL in text).
    if wire.n.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok(SearchCursor { kind: wire.k, sort_name: wire.n, id: wire.i.to_string() })
}

fn decode_cursor(sort: SortKey, raw: &str) -> Result<ChildCursor> {
    let bad = || ServiceError::BadRequest {
        code: "invalid_cursor",
        message: "this cursor is not valid for this listing".into(),
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let wire: CursorWire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let key = match (sort, wire.t, wire.n) {
        (SortKey::Name, Some(t), None) => CursorKey::Text(t),
        (SortKey::Modified | SortKey::Size, None, Some(n)) => CursorKey::Int(n),
        _ => return Err(bad()),
    };
    if wire.s != sort {
        return Err(bad());
    }
    Ok(ChildCursor { kind: wire.k, key, id: wire.i })
}

impl Stratus {
    pub async fn node(&self, caller: Option<&Caller>, node: NodeId) -> Result<Node> {
        Ok(self.authorize::<Read>(caller, node).await?.into_node())
    }

    /// One page of a folder, in one query whatever the folder's size.
    pub async fn children(&self, caller: Option<&Caller>, folder: NodeId, q: &ListQuery) -> Result<Page> {
        let folder = self.authorize_folder::<Read>(caller, folder).await?;
        self.list_folder(&folder, q).await
    }

    /// One page of a folder the caller holds a grant to read.
    pub(crate) async fn list_folder(&self, folder: &Grant<Read>, q: &ListQuery) -> Result<Page> {
        let folder = folder.node();
        let limit = q.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ServiceError::BadRequest {
                code: "invalid_limit",
                message: format!("limit is 1 to {MAX_PAGE}"),
            });
        }
        let after = q.cursor.as_deref().map(|c| decode_cursor(q.sort, c)).transpose()?;
        let mut items = self.db().children(folder.id, q.sort, q.order, after.as_ref(), limit + 1).await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|last| encode_cursor(q.sort, &ChildCursor::after(last, q.sort)))
        } else {
            None
        };
        // A first page that holds everything is its own count.
        let total = match (&after, &next_cursor) {
            (Some(_), _) => None,
            (None, None) => Some(items.len() as u64),
            (None, Some(_)) => Some(self.db().count_children(folder.id).await?),
        };
        Ok(Page { items, next_cursor, total })
    }

    /// One page of the caller's files and folders whose name contains `text`, ignoring case
    /// (folders first, then by name), from `cursor` (a previous page's `next_cursor`).
    pub async fn search(
        &self,
        caller: &Caller,
        text: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<SearchPage> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 255 {
            return Err(ServiceError::bad_request("invalid_query", "search for 1 to 255 characters"));
        }
        // No name holds a control character, so none can be searched for (and SQLite's index
        // would read a NUL as the end of its query).
        if text.chars().any(char::is_control) {
            return Err(ServiceError::bad_request("invalid_query", "search text with a control character"));
        }
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_SEARCH_HITS).contains(&limit) {
            return Err(ServiceError::BadRequest {
                code: "invalid_limit",
                message: format!("limit is 1 to {MAX_SEARCH_HITS}"),
            });
        }
        let after = cursor.map(decode_search_cursor).transpose()?;
        let mut hits = self.db().search(caller.user(), text, after.as_ref(), limit + 1).await?;
        let next_cursor = if hits.len() > limit as usize {
            hits.truncate(limit as usize);
            hits.last().map(|(node, _)| encode_search_cursor(node))
        } else {
            None
        };
        let items = hits.into_iter().map(|(node, folder_path)| SearchHit { node, folder_path }).collect();
        Ok(SearchPage { items, next_cursor })
    }

    /// Creates a folder (owned by the parent's owner, whoever the caller).
    pub async fn mkdir(&self, caller: Option<&Caller>, parent: NodeId, name: &str) -> Result<Node> {
        let name = NodeName::new(name)?;
        let parent = self.authorize_folder::<Write>(caller, parent).await?;
        self.create_folder(parent.node().owner_id, parent.node().id, &name).await
    }

    async fn create_folder(&self, owner: UserId, parent: NodeId, name: &NodeName) -> Result<Node> {
        let folder = NewFolder {
            id: NodeId::new(),
            owner,
            parent,
            name: name.as_str(),
            now: self.now(),
            replacing: None,
        };
        Ok(self.db().create_folder(&folder).await?)
    }

    /// Walks `segments` down from a folder the caller may add to, creating each missing
    /// folder (`mkdir -p`).
    pub(crate) async fn ensure_folders<P: Adds>(
        &self,
        from: &Grant<P>,
        segments: &[NodeName],
    ) -> Result<NodeId> {
        let owner = from.node().owner_id;
        let mut at = from.node().id;
        for name in segments {
            at = match self.db().child_by_name(at, name.as_str()).await? {
                Some(node) if node.is_folder() => node.id,
                Some(_) => return Err(ServiceError::NameConflict),
                None => match self.create_folder(owner, at, name).await {
                    Ok(folder) => folder.id,
                    // Created meanwhile by a concurrent request: use theirs.
                    Err(ServiceError::NameConflict) => {
                        match self.db().child_by_name(at, name.as_str()).await? {
                            Some(node) if node.is_folder() => node.id,
                            _ => return Err(ServiceError::NameConflict),
                        }
                    }
                    Err(err) => return Err(err),
                },
            };
        }
        Ok(at)
    }

    /// Rename, move and/or public-access change. Editors work within the shared tree: they
    /// cannot move an item out of it, nor rename, move or delete the shared item itself.
    pub async fn update_node(&self, caller: &Caller, node: NodeId, u: NodeUpdate) -> Result<Node> {
        self.update_node_replacing(caller, node, u, None).await
    }

    /// [`update_node`](Self::update_node) that also sends `replace` (a live node where the
    /// moved one lands) to the trash, in one transaction: nothing changes unless both happen.
    pub(crate) async fn update_node_replacing(
        &self,
        caller: &Caller,
        node: NodeId,
        u: NodeUpdate,
        replace: Option<NodeId>,
    ) -> Result<Node> {
        let access = self.authorize::<Write>(Some(caller), node).await?;
        let node = access.node();
        let moves = u.parent_id.filter(|p| Some(*p) != node.parent_id);
        if node.parent_id.is_none() && (u.name.is_some() || moves.is_some()) {
            return Err(ServiceError::invalid("root_folder", "the root folder cannot be renamed or moved"));
        }
        if access.is_grant_root() && (u.name.is_some() || moves.is_some()) {
            return Err(ServiceError::Forbidden("only the owner can rename or move a shared item"));
        }
        if node.is_folder() && (u.name.is_some() || moves.is_some()) {
            self.ensure_unlocked(Some(caller), &access, true).await?;
        }
        let name = u.name.as_deref().map(NodeName::new).transpose()?;
        if let Some(parent) = moves {
            let dest = self.authorize_folder::<Write>(Some(caller), parent).await?;
            if dest.node().owner_id != node.owner_id {
                return Err(ServiceError::invalid(
                    "cross_owner_move",
                    "items move only within one drive; copy instead",
                ));
            }
            let within =
                access.role() == Role::Owner || dest.roots().iter().any(|r| access.roots().contains(r));
            if !within {
                return Err(ServiceError::Forbidden(
                    "only the owner can move an item out of a shared folder",
                ));
            }
        }
        let replaced = match replace {
            Some(id) => Some(self.deletable(caller, id).await?),
            None => None,
        };
        let change = NodeChange {
            name: name.as_ref().map(NodeName::as_str),
            parent: moves,
            public_access: u.public_access,
            modified_at: None,
            replacing: replaced.as_ref().map(|(node, path)| Replacing {
                node,
                original_path: path,
                now: self.now(),
            }),
        };
        Ok(self.db().change_node(node, &change).await?)
    }

    /// Sets the modification time a client keeps for a file or folder it may write to (a sync
    /// client's file time: `X-OC-Mtime`, a PROPPATCH of `getlastmodified`).
    pub async fn set_modified(&self, caller: &Caller, node: NodeId, at: DateTime<Utc>) -> Result<Node> {
        let grant = self.authorize::<Write>(Some(caller), node).await?;
        let change = NodeChange {
            name: None,
            parent: None,
            public_access: None,
            modified_at: Some(at),
            replacing: None,
        };
        Ok(self.db().change_node(grant.node(), &change).await?)
    }

    /// Server-side copy into a folder the caller may write to: the new files share the
    /// source's blocks (no byte is copied) and count against the destination owner's quota.
    pub async fn copy(
        &self,
        caller: &Caller,
        source: NodeId,
        parent: NodeId,
        name: Option<&str>,
    ) -> Result<Node> {
        self.copy_replacing(caller, source, parent, name, None).await
    }

    /// [`copy`](Self::copy) that sends `replace` (the live node named like the copy) to the
    /// trash in the copy's transaction: nothing changes unless both happen.
    pub(crate) async fn copy_replacing(
        &self,
        caller: &Caller,
        source: NodeId,
        parent: NodeId,
        name: Option<&str>,
        replace: Option<NodeId>,
    ) -> Result<Node> {
        let source = self.authorize::<Read>(Some(caller), source).await?.into_node();
        if source.parent_id.is_none() {
            return Err(ServiceError::invalid("root_folder", "the root folder cannot be copied"));
        }
        let parent = self.authorize_folder::<Write>(Some(caller), parent).await?.into_node();
        if source.is_folder() && self.db().is_within(parent.id, source.id).await? {
            return Err(ServiceError::invalid("invalid_move", "a folder cannot be copied into itself"));
        }
        let name = NodeName::new(name.unwrap_or(&source.name))?;
        let replaced = match replace {
            Some(id) => Some(self.deletable(caller, id).await?),
            None => None,
        };
        let taken = self.db().child_by_name(parent.id, name.as_str()).await?;
        if taken.is_some_and(|t| replaced.as_ref().is_none_or(|(r, _)| r.id != t.id)) {
            return Err(ServiceError::NameConflict);
        }
        let now = self.now();
        let replacing = replaced.as_ref().map(|(node, path)| Replacing { node, original_path: path, now });
        Ok(self.db().copy_subtree(&source, &parent, name.as_str(), now, replacing).await?)
    }

    /// The caller's node at `path` (`/` is their root; segments are NFC-normalised).
    pub async fn by_path(&self, caller: &Caller, path: &str) -> Result<Node> {
        let user = self.db().user(caller.user()).await?;
        let mut node = self.db().live_node(user.root_id).await?;
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            let name = NodeName::new(segment)?;
            node = self.db().child_by_name(node.id, name.as_str()).await?.ok_or(ServiceError::NotFound)?;
        }
        Ok(node)
    }

    /// The path of a live node, e.g. `/Photos/2024` (`/` for the root).
    pub(crate) async fn path_of(&self, node: NodeId) -> Result<String> {
        let chain = self.db().ancestry(node).await?;
        let names: Vec<&str> = chain.iter().skip(1).map(|n| n.name.as_str()).collect();
        Ok(format!("/{}", names.join("/")))
    }

    /// Moves a node (and everything in it) to its owner's trash.
    pub async fn delete(&self, caller: &Caller, node: NodeId) -> Result<()> {
        let (node, from) = self.deletable(caller, node).await?;
        Ok(self.db().trash_node(&node, &from, self.now()).await?)
    }

    /// An empty folder `name` in `parent` (which the caller may write to) in place of `old`,
    /// trashed in the same transaction.
    pub(crate) async fn swap_in_empty_folder(
        &self,
        caller: &Caller,
        parent: &Grant<Write>,
        name: &NodeName,
        old: NodeId,
    ) -> Result<Node> {
        let parent = parent.node();
        let (node, path) = self.deletable(caller, old).await?;
        let now = self.now();
        let folder = NewFolder {
            id: NodeId::new(),
            owner: parent.owner_id,
            parent: parent.id,
            name: name.as_str(),
            now,
            replacing: Some(Replacing { node: &node, original_path: &path, now }),
        };
        Ok(self.db().create_folder(&folder).await?)
    }

    /// A node the caller may send to the trash, and the path of the folder it is in.
    async fn deletable(&self, caller: &Caller, node: NodeId) -> Result<(Node, String)> {
        let access = self.authorize::<Write>(Some(caller), node).await?;
        let Some(parent) = access.node().parent_id else {
            return Err(ServiceError::invalid("root_folder", "the root folder cannot be deleted"));
        };
        if access.is_grant_root() {
            return Err(ServiceError::Forbidden("only the owner can delete a shared item"));
        }
        if access.node().is_folder() {
            self.ensure_unlocked(Some(caller), &access, true).await?;
        }
        Ok((access.into_node(), self.path_of(parent).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_tied_to_their_sort() {
        let c = ChildCursor { kind: NodeKind::File, key: CursorKey::Int(42), id: NodeId::new() };
        let wire = encode_cursor(SortKey::Size, &c);
        assert_eq!(decode_cursor(SortKey::Size, &wire).ok(), Some(c));
        assert!(decode_cursor(SortKey::Modified, &wire).is_err());
        assert!(decode_cursor(SortKey::Name, "garbage").is_err());
    }
}
