//! The SQLite and PostgreSQL schemas are the same schema.

use stratus_meta::Db;

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    if crate::helpers::skip_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Db::connect(&format!("sqlite://{}", dir.path().join("s.db").display())).await.unwrap();
    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Postgres).await;
    let postgres = Db::connect(app.config.database_url.as_deref().unwrap()).await.unwrap();
    let (mut s, p) = (sqlite.columns().await.unwrap(), postgres.columns().await.unwrap());
    assert!(s.len() > 30, "{s:?}");
    // Tables on SQLite alone: its trigram index of names (FTS5, with its shadow tables) and
    // the stable numbering of that index's rows. PostgreSQL has pg_trgm instead.
    // And the counter its trigger numbers nodes from (PostgreSQL has a sequence).
    let only_sqlite =
        |table: &str| table == "search_rows" || table.starts_with("search_names") || table == "node_numbers";
    assert!(
        s.iter().any(|c| c.table == "search_rows") && s.iter().any(|c| c.table == "search_names"),
        "{s:?}"
    );
    s.retain(|c| !only_sqlite(&c.table));
    assert_eq!(s, p);
    // One index exists on PostgreSQL alone: the trigram index of name search (pg_trgm).
    let mut pg_indexes = postgres.indexes().await.unwrap();
    let only_pg = ["nodes_name_trgm"];
    assert!(only_pg.iter().all(|i| pg_indexes.iter().any(|p| p == i)), "{pg_indexes:?}");
    pg_indexes.retain(|i| !only_pg.contains(&i.as_str()));
    assert_eq!(sqlite.indexes().await.unwrap(), pg_indexes);
}
