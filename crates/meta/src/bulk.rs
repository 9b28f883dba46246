//! New small files written together: a batch of files created by name in one folder, with
//! their bytes inlined, costs a few multi-row statements however many files it holds (one
//! statement each would cost a round trip to the database each).

/// Rows per multi-row `INSERT` (at 11 columns, far below either engine's bind limit).
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// The names of the live children of `$parent` among `$names`, into a set, in chunks.
macro_rules! taken_names {
    ($tx:expr, $parent:expr, $names:expr) => {{
        let mut taken = std::collections::HashSet::<String>::new();
        for chunk in $names.chunks($crate::bulk::ROWS_PER_INSERT) {
            let mut q =
                sqlx::QueryBuilder::new("SELECT name FROM nodes WHERE trashed_at IS NULL AND parent_id = ");
            q.push_bind($parent.to_string()).push(" AND name IN (");
            let mut names = q.separated(", ");
            for name in chunk {
                names.push_bind(name.as_str());
            }
            q.push(")");
            let rows: Vec<(String,)> = q.build_query_as().fetch_all(&mut *$tx).await?;
            taken.extend(rows.into_iter().map(|(name,)| name));
        }
        taken
    }};
}
pub(crate) use taken_names;

/// The numbers (`file_no`) of the nodes `$ids`, by id: given by the database as they are
/// inserted.
macro_rules! file_numbers {
    ($tx:expr, $ids:expr) => {{
        let mut numbers = std::collections::HashMap::<String, i64>::new();
        for chunk in $ids.chunks($crate::bulk::ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::new("SELECT id, file_no FROM nodes WHERE id IN (");
            let mut ids = q.separated(", ");
            for id in chunk {
                ids.push_bind(id.to_string());
            }
            q.push(")");
            let rows: Vec<(String, i64)> = q.build_query_as().fetch_all(&mut *$tx).await?;
            numbers.extend(rows);
        }
        numbers
    }};
}
pub(crate) use file_numbers;

/// Inserts new files — `(node id, name, version)` each, every version inline or empty — into
/// `$parent`, already current, with their versions and inlined bytes.
macro_rules! insert_new_files {
    ($tx:expr, $owner:expr, $parent:expr, $files:expr, $now:expr) => {{
        for chunk in $files.chunks($crate::bulk::ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO nodes (id, owner_id, parent_id, name, sort_name, kind, size, content_hash, \
                 version_id, created_at, modified_at) ",
            );
            q.push_values(chunk.iter(), |mut row, (id, name, version)| {
                let size = i64::try_from(version.size).unwrap_or(i64::MAX);
                row.push_bind(id.to_string())
                    .push_bind($owner.as_str())
                    .push_bind($parent.to_string())
                    .push_bind(name.as_str())
                    .push_bind(name.sort_key())
                    .push_bind("file")
                    .push_bind(size)
                    .push_bind(version.content_hash.as_str())
                    .push_bind(version.id.to_string())
                    .push_bind($now)
                    .push_bind($now);
            });
            q.build().execute(&mut *$tx).await?;
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO versions (id, node_id, size, content_hash, blocks, created_at) ",
            );
            q.push_values(chunk.iter(), |mut row, (id, _, version)| {
                let size = i64::try_from(version.size).unwrap_or(i64::MAX);
                row.push_bind(version.id.to_string())
                    .push_bind(id.to_string())
                    .push_bind(size)
                    .push_bind(version.content_hash.as_str())
                    .push_bind(Vec::<u8>::new())
                    .push_bind($now);
            });
            q.build().execute(&mut *$tx).await?;
            let kept: Vec<_> = chunk
                .iter()
                .filter_map(|(_, _, version)| version.inline.as_ref().map(|d| (version.id, d)))
                .collect();
            if !kept.is_empty() {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO version_data (version_id, data) ");
                q.push_values(kept, |mut row, (version, data)| {
                    row.push_bind(version.to_string()).push_bind(&data[..]);
                });
                q.build().execute(&mut *$tx).await?;
            }
        }
    }};
}
pub(crate) use insert_new_files;
