//! Schema introspection, so a test can prove the SQLite and PostgreSQL schemas agree.

use crate::{Db, Result};

/// One column, with its type in PostgreSQL's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ColumnInfo {
    pub table: String,
    pub column: String,
    pub data_type: String,
    pub nullable: bool,
}

impl Db {
    /// Every column of the application's tables (views and sqlx's bookkeeping excluded), sorted.
    pub async fn columns(&self) -> Result<Vec<ColumnInfo>> {
        let rows: Vec<(String, String, String, bool)> = match self {
            Db::Sqlite(pool) => sqlx::query_as(
                "SELECT m.name, p.name, lower(p.type), (p.\"notnull\" = 0 AND p.pk = 0) \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\'",
            )
            .fetch_all(&**pool)
            .await?,
            Db::Postgres(pool) => sqlx::query_as(
                "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable = 'YES' \
                 FROM information_schema.columns c JOIN information_schema.tables t \
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                 AND c.table_name NOT LIKE '\\_sqlx%'",
            )
            .fetch_all(pool)
            .await?,
        };
        let mut columns: Vec<ColumnInfo> = rows
            .into_iter()
            .map(|(table, column, data_type, nullable)| ColumnInfo {
                table,
                column,
                data_type: if data_type == "blob" { "bytea".into() } else { data_type },
                nullable,
            })
            .collect();
        columns.sort();
        Ok(columns)
    }

    /// The names of the indexes the migrations create (implicit key indexes excluded), sorted.
    pub async fn indexes(&self) -> Result<Vec<String>> {
        let mut names: Vec<(String,)> = match self {
            Db::Sqlite(pool) => {
                sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
                    .fetch_all(&**pool)
                    .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
                 AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key' \
                 AND tablename NOT LIKE '\\_sqlx%'",
                )
                .fetch_all(pool)
                .await?
            }
        };
        names.sort();
        Ok(names.into_iter().map(|(n,)| n).collect())
    }
}
