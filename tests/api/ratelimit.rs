//! docs/API.md §3 rate limits over real HTTP: per tenant (all keys together), overrides, per IP on
//! failed authentication, per IP and per key on publishable-key traffic, the `429` and its
//! headers, and the redis backend shared by two nodes (and its local fallback).
//!
//! Rate limits do not touch the database, so these run on SQLite only; the redis tests need
//! Redis on 127.0.0.1:6379 (`bash .ci/run` starts it) and use their own key prefix.
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::tickets::ticket_body;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

fn header(res: &Response, name: &str) -> Option<u64> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// `(limit, remaining, reset)` from the `RateLimit-*` headers.
fn rate_headers(res: &Response) -> (Option<u64>, Option<u64>, Option<u64>) {
    (
        header(res, "ratelimit-limit"),
        header(res, "ratelimit-remaining"),
        header(res, "ratelimit-reset"),
    )
}

/// Asserts a `429 rate_limited` with `detail`, `Retry-After` ≥ 1 and the headers; returns
/// `Retry-After`.
async fn expect_429(res: Response, detail: &str, limit: u64) -> u64 {
    let retry_after = header(&res, "retry-after").expect("Retry-After in whole seconds");
    assert!(retry_after >= 1);
    let (l, remaining, reset) = rate_headers(&res);
    assert_eq!(l, Some(limit));
    assert_eq!(remaining, Some(0));
    assert!(reset.is_some_and(|r| r >= retry_after), "reset {reset:?}");
    expect_error(
        res,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        Some(detail),
    )
    .await;
    retry_after
}

async fn me(app: &TestApp, key: &str) -> Response {
    app.get("/v1/auth/me", key).await
}

/// Spends a free tenant's burst of 5 on `/v1/auth/me`, checking the headers on the way.
async fn spend_free_burst(app: &TestApp, key: &str) {
    for remaining in (0..5).rev() {
        let res = me(app, key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (limit, left, reset) = rate_headers(&res);
        assert_eq!((limit, left), (Some(5), Some(remaining)));
        assert!(
            reset.is_some_and(|r| (1..=5).contains(&r)),
            "reset {reset:?}"
        );
    }
}

fn tenant_uuid(tenant: &TestTenant) -> uuid::Uuid {
    tenant.id.parse().expect("tenant id is a UUID")
}

fn redis_overrides(prefix: &str) -> [(&'static str, &str); 3] {
    [
        ("HELPLINE_RATE_LIMIT_BACKEND", "redis"),
        ("REDIS_URL", REDIS_URL),
        ("HELPLINE_REDIS_PREFIX", prefix),
    ]
}

fn fresh_prefix() -> String {
    format!("helpline-test-{}:", uuid::Uuid::new_v4().simple())
}

async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS_URL)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis must run on 127.0.0.1:6379 (bash .ci/run starts it)")
}

#[actix_web::test]
async fn free_tenant_bursts_then_429_until_retry_after() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.create_tenant("free", 100).await;
    spend_free_burst(&app, &tenant.key).await;
    let retry_after = expect_429(me(&app, &tenant.key).await, "tenant", 5).await;
    // 60/min: the next request is back within a second.
    assert_eq!(retry_after, 1);
    actix_web::rt::time::sleep(Duration::from_secs(retry_after)).await;
    let res = me(&app, &tenant.key).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(rate_headers(&res).1, Some(0));
    // Errors of limited tenants carry the headers too.
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let res = app.get("/v1/support/tickets/tkt_nope", &tenant.key).await;
    assert_eq!(rate_headers(&res).0, Some(5));
    expect_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
}

#[actix_web::test]
async fn two_keys_of_a_tenant_share_its_budget() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.create_tenant("free", 100).await;
    let second = helpline::tenants::provision::insert_key(
        &app.state.db,
        tenant_uuid(&tenant),
        helpline::auth::KeyKind::Secret,
        None,
    )
    .await
    .expect("second key")
    .token;
    for n in 0..5 {
        let key = if n % 2 == 0 { &tenant.key } else { &second };
        expect_status(me(&app, key).await, StatusCode::OK).await;
    }
    expect_429(me(&app, &second).await, "tenant", 5).await;
    expect_429(me(&app, &tenant.key).await, "tenant", 5).await;
    // Another tenant is not affected.
    let other = app.create_tenant("free", 100).await;
    expect_status(me(&app, &other.key).await, StatusCode::OK).await;
}

#[actix_web::test]
async fn enterprise_is_unlimited_under_300_parallel_requests() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.create_tenant("enterprise", 100).await;
    let responses = join_all((0..300).map(|_| me(&app, &tenant.key))).await;
    for res in responses {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(rate_headers(&res), (None, None, None), "not limited");
    }
}

#[actix_web::test]
async fn overrides_take_effect_on_the_next_request() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.create_tenant("free", 100).await;
    let path = format!("/admin/tenants/{}", tenant.id);
    spend_free_burst(&app, &tenant.key).await;
    expect_429(me(&app, &tenant.key).await, "tenant", 5).await;

    // Lifted: the very next request passes, and many more.
    expect_status(
        app.patch(&path, &app.admin_token, json!({"limits": "unlimited"}))
            .await,
        StatusCode::OK,
    )
    .await;
    for _ in 0..20 {
        let res = me(&app, &tenant.key).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(rate_headers(&res).0, None);
    }

    // A tighter custom limit applies at once, with a fresh bucket.
    expect_status(
        app.patch(
            &path,
            &app.admin_token,
            json!({"limits": {"requests_per_minute": 6, "burst": 2}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    for remaining in [1, 0] {
        let res = me(&app, &tenant.key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (limit, left, _) = rate_headers(&res);
        assert_eq!((limit, left), (Some(2), Some(remaining)));
    }
    let retry_after = expect_429(me(&app, &tenant.key).await, "tenant", 2).await;
    // 6/min: one request back every 10 s.
    assert!((9..=10).contains(&retry_after), "{retry_after}");

    // Back to the plan's limit: a fresh free bucket.
    expect_status(
        app.patch(&path, &app.admin_token, json!({"limits": null}))
            .await,
        StatusCode::OK,
    )
    .await;
    spend_free_burst(&app, &tenant.key).await;
    expect_429(me(&app, &tenant.key).await, "tenant", 5).await;
}

#[actix_web::test]
async fn key_guessing_from_one_ip_is_429_after_the_failed_auth_burst() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.create_tenant("pilot", 100).await;
    expect_status(me(&app, &tenant.key).await, StatusCode::OK).await;
    for n in 0..10 {
        let res = me(&app, &format!("hl_sk_guess{n}")).await;
        let (limit, remaining, _) = rate_headers(&res);
        assert_eq!((limit, remaining), (Some(10), Some(9 - n)));
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    }
    let retry_after = expect_429(me(&app, "hl_sk_guess10").await, "ip", 10).await;
    // 30/min: one more guess every 2 s.
    assert_eq!(retry_after, 2);
    // Still refused (now before any key lookup), malformed credentials too, and
    // X-Forwarded-For is not believed from an untrusted peer.
    expect_429(me(&app, "hl_sk_guess11").await, "ip", 10).await;
    let res = app
        .client
        .get(app.url("/v1/auth/me"))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .expect("send");
    expect_429(res, "ip", 10).await;
    let res = app
        .request(Method::GET, "/v1/auth/me", Some("hl_sk_guess12"))
        .header("X-Forwarded-For", "198.51.100.1")
        .send()
        .await
        .expect("send");
    expect_429(res, "ip", 10).await;
    // The tenant's working (cached) key from the same IP is not affected.
    expect_status(me(&app, &tenant.key).await, StatusCode::OK).await;
    // After Retry-After, one more guess is allowed (and fails as a 401).
    actix_web::rt::time::sleep(Duration::from_secs(retry_after)).await;
    let res = me(&app, "hl_sk_guess13").await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}

#[actix_web::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("HELPLINE_TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    let guess = |client_ip: &'static str| {
        app.request(Method::GET, "/v1/auth/me", Some("hl_sk_guess"))
            .header("X-Forwarded-For", format!("{client_ip}, 127.0.0.1"))
            .send()
    };
    for _ in 0..10 {
        let res = guess("203.0.113.1").await.expect("send");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    }
    expect_429(guess("203.0.113.1").await.expect("send"), "ip", 10).await;
    // Another client behind the same proxy has its own budget.
    let res = guess("203.0.113.2").await.expect("send");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}

/// A hop the proxy wrote as `ip:port` is the client (a forged hop before it is not), and
/// IPv6 clients share one budget per /64.
#[actix_web::test]
async fn forwarded_ports_and_ipv6_networks_are_one_client() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("HELPLINE_TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    let guess = |forwarded: String| {
        app.request(Method::GET, "/v1/auth/me", Some("hl_sk_guess"))
            .header("X-Forwarded-For", forwarded)
            .send()
    };
    for n in 0..10 {
        let res = guess(format!("198.51.100.{n}, 203.0.113.9:4242"))
            .await
            .expect("send");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    }
    let res = guess("198.51.100.99, 203.0.113.9:5000".into())
        .await
        .expect("send");
    expect_429(res, "ip", 10).await;

    for n in 0..10 {
        let res = guess(format!("2001:db8:1:2::{n:x}")).await.expect("send");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    }
    let res = guess("[2001:db8:1:2:ffff::1]:443".into())
        .await
        .expect("send");
    expect_429(res, "ip", 10).await;
    let res = guess("2001:db8:1:3::1".into()).await.expect("send");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}

#[actix_web::test]
async fn publishable_key_traffic_is_limited_per_client_ip() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("HELPLINE_TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    // Pilot (burst 100): the tenant limit is not the one that binds here. Each ticket costs
    // 1 cent.
    let tenant = app.create_tenant("pilot", 100).await;
    let created = expect_status(
        app.post(
            "/v1/keys/publishable",
            &tenant.key,
            json!({"label": "site"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let pk = created["key"]
        .as_str()
        .expect("publishable key")
        .to_string();
    let create = |client_ip: &'static str| {
        app.request(Method::POST, "/v1/support/tickets", Some(&pk))
            .header("X-Forwarded-For", client_ip)
            .json(&ticket_body("Widget is down"))
            .send()
    };
    for remaining in (0..5).rev() {
        let res = create("203.0.113.9").await.expect("send");
        // The per-IP limit (burst 5) is the tightest, so it is the one reported.
        let (limit, left, _) = rate_headers(&res);
        assert_eq!((limit, left), (Some(5), Some(remaining)));
        expect_status(res, StatusCode::OK).await;
    }
    let retry_after = expect_429(create("203.0.113.9").await.expect("send"), "ip", 5).await;
    // 10/min: one more every 6 s.
    assert!((5..=6).contains(&retry_after), "{retry_after}");
    // Another visitor is served; nothing was charged for the refused request.
    expect_status(create("203.0.113.10").await.expect("send"), StatusCode::OK).await;
    let me = expect_status(me(&app, &tenant.key).await, StatusCode::OK).await;
    assert_eq!(me["balance_cents"], 94);
}

/// A widget's visitors spend the tenant's publishable budget, never its own: after they
/// exhaust theirs, the secret key still has its whole burst. Local and Redis limiters.
async fn widget_traffic_never_spends_the_tenants_own_budget(overrides: &[(&str, &str)]) {
    let mut with_proxy = vec![("HELPLINE_TRUSTED_PROXIES", "127.0.0.1")];
    with_proxy.extend_from_slice(overrides);
    let app = TestApp::spawn_with(Backend::Sqlite, &with_proxy).await;
    let tenant = app.create_tenant("free", 100).await;
    let created = app
        .post(
            "/v1/keys/publishable",
            &tenant.key,
            json!({"label": "site"}),
        )
        .await;
    let pk = expect_status(created, StatusCode::CREATED).await["key"]
        .as_str()
        .expect("publishable key")
        .to_string();
    let mut refused = None;
    for n in 0..8u8 {
        let res = app
            .request(Method::POST, "/v1/support/tickets", Some(&pk))
            .header("X-Forwarded-For", format!("198.51.100.{n}"))
            .json(&ticket_body("Widget is down"))
            .send()
            .await
            .expect("send");
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(n);
            expect_429(res, "tenant", 5).await;
            break;
        }
        expect_status(res, StatusCode::OK).await;
    }
    assert_eq!(
        refused,
        Some(5),
        "the free plan's burst of 5, for publishable traffic"
    );
    // The secret key spent one request (the publishable key) of its own 5.
    for _ in 0..4 {
        expect_status(me(&app, &tenant.key).await, StatusCode::OK).await;
    }
}

#[actix_web::test]
async fn widget_traffic_has_its_own_budget_locally() {
    widget_traffic_never_spends_the_tenants_own_budget(&[]).await;
}

#[actix_web::test]
async fn widget_traffic_has_its_own_budget_in_redis() {
    let prefix = fresh_prefix();
    widget_traffic_never_spends_the_tenants_own_budget(&redis_overrides(&prefix)).await;
}

#[actix_web::test]
async fn redis_backend_shares_one_budget_across_two_nodes() {
    let mut redis = redis_connection().await;
    let prefix = fresh_prefix();
    let overrides = redis_overrides(&prefix);
    let one = TestApp::spawn_with(Backend::Sqlite, &overrides).await;
    let two = one.another_node(&overrides).await;
    let tenant = one.create_tenant("free", 100).await;

    let mut passed = 0;
    let mut refused = Vec::new();
    for n in 0..10 {
        let node = if n % 2 == 0 { &one } else { &two };
        let res = me(node, &tenant.key).await;
        if res.status() == StatusCode::OK {
            passed += 1;
        } else {
            refused.push(expect_429(res, "tenant", 5).await);
        }
    }
    assert_eq!(passed, 5, "one burst across both nodes together");
    assert!(refused.iter().all(|r| *r == 1), "{refused:?}");
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    expect_status(me(&two, &tenant.key).await, StatusCode::OK).await;

    // Key guessing is counted across nodes too.
    for n in 0..10 {
        let node = if n % 2 == 0 { &one } else { &two };
        let res = me(node, "hl_sk_guess").await;
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    }
    expect_429(me(&one, "hl_sk_guess").await, "ip", 10).await;
    expect_429(me(&two, "hl_sk_guess").await, "ip", 10).await;

    // Every key lives under the prefix and expires once its bucket would be full.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}rl:*"))
        .query_async(&mut redis)
        .await
        .expect("KEYS");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .expect("PTTL");
        assert!((1..=20_000).contains(&ttl), "{key}: {ttl} ms");
    }
}

#[actix_web::test]
async fn unreachable_redis_falls_back_to_local_limits() {
    let overrides = [
        ("HELPLINE_RATE_LIMIT_BACKEND", "redis"),
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("HELPLINE_REDIS_PREFIX", "helpline-test-dead:"),
    ];
    let app = TestApp::spawn_with(Backend::Sqlite, &overrides).await;
    let tenant = app.create_tenant("free", 100).await;
    spend_free_burst(&app, &tenant.key).await;
    expect_429(me(&app, &tenant.key).await, "tenant", 5).await;
    let enterprise = app.create_tenant("enterprise", 100).await;
    let responses = join_all((0..50).map(|_| me(&app, &enterprise.key))).await;
    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));
}

/// Opens `POST /v1/support/tickets` for `key` and sends all of its body but the last byte:
/// the request is admitted (past the limiter) and stays in flight until `finish`.
async fn half_sent_create(app: &TestApp, key: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = ticket_body("Held open").to_string();
    let head = format!(
        "POST /v1/support/tickets HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream
        .write_all(&body.as_bytes()[..body.len() - 1])
        .await
        .expect("body");
    stream.flush().await.expect("flush");
    stream
}

/// Sends the last byte of a `half_sent_create` and reads its answer's status line.
async fn finish(mut stream: tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"}").await.expect("last byte");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_string()
}

/// Asks until the free tenant is refused; returns how long the refusal took.
async fn time_a_refusal(app: &TestApp, key: &str) -> Duration {
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let res = me(app, key).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            return started.elapsed();
        }
    }
    panic!("the free tenant was never refused");
}

#[actix_web::test]
async fn refusals_wait_while_admitted_work_is_in_flight() {
    let pace = Duration::from_secs(2);
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HELPLINE_REFUSAL_PACE", "2s")]).await;
    let flooder = app.create_tenant("free", 100).await;
    let busy = app.create_tenant("enterprise", 100).await;
    spend_free_burst(&app, &flooder.key).await;
    assert!(
        time_a_refusal(&app, &flooder.key).await < pace,
        "nothing admitted is running: refused at once"
    );

    let held = half_sent_create(&app, &busy.key).await;
    for _ in 0..100 {
        if !app.state.refusal_pacing.pause().is_zero() {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let waited = time_a_refusal(&app, &flooder.key).await;
    assert!(
        waited >= pace,
        "refused after {waited:?} while a create was in flight"
    );
    assert!(finish(held).await.starts_with("HTTP/1.1 200"));

    assert!(
        time_a_refusal(&app, &flooder.key).await < pace,
        "admitted work finished: refused at once again"
    );
}
