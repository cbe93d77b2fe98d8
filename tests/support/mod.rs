//! What `tests/api` and `tests/faults` share, included by both with `#[path]`: polling until
//! something holds, and the body of a ticket to open.
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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
