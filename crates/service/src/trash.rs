//! The trash: list, restore to the original place, purge one item, empty.

use stratus_core::{Node, NodeId, NodeName, TrashItem};

use crate::{Caller, Result, ServiceError, Stratus, access::Own};

/// Bytes given back to the quota by a purge.
pub type Freed = u64;

impl Stratus {
    pub async fn trash(&self, caller: &Caller) -> Result<Vec<TrashItem>> {
        Ok(self.db().trash(caller.user()).await?)
    }

    /// Restores an item where it was: into its old folder if that is still live, else into
    /// the old path, recreating missing folders. A name clash there keeps both (`name (1)`).
    pub async fn restore(&self, caller: &Caller, item: NodeId) -> Result<Node> {
        let (node, path) = self.db().trash_item(caller.user(), item).await?;
        let old_parent = match node.parent_id {
            Some(parent) => match self.authorize_folder::<Own>(Some(caller), parent).await {
                Ok(folder) => Some(folder),
                // Gone (trashed or purged meanwhile, or no longer a folder): the old path.
                Err(ServiceError::NotFound | ServiceError::Invalid { .. }) => None,
                Err(err) => return Err(err),
            },
            None => None,
        };
        let parent = match old_parent {
            Some(folder) => folder.node().id,
            None => {
                let root = self.db().user(caller.user()).await?.root_id;
                let root = self.authorize::<Own>(Some(caller), root).await?;
                let segments = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(NodeName::new)
                    .collect::<Result<Vec<_>, _>>()?;
                self.ensure_folders(&root, &segments).await?
            }
        };
        let original = NodeName::new(&node.name)?;
        for n in 0..10_000 {
            let name = match n {
                0 => original.clone(),
                n => original.numbered(n, !node.is_folder()).ok_or(ServiceError::NameConflict)?,
            };
            if self.db().child_by_name(parent, name.as_str()).await?.is_some() {
                continue;
            }
            match self.db().restore(node.id, parent, &name).await {
                // The caller's own item (`trash_item` is theirs alone), just put back.
                Ok(()) => return Ok(self.db().live_node(node.id).await?),
                Err(stratus_meta::MetaError::NameConflict) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(ServiceError::NameConflict)
    }

    /// Deletes one trash item for good and gives its bytes back to the quota.
    pub async fn purge(&self, caller: &Caller, item: NodeId) -> Result<Freed> {
        let purged = self.db().purge(caller.user(), item, self.now()).await?;
        Ok(purged.bytes)
    }

    /// Purges every item in the caller's trash.
    pub async fn empty_trash(&self, caller: &Caller) -> Result<Freed> {
        let mut freed = 0;
        for item in self.db().trash(caller.user()).await? {
            freed += self.purge(caller, item.id).await?;
        }
        Ok(freed)
    }
}
