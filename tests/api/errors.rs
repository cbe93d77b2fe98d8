//! docs/API.md §2 error shapes: every error is JSON with a code.
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, expect_error, expect_status};
use crate::on_both_backends;

on_both_backends!(error_shapes, pagination_bounds);

async fn error_shapes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token.clone();

    expect_error(
        app.get("/nope", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    expect_error(
        app.get("/v1/nope", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    expect_error(
        app.get("/admin/nope", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let res = app
        .request(Method::DELETE, "/admin/tenants", Some(&admin))
        .send()
        .await
        .expect("send");
    expect_error(
        res,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    )
    .await;

    let post_raw = |body: Vec<u8>, content_type: &'static str| {
        app.request(Method::POST, "/admin/tenants", Some(&admin))
            .header("content-type", content_type)
            .body(body)
    };
    let res = post_raw(b"{\"name\": ".to_vec(), "application/json")
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_json", None).await;
    let res = post_raw(b"{\"name\": \"\xff\xfe\"}".to_vec(), "application/json")
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_json", None).await;
    let res = post_raw(b"{}".to_vec(), "text/plain")
        .send()
        .await
        .expect("send");
    expect_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    )
    .await;
    let huge = format!(
        "{{\"name\": \"{}\", \"email\": \"a@b.co\"}}",
        "x".repeat(70 * 1024)
    );
    let res = post_raw(huge.into_bytes(), "application/json")
        .send()
        .await
        .expect("send");
    expect_error(
        res,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    )
    .await;
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let res = post_raw(nested.into_bytes(), "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let res = app
        .post(
            "/admin/tenants",
            &admin,
            json!({"name": "A", "email": "a@b.co", "colour": "red"}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "unknown_field",
        Some("colour"),
    )
    .await;
    let res = app
        .post("/admin/tenants", &admin, json!({"name": "A"}))
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("email"),
    )
    .await;
    let res = app
        .post(
            "/admin/tenants",
            &admin,
            json!({"name": "A", "email": "not-an-email"}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("email"),
    )
    .await;
    let res = app
        .post(
            "/admin/tenants",
            &admin,
            json!({"name": "A", "email": "a@b.co", "plan": "gold"}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("plan"),
    )
    .await;
    let res = app
        .post(
            "/admin/tenants",
            &admin,
            json!({"name": 5, "email": "a@b.co"}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("name"),
    )
    .await;

    // None of the refused requests saved anything.
    let list = expect_status(app.get("/admin/tenants", &admin).await, StatusCode::OK).await;
    assert_eq!(list["total"], 0);

    // Request ids: echoed when sent, generated otherwise.
    let res = app
        .request(Method::GET, "/healthz", None)
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("send");
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app
        .request(Method::GET, "/healthz", None)
        .send()
        .await
        .expect("send");
    assert!(!res.headers()["x-request-id"].is_empty());
    let ready = expect_status(
        app.request(Method::GET, "/readyz", None)
            .send()
            .await
            .expect("send"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ready["database"], "ok");
}

async fn pagination_bounds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..3 {
        app.create_tenant("free", 0).await;
    }
    let admin = app.admin_token.clone();
    let page = expect_status(app.get("/admin/tenants", &admin).await, StatusCode::OK).await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["limit"].as_u64(),
            page["offset"].as_u64()
        ),
        (Some(3), Some(50), Some(0))
    );
    let page = expect_status(
        app.get("/admin/tenants?limit=1000", &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["limit"], 200);
    let page = expect_status(
        app.get("/admin/tenants?limit=2&offset=2", &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    for bad in ["limit=-1", "limit=abc", "offset=-3", "offset=x"] {
        let field = bad.split('=').next().expect("field");
        let res = app.get(&format!("/admin/tenants?{bad}"), &admin).await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        )
        .await;
    }
}

/// A body trickled slower than the body timeout is answered `408` and saves nothing, with
/// and without an `Idempotency-Key` (which reads the body first).
#[actix_web::test]
async fn a_slow_body_is_timed_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.create_tenant("enterprise", 100).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let body = crate::tickets::ticket_body("Slow").to_string();
    let stall = |extra: &'static str| {
        let (addr, key, body) = (addr.clone(), tenant.key.clone(), body.clone());
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            let head = format!(
                "POST /v1/support/tickets HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await.expect("head");
            stream
                .write_all(&body.as_bytes()[..5])
                .await
                .expect("some body");
            let started = std::time::Instant::now();
            let mut answer = Vec::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                stream.read_to_end(&mut answer),
            )
            .await;
            assert!(read.is_ok(), "no answer within 30 s");
            (
                started.elapsed(),
                String::from_utf8_lossy(&answer).into_owned(),
            )
        }
    };
    let (plain, with_key) = futures_util::join!(stall(""), stall("Idempotency-Key: slow-1\r\n"));
    for (elapsed, answer) in [plain, with_key] {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
        assert!(
            elapsed.as_secs() >= 9 && elapsed.as_secs() <= 20,
            "{elapsed:?}"
        );
    }
    let list = expect_status(
        app.get("/v1/support/tickets", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 0);
}

/// Pooled connections are not pinged before each use while they are in steady use
/// (`db::PING_IF_IDLE_FOR`). One the server ended meanwhile must cost at most a retryable
/// `503` (never a `500`), and the pool must replace it by itself.
#[actix_web::test]
async fn a_pooled_connection_the_server_ended_answers_503_and_is_replaced() {
    use sea_orm::{ConnectionTrait, Database, Statement};

    let app = TestApp::spawn(Backend::Postgres).await;
    let tenant = app.create_tenant("enterprise", 1000).await;
    let list = "/v1/support/tickets?limit=5";
    // Several at once, so the pool holds more than one live connection.
    let warm = futures_util::future::join_all((0..4).map(|_| app.get(list, &tenant.key))).await;
    for res in warm {
        expect_status(res, StatusCode::OK).await;
    }

    let admin = Database::connect(app.database_url.as_str())
        .await
        .expect("connect");
    let ended = admin
        .query_all_raw(Statement::from_string(
            admin.get_database_backend(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ))
        .await
        .expect("terminate");
    admin.close().await.ok();
    assert!(!ended.is_empty(), "the server held no connection to end");

    // At once (under the idle threshold): the next uses meet the ended sessions.
    let mut refused = 0;
    for _ in 0..8 {
        let res = app.get(list, &tenant.key).await;
        match res.status() {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;
            }
            other => panic!("{other}: {}", res.text().await.unwrap_or_default()),
        }
    }
    assert!(
        refused <= 6,
        "{refused} of 8 refused: the pool did not recover"
    );
    crate::support::eventually(
        "a served list",
        std::time::Duration::from_secs(5),
        || async { (app.get(list, &tenant.key).await.status() == StatusCode::OK).then_some(()) },
    )
    .await;
    let res = app.get(list, &tenant.key).await;
    expect_status(res, StatusCode::OK).await;
    crate::helpers::shutdown_all().await;
}
