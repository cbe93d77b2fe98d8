//! What `tests/api` and `tests/faults` share, included by both with `#[path]`: the
//! environment the app starts with, the fake receivers (`receiver`), polling until
//! something holds, and the bodies of a tenant and a ticket to create.
pub mod receiver;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The environment every test deployment starts from, in process (`tests/api`) or as the
/// binary (`tests/faults`): its database, a SQLite queue in `dir`, a Redis key prefix of its
/// own (`tag:<uuid>:`), the admin token, and webhook receivers on loopback allowed.
pub fn base_env(
    database_url: &str,
    admin_token: &str,
    dir: &Path,
    tag: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_string()),
        (
            "HELPLINE_QUEUE_URL",
            format!("sqlite://{}/queue.db?mode=rwc", dir.display()),
        ),
        (
            "HELPLINE_REDIS_PREFIX",
            format!("{tag}:{}:", uuid::Uuid::new_v4().simple()),
        ),
        ("HELPLINE_ADMIN_TOKEN", admin_token.to_string()),
        ("HELPLINE_ALLOW_PRIVATE_TARGETS", "true".into()),
    ]
}

/// A tenant created through `POST /admin/tenants`: its id and secret key.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub key: String,
}

impl Tenant {
    /// The body of `POST /admin/tenants`.
    pub fn body(name: &str, email: &str, plan: &str, balance_cents: i64) -> Value {
        json!({"name": name, "email": email, "plan": plan, "balance_cents": balance_cents})
    }

    /// The tenant of a `201` answer of `POST /admin/tenants`.
    pub fn created(answer: &Value) -> Self {
        Self {
            id: answer["tenant"]["id"].as_str().expect("tenant id").into(),
            key: answer["secret_key"].as_str().expect("secret key").into(),
        }
    }
}

/// Polls `check` until it returns `Some`, failing after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A valid ticket to open, with `subject`.
pub fn ticket_body(subject: &str) -> Value {
    json!({
        "subject": subject,
        "category": "api_sdk",
        "description": "The SDK times out when creating calls.",
        "priority": "high",
    })
}

/// A client for talking to a node under test. Pooled connections are dropped after 2 s idle,
/// under the server's 5 s keep-alive, so a request never goes out on a connection the server
/// is closing at that moment (seen under load as "error sending request" on a POST).
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2))
}
