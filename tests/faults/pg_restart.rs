//! docs/API.md §2 "A 500 never leaks internals", §11 `/readyz`, and issue 10 "PostgreSQL restart":
//! while the database is down, requests get a prompt, clean JSON `503` (not a hang, not a
//! 500 with internals); once it is back the same process serves again by itself.
//!
//! A private PostgreSQL cluster (initdb into a temp dir, its own port) is stopped with
//! `pg_ctl stop -m immediate` (every connection cut, as in a crash) and started again.
//! Jobs use the embedded SQLite queue here, so the outage is the database's alone.
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{Deployment, Node, PrivatePostgres, bounded, eventually, ticket_body};

/// Longest a request may take to be refused while the database is down: the pool gives up
/// acquiring a connection after 5 s (`db::connect`), plus slack for a loaded CI machine.
const PROMPT: Duration = Duration::from_secs(7);

/// Words that would mean a driver or SQL error leaked into a response.
const INTERNALS: &[&str] = &[
    "sqlx",
    "sea_orm",
    "DbErr",
    "Connection refused",
    "connection closed",
    "pool timed out",
    "error returned from database",
    "127.0.0.1",
    "postgres",
    "SELECT",
];

async fn expect_clean_503(
    node: &Node,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) {
    let started = Instant::now();
    let mut request = node.client.request(method.clone(), node.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &body {
        request = request.json(body);
    }
    let response = request
        .timeout(PROMPT + Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} while the database is down: {e}"));
    let took = started.elapsed();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let retry_after = response.headers().get("retry-after").is_some();
    let text = response.text().await.expect("body");
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{method} {path} while the database is down: {text}"
    );
    assert!(took < PROMPT, "{method} {path} took {took:?} to answer 503");
    assert!(
        content_type.starts_with("application/json"),
        "{path}: {content_type}"
    );
    let json: Value = serde_json::from_str(&text).expect("a JSON body");
    if path != "/readyz" {
        assert_eq!(json["code"], "unavailable", "{path}: {text}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{text}"
        );
        assert!(retry_after, "{path}: a 503 says when to retry");
    }
    for word in INTERNALS {
        assert!(!text.contains(word), "{path} leaks `{word}`: {text}");
    }
    eprintln!("postgres_restart: {method} {path} → 503 in {took:?}");
}

#[actix_web::test]
async fn postgres_restart_answers_clean_503s_and_recovers_without_a_restart() {
    bounded("postgres_restart", Duration::from_secs(100), async {
        let mut pg = PrivatePostgres::init();
        pg.start();
        let mut deployment = Deployment::new(&pg.url());
        let node = deployment.start("serve").await;
        let tenant = node.create_tenant("enterprise", 1_000).await;
        let before = node.create_ticket(&tenant, "Before the restart").await;

        pg.stop();
        let down = Instant::now();
        // Twice: right after the cut (pooled connections are dead) and a little later
        // (connects are refused). The probes of a round run at once, as clients would.
        // Shaped like a key (40 characters, the format before checksums), so it needs a
        // lookup: junk is refused without one.
        let bad_key = "hl_sk_notcachedanywhere00000000000000000000000";
        for _ in 0..2 {
            futures_util::future::join_all([
                expect_clean_503(
                    &node,
                    Method::POST,
                    "/v1/support/tickets",
                    Some(&tenant.key),
                    Some(ticket_body("During the outage")),
                ),
                expect_clean_503(
                    &node,
                    Method::GET,
                    "/v1/support/tickets",
                    Some(&tenant.key),
                    None,
                ),
                expect_clean_503(
                    &node,
                    Method::GET,
                    "/v1/billing/balance",
                    Some(&tenant.key),
                    None,
                ),
                // A key this node has not cached: the lookup itself needs the database.
                expect_clean_503(
                    &node,
                    Method::GET,
                    "/v1/support/tickets",
                    Some(bad_key),
                    None,
                ),
                expect_clean_503(&node, Method::GET, "/v1/support/status", None, None),
                expect_clean_503(&node, Method::GET, "/readyz", None, None),
            ])
            .await;
            let (status, _) = node
                .send(Method::GET, "/healthz", None, None)
                .await
                .expect("healthz");
            assert_eq!(status, StatusCode::OK, "the process itself is up");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        eprintln!(
            "postgres_restart: down for {:.1}s",
            down.elapsed().as_secs_f64()
        );

        pg.start();
        let up = Instant::now();
        let after = eventually(
            "a create after PostgreSQL is back",
            Duration::from_secs(30),
            || async {
                match node.try_create_ticket(&tenant, "After the restart").await {
                    Ok((StatusCode::OK, body)) => Some(crate::harness::ticket_id(&body)),
                    _ => None,
                }
            },
        )
        .await;
        eprintln!(
            "postgres_restart: serving again {:.1}s after PostgreSQL came back",
            up.elapsed().as_secs_f64()
        );
        let (status, _) = node
            .send(Method::GET, "/readyz", None, None)
            .await
            .expect("readyz");
        assert_eq!(status, StatusCode::OK);
        let saved = node.ticket_ids(&tenant).await;
        assert!(
            saved.contains(&before) && saved.contains(&after),
            "{saved:?}"
        );
        node.assert_books_balance(&tenant, 1_000, 1).await;
    })
    .await;
}
