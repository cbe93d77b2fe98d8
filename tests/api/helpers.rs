//! Starts the real app over real HTTP on port 0, against a fresh SQLite file or a fresh
//! PostgreSQL database, and gives tests a client and shortcuts.
use std::collections::HashMap;
use std::net::TcpListener;

use actix_web::web;
use helpline::app::{self, AppState};
use helpline::config::Config;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Connections per test node: tests run in parallel against one PostgreSQL.
const TEST_POOL_SIZE: u32 = 6;

thread_local! {
    /// Servers and pools started by the running test, shut down by `shutdown_all`.
    static STARTED: std::cell::RefCell<Vec<(actix_web::dev::ServerHandle, web::Data<AppState>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    /// PostgreSQL databases created by the running test, dropped by `shutdown_all`.
    static CREATED_DATABASES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Stops every server of this test, closes their pools and drops their databases, so
/// parallel tests never run PostgreSQL out of connections. Called by `on_both_backends!`.
pub async fn shutdown_all() {
    for (handle, state) in STARTED.with(|s| std::mem::take(&mut *s.borrow_mut())) {
        // Open event streams would hold a graceful stop for its whole timeout.
        state.feed.close();
        handle.stop(false).await;
        state.jobs.stop();
        state.db.clone().close().await.ok();
    }
    let names = CREATED_DATABASES.with(|d| std::mem::take(&mut *d.borrow_mut()));
    if names.is_empty() {
        return;
    }
    if let Ok(admin) = Database::connect(PG_ADMIN_URL).await {
        for name in names {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            admin
                .execute_raw(Statement::from_string(admin.get_database_backend(), sql))
                .await
                .ok();
        }
        admin.close().await.ok();
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub state: web::Data<AppState>,
    pub database_url: String,
    _dir: tempfile::TempDir,
}

pub struct TestTenant {
    pub id: String,
    pub key: String,
}

/// A new empty database for one test; returns its URL.
pub async fn fresh_database(backend: Backend, dir: &tempfile::TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}/helpline.db?mode=rwc", dir.path().display()),
        Backend::Postgres => {
            let name = format!("helpline_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(PG_ADMIN_URL)
                .await
                .expect("PostgreSQL must run on 127.0.0.1:5432 (bash .ci/run starts it)");
            admin
                .execute_raw(Statement::from_string(
                    admin.get_database_backend(),
                    format!("CREATE DATABASE {name}"),
                ))
                .await
                .expect("create test database");
            admin.close().await.ok();
            CREATED_DATABASES.with(|d| d.borrow_mut().push(name.clone()));
            format!("postgres://postgres@127.0.0.1:5432/{name}")
        }
    }
}

pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn test_config(
    database_url: &str,
    admin_token: &str,
    dir: &std::path::Path,
    overrides: &[(&str, &str)],
) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), database_url.to_string()),
        (
            "HELPLINE_QUEUE_URL".into(),
            format!("sqlite://{}/queue.db?mode=rwc", dir.display()),
        ),
        (
            "HELPLINE_REDIS_PREFIX".into(),
            format!("test:{}:", uuid::Uuid::new_v4().simple()),
        ),
        ("HELPLINE_OUTBOX_SWEEP".into(), "50ms".into()),
        ("HELPLINE_WORKER_CONCURRENCY".into(), "4".into()),
        ("HELPLINE_RECOVERY_GRACE".into(), "3s".into()),
        ("HELPLINE_EMAIL_BACKOFF".into(), "100ms".into()),
        ("HELPLINE_BILLING_BACKOFF".into(), "100ms".into()),
        ("HELPLINE_LISTEN".into(), "127.0.0.1:0".into()),
        ("HELPLINE_ADMIN_TOKEN".into(), admin_token.to_string()),
        ("HELPLINE_ALLOW_PRIVATE_TARGETS".into(), "true".into()),
    ]);
    for (k, v) in overrides {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid")
}

pub async fn connect_and_migrate(url: &str) -> DatabaseConnection {
    let db = helpline::db::connect(url, Some(TEST_POOL_SIZE))
        .await
        .expect("connect");
    helpline::db::migrate(&db).await.expect("migrate");
    db
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, overrides: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = fresh_database(backend, &dir).await;
        let mut with_backend: Vec<(&str, &str)> = Vec::new();
        if backend == Backend::Postgres {
            // PostgreSQL is tested as production runs it: with Redis for jobs.
            with_backend.push(("REDIS_URL", REDIS_URL));
        }
        with_backend.extend_from_slice(overrides);
        Self::spawn_on(&database_url, dir, &with_backend).await
    }

    /// Another node on the same database (for multi-node behaviour).
    pub async fn another_node(&self, overrides: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = Self::spawn_on(&self.database_url, dir, overrides).await;
        node.admin_token = self.admin_token.clone();
        node
    }

    /// Stops this node (server, relay and workers) and closes its pool; the database and the
    /// other nodes stay, so a node started afterwards is this one after a restart.
    pub async fn stop(&self) {
        let mine = STARTED.with(|s| {
            let mut started = s.borrow_mut();
            let at = started.iter().position(|(_, state)| {
                std::sync::Arc::ptr_eq(
                    &state.clone().into_inner(),
                    &self.state.clone().into_inner(),
                )
            });
            at.map(|at| started.remove(at))
        });
        let (handle, state) = mine.expect("a running node");
        state.feed.close();
        handle.stop(false).await;
        state.jobs.stop();
        state.db.clone().close().await.ok();
    }

    /// Logs go to the test output when `RUST_LOG` is set.
    fn init_logs() {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        }
    }

    async fn spawn_on(
        database_url: &str,
        dir: tempfile::TempDir,
        overrides: &[(&str, &str)],
    ) -> Self {
        Self::init_logs();
        let admin_token = format!("test-admin-{}", uuid::Uuid::new_v4().simple());
        let config = test_config(database_url, &admin_token, dir.path(), overrides);
        let db = connect_and_migrate(database_url).await;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = web::Data::new(AppState::new(config, db).await.expect("queue backend"));
        state
            .jobs
            .start(state.db.clone(), &state.config, state.tenants.clone())
            .expect("job workers");
        let server = app::http_server(state.clone(), listener).expect("server");
        STARTED.with(|s| s.borrow_mut().push((server.handle(), state.clone())));
        actix_web::rt::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            client: crate::support::http_client().build().expect("client"),
            admin_token,
            state,
            database_url: database_url.to_string(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token))
            .json(&body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(token))
            .json(&body)
            .send()
            .await
            .expect("PATCH")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token))
            .send()
            .await
            .expect("DELETE")
    }

    pub async fn create_tenant(&self, plan: &str, balance_cents: i64) -> TestTenant {
        let res = self
            .post(
                "/admin/tenants",
                &self.admin_token,
                json!({"name": "Acme", "email": "dev@acme.test", "plan": plan, "balance_cents": balance_cents}),
            )
            .await;
        let body = expect_status(res, StatusCode::CREATED).await;
        TestTenant {
            id: body["tenant"]["id"]
                .as_str()
                .expect("tenant id")
                .to_string(),
            key: body["secret_key"].as_str().expect("secret key").to_string(),
        }
    }
}

/// Asserts the status and returns the JSON body.
pub async fn expect_status(res: Response, status: StatusCode) -> Value {
    let actual = res.status();
    let text = res.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts an error response: status, `code`, and (when given) `detail`.
pub async fn expect_error(
    res: Response,
    status: StatusCode,
    code: &str,
    detail: Option<&str>,
) -> Value {
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = expect_status(res, status).await;
    assert!(
        content_type.starts_with("application/json"),
        "errors are JSON, got {content_type}"
    );
    assert_eq!(body["code"], code, "body: {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "body: {body}"
    );
    if let Some(detail) = detail {
        assert_eq!(body["detail"], detail, "body: {body}");
    }
    body
}

/// Declares a test that runs once per backend: `mod sqlite { fn name }` and `mod postgres { fn name }`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                    $crate::helpers::shutdown_all().await;
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                    $crate::helpers::shutdown_all().await;
                }
            )*
        }
    };
}

/// Every text column of every row belonging to `tenant_id`, as one string, to search for
/// personal data the API should no longer hold.
pub async fn dump_tables(app: &TestApp, tenant_id: &str) -> String {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let tenant: uuid::Uuid = tenant_id.parse().expect("tenant uuid");
    let db = &app.state.db;
    let mut out = String::new();
    macro_rules! dump {
        ($entity:path, $column:expr) => {
            for row in <$entity>::find()
                .filter($column.eq(tenant))
                .all(db)
                .await
                .expect("dump")
            {
                out.push_str(&format!("{row:?}\n"));
            }
        };
    }
    dump!(
        entities::tickets::Entity,
        entities::tickets::Column::TenantId
    );
    dump!(
        entities::messages::Entity,
        entities::messages::Column::TenantId
    );
    dump!(
        entities::ticket_events::Entity,
        entities::ticket_events::Column::TenantId
    );
    dump!(
        entities::notifications::Entity,
        entities::notifications::Column::TenantId
    );
    dump!(entities::emails::Entity, entities::emails::Column::TenantId);
    dump!(
        entities::webhook_events::Entity,
        entities::webhook_events::Column::TenantId
    );
    dump!(
        entities::feed_events::Entity,
        entities::feed_events::Column::TenantId
    );
    dump!(
        entities::idempotency_keys::Entity,
        entities::idempotency_keys::Column::TenantId
    );
    dump!(
        entities::ledger_entries::Entity,
        entities::ledger_entries::Column::TenantId
    );
    out
}
