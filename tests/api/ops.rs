//! docs/API.md §11: readiness and Prometheus metrics.
use reqwest::{Method, StatusCode};

use crate::helpers::{Backend, TestApp, expect_error, expect_status};
use crate::on_both_backends;
use crate::tickets::open_ticket;

on_both_backends!(metrics_are_scraped_with_a_staff_token);

async fn metrics_are_scraped_with_a_staff_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ready = expect_status(
        app.request(Method::GET, "/readyz", None)
            .send()
            .await
            .expect("send"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (ready["database"].as_str(), ready["queue"].as_str()),
        (Some("ok"), Some("ok"))
    );

    let tenant = app.create_tenant("free", 100).await;
    open_ticket(&app, &tenant, "Metrics").await;
    // Four more use up the burst of 5; the sixth request is refused.
    for _ in 0..4 {
        expect_status(app.get("/v1/auth/me", &tenant.key).await, StatusCode::OK).await;
    }
    expect_error(
        app.get("/v1/auth/me", &tenant.key).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        Some("tenant"),
    )
    .await;
    let other = app.create_tenant("pilot", 0).await;
    let res = app
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    expect_error(
        app.get("/metrics", &other.key).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    )
    .await;

    let res = app.get("/metrics", &app.admin_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/plain")
    );
    let text = res.text().await.expect("body");
    for expected in [
        "helpline_http_requests_total{route=\"/v1/support/tickets\",method=\"POST\",status=\"200\"} 1",
        // Refused before routing: its route is still found (once) for the label.
        "helpline_http_requests_total{route=\"/v1/auth/me\",method=\"GET\",status=\"429\"} 1",
        "helpline_http_request_duration_seconds_bucket{route=\"/v1/support/tickets\",le=\"+Inf\"} 1",
        "helpline_rate_limit_rejections_total{kind=\"tenant\"} 1",
        "helpline_tenant_actors_live 1",
        "helpline_ticket_create_batches_total 1",
        "helpline_ticket_creates_batched_total 1",
        "helpline_queue_jobs{queue=\"webhook\",state=\"dead\"} 0",
        "helpline_outbox_lag_seconds ",
        "helpline_db_pool_connections{state=\"open\"}",
        "helpline_db_read_connections{state=\"open\"}",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in\n{text}");
    }
}
