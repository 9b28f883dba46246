//! The harness: `TestApp::spawn` starts the real server (the same `Application::build` as
//! `stratus serve`) on port 0 with a fresh data dir and a fresh database, SQLite or
//! PostgreSQL. `dual_test!` runs one test body against both engines.

use std::{future::Future, net::SocketAddr, path::PathBuf, time::Duration};

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use stratus_server::{Application, Config};
use stratus_service::Stratus;
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Defines `mod $name { sqlite, postgres }`, each running `$body` with `$backend` bound.
macro_rules! dual_test {
    (async fn $name:ident($backend:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: $crate::helpers::Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::helpers::skip_postgres() {
                    return;
                }
                run($crate::helpers::Backend::Postgres).await
            }
        }
    };
}
pub(crate) use dual_test;

/// PostgreSQL tests run unless `STRATUS_TEST_SKIP_POSTGRES=1` says otherwise, loudly.
pub fn skip_postgres() -> bool {
    skip_requested("STRATUS_TEST_SKIP_POSTGRES")
}

/// Whether `var=1` asks to skip a service's tests. Under CI (`CI` set) a skip is a failure:
/// CI must run everything.
pub fn skip_requested(var: &str) -> bool {
    let skip = std::env::var(var).is_ok_and(|v| v == "1");
    if skip {
        assert!(std::env::var_os("CI").is_none(), "{var}=1 under CI: every test must run there");
        eprintln!("SKIPPED: {var}=1");
    }
    skip
}

fn admin_url() -> String {
    std::env::var("STRATUS_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database for one test (the test script drops them afterwards).
pub async fn fresh_postgres() -> String {
    use sqlx::Connection;
    let admin = admin_url();
    let name = format!("stratus_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is needed at {admin} ({e}); set STRATUS_TEST_SKIP_POSTGRES=1 to skip")
    });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    format!("{base}/{name}")
}

/// The token the test servers let Prometheus scrape with.
pub const METRICS_TOKEN: &str = "test-scrape-token";

/// A small file's size that is still stored as a block (files up to `INLINE_MAX` are kept in
/// the database instead).
pub const BLOCKED: usize = stratus_blob::INLINE_MAX as usize + 4096;

pub struct TestApp {
    /// The server's clock: `app.clock.advance(…)` moves time instead of sleeping.
    pub clock: std::sync::Arc<stratus_core::OffsetClock>,
    pub base: String,
    pub client: Client,
    pub stratus: Stratus,
    pub config: Config,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub password: String,
    pub token: String,
    pub root: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        // Server logs, for a failing test: STRATUS_TEST_LOG=debug cargo test …
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("STRATUS_TEST_LOG"))
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            metrics_token: Some(METRICS_TOKEN.into()),
            ..Config::default()
        };
        if backend == Backend::Postgres {
            config.database_url = Some(fresh_postgres().await);
        }
        tweak(&mut config);
        let clock = std::sync::Arc::new(stratus_core::OffsetClock::default());
        let app = Application::build_with_clock(&config, clock.clone()).await.unwrap();
        let addr = app.local_addr().unwrap();
        let stratus = app.stratus().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            clock,
            base: format!("http://{addr}"),
            client: Client::new(),
            stratus,
            config,
            addr,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    /// `/metrics`, read with the scrape token.
    pub async fn metrics(&self) -> String {
        let r = self.anon(Method::GET, "/metrics").bearer_auth(METRICS_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// The server's current time.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use stratus_core::Clock;
        self.clock.now()
    }

    /// The metadata database this server uses, for a second server on the same one.
    pub fn database_url(&self) -> String {
        self.config.database_url()
    }

    /// Runs `sql` on the metadata database behind the service's back (to damage it for fsck).
    pub async fn sql(&self, sql: &str) {
        use sqlx::Connection;
        let url = self.database_url();
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        }
    }

    /// The one integer `sql` (a query of one row and one column) answers.
    pub async fn sql_i64(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let url = self.database_url();
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut conn).await.unwrap()
        }
    }

    /// Registers `username` and makes it an administrator through the CLI.
    pub async fn admin(&self, username: &str) -> TestUser {
        let out = self
            .cli(&[
                "admin",
                "create-user",
                "--username",
                &format!("{username}-root"),
                "--email",
                &format!("{username}-root@example.com"),
                "--admin",
                "--password",
                "administrator pw",
            ])
            .await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let login = self.login(&format!("{username}-root"), "administrator pw").await;
        TestUser {
            id: login["user"]["id"].as_str().unwrap().into(),
            username: login["user"]["username"].as_str().unwrap().into(),
            password: "administrator pw".into(),
            token: login["token"].as_str().unwrap().into(),
            root: login["user"]["root_id"].as_str().unwrap().into(),
        }
    }

    pub fn req(&self, method: Method, path: &str, user: &TestUser) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(&user.token)
    }

    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Runs the `stratus` binary on this server's configuration.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stratus"));
        cmd.args(args).envs(config_env(&self.config));
        tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap()
    }

    /// Runs `stratus admin gc --grace-secs 0` and checks it succeeded.
    pub async fn gc(&self) {
        let out = self.cli(&["admin", "gc", "--grace-secs", "0"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    pub async fn register(&self, username: &str) -> TestUser {
        let password = format!("{username}-secret-pw");
        let r = self
            .anon(Method::POST, "/api/v1/auth/register")
            .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
        let login = self.login(username, &password).await;
        let user = &login["user"];
        TestUser {
            id: user["id"].as_str().unwrap().into(),
            username: user["username"].as_str().unwrap().into(),
            password,
            token: login["token"].as_str().unwrap().into(),
            root: user["root_id"].as_str().unwrap().into(),
        }
    }

    pub async fn login(&self, login: &str, password: &str) -> Value {
        let r = self
            .anon(Method::POST, "/api/v1/auth/login")
            .json(&json!({"login": login, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn me(&self, user: &TestUser) -> Value {
        ok_json(self.req(Method::GET, "/api/v1/me", user).send().await.unwrap()).await
    }

    pub async fn used(&self, user: &TestUser) -> u64 {
        self.me(user).await["quota"]["used"].as_u64().unwrap()
    }

    pub async fn mkdir(&self, user: &TestUser, parent: &str, name: &str) -> Value {
        let r = self
            .req(Method::POST, &format!("/api/v1/nodes/{parent}/children"), user)
            .json(&json!({"name": name, "kind": "folder"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// Raw PUT upload; returns the response for the caller to check.
    pub async fn put(
        &self,
        user: &TestUser,
        parent: &str,
        name: &str,
        body: Vec<u8>,
        policy: &str,
    ) -> Response {
        let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        self.req(Method::PUT, &format!("/api/v1/nodes/{parent}/files/{name}?on_conflict={policy}"), user)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Uploads a new file and returns its node.
    pub async fn upload(&self, user: &TestUser, parent: &str, name: &str, body: Vec<u8>) -> Value {
        let r = self.put(user, parent, name, body, "fail").await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    pub async fn download(&self, user: &TestUser, id: &str) -> Vec<u8> {
        let r = self.req(Method::GET, &format!("/api/v1/nodes/{id}/content"), user).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap().to_vec()
    }

    /// The id of the node at `path`.
    pub async fn by_path(&self, user: &TestUser, path: &str) -> String {
        let r = self
            .req(Method::GET, "/api/v1/nodes/by-path", user)
            .query(&[("path", path)])
            .send()
            .await
            .unwrap();
        ok_json(r).await["id"].as_str().unwrap().to_string()
    }

    pub async fn children(&self, user: &TestUser, folder: &str) -> Vec<Value> {
        let page = ok_json(
            self.req(Method::GET, &format!("/api/v1/nodes/{folder}/children?limit=1000"), user)
                .send()
                .await
                .unwrap(),
        )
        .await;
        page["items"].as_array().unwrap().clone()
    }

    pub async fn names(&self, user: &TestUser, folder: &str) -> Vec<String> {
        self.children(user, folder).await.iter().map(|n| n["name"].as_str().unwrap().to_string()).collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts 200 and returns the JSON body.
pub async fn ok_json(r: Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Asserts a problem+json answer with this status and code.
pub async fn assert_problem(r: Response, status: StatusCode, code: &str) {
    let got = r.status();
    let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(body["status"].as_u64(), Some(u64::from(status.as_u16())));
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
}

/// Deterministic, incompressible-looking bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Waits for `check` to hold, polling; fails after 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The environment that gives a `stratus` process the configuration `config` describes.
pub fn config_env(config: &Config) -> Vec<(String, String)> {
    let storage = &config.storage;
    let mut env = vec![
        ("NO_COLOR".into(), "1".into()),
        ("STRATUS_DATA_DIR".into(), config.data_dir.display().to_string()),
        ("STRATUS_DATABASE_URL".into(), config.database_url()),
        ("STRATUS_DEFAULT_QUOTA".into(), config.default_quota.to_string()),
        ("STRATUS_REPLICAS".into(), storage.replicas.to_string()),
        (
            "STRATUS_VOLUMES".into(),
            storage
                .volumes
                .iter()
                .map(|v| format!("{}={}", v.pool, v.location))
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("STRATUS_S3_REGION".into(), storage.s3.region.clone()),
        ("STRATUS_S3_ACCESS_KEY_ID".into(), storage.s3.access_key_id.clone()),
        ("STRATUS_S3_SECRET_ACCESS_KEY".into(), storage.s3.secret_access_key.clone()),
    ];
    if let Some(key) = &storage.encryption_key {
        env.push(("STRATUS_ENCRYPTION_KEY".into(), key.clone()));
    }
    if let Some(file) = &storage.encryption_key_file {
        env.push(("STRATUS_ENCRYPTION_KEY_FILE".into(), file.display().to_string()));
    }
    if let Some(endpoint) = &storage.s3.endpoint {
        env.push(("STRATUS_S3_ENDPOINT".into(), endpoint.clone()));
    }
    env
}
