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
    let (s, p) = (sqlite.columns().await.unwrap(), postgres.columns().await.unwrap());
    assert!(s.len() > 30, "{s:?}");
    assert_eq!(s, p);
    assert_eq!(sqlite.indexes().await.unwrap(), postgres.indexes().await.unwrap());
}
