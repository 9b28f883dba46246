//! What Nextcloud's clients know a file by besides its path: its number (`oc:fileid`, given by
//! the database on insert) and its content's SHA-1 (`oc:checksums`, kept per owner and
//! content).

use stratus_core::{Node, UserId};

use crate::{
    Db, Result,
    row::{NodeRow, node_columns},
};

impl Db {
    /// The live node numbered `file_no`, if any.
    pub async fn node_by_number(&self, file_no: i64) -> Result<Option<Node>> {
        let row: Option<NodeRow> = on_db!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                node_columns!(),
                " FROM nodes WHERE file_no = $1 AND trashed_at IS NULL"
            ))
            .bind(file_no)
            .fetch_optional(pool)
            .await?
        });
        row.map(Node::try_from).transpose()
    }

    /// Records the SHA-1 (hex) of the content `content_hash` names in `owner`'s drive, once
    /// verified. A content has one SHA-1, so a second record of it changes nothing.
    pub async fn record_sha1(&self, owner: UserId, content_hash: &str, sha1: &str) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO content_checksums (owner_id, content_hash, sha1) VALUES ($1, $2, $3) \
                 ON CONFLICT (owner_id, content_hash) DO NOTHING",
            )
            .bind(owner.to_string())
            .bind(content_hash)
            .bind(sha1)
            .execute(pool)
            .await
            .map(drop)?
        });
        Ok(())
    }
}
