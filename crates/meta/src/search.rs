//! Name search over one owner's drive, a page at a time.

use std::collections::{HashMap, HashSet};

use stratus_core::{Node, NodeKind, UserId};

use crate::{
    Db, Result,
    row::{NodeRow, contains_pattern, node_columns, nodes},
};

/// A folder's id, its parent's id and its name (to spell out paths).
type FolderName = (String, Option<String>, String);

/// Where the next page of a search starts: just after this hit in the search's order
/// (folders first, then by name, then by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCursor {
    pub kind: NodeKind,
    /// The hit's name as the index sorts it (lower case).
    pub sort_name: String,
    pub id: String,
}

impl SearchCursor {
    pub fn after(node: &Node) -> Self {
        Self { kind: node.kind, sort_name: node.name.to_lowercase(), id: node.id.to_string() }
    }
}

impl Db {
    /// The owner's live files and folders whose name contains `text` (any case), folders
    /// first, by name, each with the path of the folder holding it (`/` for the root), from
    /// just after `after`: two queries whatever the number of hits, the paths resolved for the
    /// returned page only. On PostgreSQL a trigram index serves the match.
    pub async fn search(
        &self,
        owner: UserId,
        text: &str,
        after: Option<&SearchCursor>,
        limit: u32,
    ) -> Result<Vec<(Node, String)>> {
        let pattern = contains_pattern(text);
        // The hits' ids, ordered and limited. On SQLite, a text of three characters or more
        // takes its candidates from the trigram index (migration 0018); PostgreSQL's planner
        // uses its own trigram index for the `LIKE`.
        let lowered = text.to_lowercase();
        let indexed = matches!(self, Db::Sqlite(_)) && lowered.chars().count() >= 3;
        // $1 owner, $2 pattern, $3 limit; then the index's phrase and the cursor, if any.
        let mut extra: Vec<String> = Vec::new();
        let mut mark = |value: String| {
            extra.push(value);
            format!("${}", extra.len() + 3)
        };
        let (owner_term, candidates) = if indexed {
            // `+owner_id`: SQLite's way to keep the planner off the owner index, which would
            // walk the whole drive of a user with millions of files.
            let phrase = mark(format!("\"{}\"", lowered.replace('"', "\"\"")));
            (
                "+owner_id = $1",
                format!(
                    " AND id IN (SELECT r.node_id FROM search_names s JOIN search_rows r ON r.seq = s.rowid \
                     WHERE search_names MATCH {phrase})"
                ),
            )
        } else {
            ("owner_id = $1", String::new())
        };
        // Folders sort first (`kind DESC`), then names and ids ascending.
        let page_term = match after {
            Some(c) => {
                let (k, n, i) = (mark(c.kind.as_str().into()), mark(c.sort_name.clone()), mark(c.id.clone()));
                format!(
                    " AND (kind < {k} OR (kind = {k} AND (sort_name > {n} OR (sort_name = {n} AND id > {i}))))"
                )
            }
            None => String::new(),
        };
        let rows_sql = format!(
            "SELECT {} FROM nodes WHERE {owner_term} AND parent_id IS NOT NULL AND trashed_at IS NULL \
             AND sort_name LIKE $2 ESCAPE '\\'{candidates}{page_term} ORDER BY kind DESC, sort_name, id LIMIT $3",
            node_columns!()
        );
        let rows: Vec<NodeRow> = on_db!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(rows_sql.as_str()))
                .bind(owner.to_string())
                .bind(&pattern)
                .bind(i64::from(limit));
            for value in &extra {
                query = query.bind(value);
            }
            query.fetch_all(pool).await?
        });
        let paths = self.folder_paths(&rows).await?;
        nodes(rows)?
            .into_iter()
            .map(|node| {
                let path = paths(node.parent_id.map(|p| p.to_string()));
                Ok((node, path))
            })
            .collect()
    }

    /// Every folder above the rows, read at once, and a function naming a folder's path from
    /// the drive's root.
    async fn folder_paths(&self, rows: &[NodeRow]) -> Result<impl Fn(Option<String>) -> String + use<>> {
        let parents: HashSet<&str> = rows.iter().filter_map(|r| r.parent_id.as_deref()).collect();
        let folders: Vec<FolderName> = if parents.is_empty() {
            Vec::new()
        } else {
            let marks: Vec<String> = (1..=parents.len()).map(|i| format!("${i}")).collect();
            let folders_sql = format!(
                "WITH RECURSIVE up(node_id) AS (SELECT id FROM nodes WHERE id IN ({}) \
                 UNION SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.node_id \
                 WHERE n.parent_id IS NOT NULL) \
                 SELECT id, parent_id, name FROM nodes WHERE id IN (SELECT node_id FROM up)",
                marks.join(", ")
            );
            on_db!(self, |pool| {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(folders_sql.as_str()));
                for parent in &parents {
                    query = query.bind(*parent);
                }
                query.fetch_all(pool).await?
            })
        };
        let folders: HashMap<String, (Option<String>, String)> =
            folders.into_iter().map(|(id, parent, name)| (id, (parent, name))).collect();
        Ok(move |mut at: Option<String>| {
            let mut names = Vec::new();
            while let Some((parent, name)) = at.as_ref().and_then(|id| folders.get(id)) {
                if parent.is_none() {
                    break; // the root, whose name is not part of paths
                }
                names.push(name.clone());
                at = parent.clone();
            }
            names.reverse();
            format!("/{}", names.join("/"))
        })
    }
}
