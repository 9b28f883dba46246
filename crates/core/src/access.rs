//! What each role may do: the one table every authorisation decision consults.
//!
//! | action                                                        | owner | editor | viewer |
//! |---------------------------------------------------------------|:-----:|:------:|:------:|
//! | `Read`: metadata, list, download, zip, versions, signed URL    |   ✓   |   ✓    |   ✓    |
//! | `Write`: upload into, new version, create folder, rename, move |   ✓   |   ✓    |        |
//! |   within the shared tree, delete (to the owner's trash), set   |       |        |        |
//! |   public access, create and manage links                       |       |        |        |
//! | `Share`: share with users, change or revoke shares, move out   |   ✓   |        |        |
//! |   of a shared tree, rename/move/delete the shared item itself  |       |        |        |
//! | `Own`: trash, versions restore, everything else                |   ✓   |        |        |

use crate::Role;

/// Something a caller wants to do to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Share,
    Own,
}

impl Role {
    /// Whether this role may perform `action`.
    pub fn allows(self, action: Action) -> bool {
        matches!(
            (self, action),
            (Role::Owner, _) | (Role::Editor, Action::Read | Action::Write) | (Role::Viewer, Action::Read)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use Action::*;
        let table = [
            (Role::Owner, [true, true, true, true]),
            (Role::Editor, [true, true, false, false]),
            (Role::Viewer, [true, false, false, false]),
        ];
        for (role, expected) in table {
            let got = [Read, Write, Share, Own].map(|a| role.allows(a));
            assert_eq!(got, expected, "{role:?}");
        }
    }
}
