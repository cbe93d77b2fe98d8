//! Every per-tenant cap answers `409 limit_reached` naming the cap, and frees up when one
//! is removed.
use chrono::Utc;
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, expect_error, expect_status};
use crate::on_both_backends;

on_both_backends!(
    webhook_endpoints_and_publishable_keys_are_capped,
    agents_and_numbers_are_capped,
    idempotency_keys_are_capped_per_day
);

async fn webhook_endpoints_and_publishable_keys_are_capped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 100).await;
    let hook = json!({"url": "http://127.0.0.1:9/hook"});
    let mut first = None;
    for _ in 0..20 {
        let res = app.post("/v1/webhooks", &tenant.key, hook.clone()).await;
        let body = expect_status(res, StatusCode::CREATED).await;
        first.get_or_insert(body["id"].as_str().expect("id").to_string());
    }
    let res = app.post("/v1/webhooks", &tenant.key, hook.clone()).await;
    expect_error(
        res,
        StatusCode::CONFLICT,
        "limit_reached",
        Some("webhook_endpoints"),
    )
    .await;
    let first = first.expect("an endpoint");
    let res = app
        .delete(&format!("/v1/webhooks/{first}"), &tenant.key)
        .await;
    assert!(res.status().is_success());
    let res = app.post("/v1/webhooks", &tenant.key, hook).await;
    expect_status(res, StatusCode::CREATED).await;

    let mut first = None;
    for _ in 0..20 {
        let res = app
            .post("/v1/keys/publishable", &tenant.key, json!({"label": "w"}))
            .await;
        let body = expect_status(res, StatusCode::CREATED).await;
        first.get_or_insert(body["id"].as_str().expect("id").to_string());
    }
    let res = app
        .post("/v1/keys/publishable", &tenant.key, json!({"label": "w"}))
        .await;
    expect_error(
        res,
        StatusCode::CONFLICT,
        "limit_reached",
        Some("publishable_keys"),
    )
    .await;
    let first = first.expect("a key");
    let res = app
        .delete(&format!("/v1/keys/publishable/{first}"), &tenant.key)
        .await;
    expect_status(res, StatusCode::OK).await;
    let res = app
        .post("/v1/keys/publishable", &tenant.key, json!({"label": "w"}))
        .await;
    expect_status(res, StatusCode::CREATED).await;
}

async fn agents_and_numbers_are_capped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 100).await;
    let tenant_id: Uuid = tenant.id.parse().expect("uuid");
    let now = Utc::now();
    // Up to one below each cap straight into the database; the API makes the last one.
    let agents: Vec<_> = (0..499)
        .map(|n| entities::agents::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant_id),
            name: Set(format!("agent {n}")),
            description: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .collect();
    entities::agents::Entity::insert_many(agents)
        .exec(&app.state.db)
        .await
        .expect("agents");
    let numbers: Vec<_> = (0..999)
        .map(|n| entities::numbers::ActiveModel {
            number: Set(format!("+1555{n:07}")),
            tenant_id: Set(tenant_id),
            agent_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .collect();
    for chunk in numbers.chunks(200) {
        entities::numbers::Entity::insert_many(chunk.to_vec())
            .exec(&app.state.db)
            .await
            .expect("numbers");
    }

    let res = app
        .post("/v1/agents", &tenant.key, json!({"name": "last"}))
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let res = app
        .post("/v1/agents", &tenant.key, json!({"name": "one too many"}))
        .await;
    expect_error(res, StatusCode::CONFLICT, "limit_reached", Some("agents")).await;

    let res = app
        .post(
            "/v1/numbers",
            &tenant.key,
            json!({"number": "+15559999999"}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let res = app
        .post(
            "/v1/numbers",
            &tenant.key,
            json!({"number": "+15559999998"}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "limit_reached", Some("numbers")).await;
    // A number the tenant already holds is still answered (nothing new is stored).
    let res = app
        .post(
            "/v1/numbers",
            &tenant.key,
            json!({"number": "+15559999999"}),
        )
        .await;
    expect_status(res, StatusCode::OK).await;
}

async fn idempotency_keys_are_capped_per_day(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 100).await;
    let other = app.create_tenant("enterprise", 100).await;
    let tenant_id: Uuid = tenant.id.parse().expect("uuid");
    // One below today's cap; yesterday's full day does not count.
    let today = Utc::now().date_naive();
    let days = [(today, 99_999), (today - chrono::Days::new(1), 100_000)];
    for (day, claimed) in days {
        entities::idempotency_usage::Entity::insert(entities::idempotency_usage::ActiveModel {
            tenant_id: Set(tenant_id),
            day: Set(day),
            claimed: Set(claimed),
        })
        .exec(&app.state.db)
        .await
        .expect("usage");
    }
    let create = |token: &str, key: Option<&str>, name: &str| {
        let mut req = app
            .request(Method::POST, "/v1/agents", Some(token))
            .json(&json!({"name": name}));
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        req.send()
    };

    let res = create(&tenant.key, Some("last-of-the-day"), "kept")
        .await
        .expect("send");
    expect_status(res, StatusCode::CREATED).await;
    let res = create(&tenant.key, Some("one-too-many"), "refused")
        .await
        .expect("send");
    expect_error(
        res,
        StatusCode::CONFLICT,
        "limit_reached",
        Some("idempotency_keys"),
    )
    .await;
    // The refused request ran nothing and stored nothing: the same key is still refused.
    let res = create(&tenant.key, Some("one-too-many"), "refused")
        .await
        .expect("send");
    expect_error(
        res,
        StatusCode::CONFLICT,
        "limit_reached",
        Some("idempotency_keys"),
    )
    .await;
    let listed = expect_status(app.get("/v1/agents", &tenant.key).await, StatusCode::OK).await;
    let names: Vec<&str> = listed["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["kept"]);

    // Keys already claimed still replay; requests without a key and other tenants go on.
    let res = create(&tenant.key, Some("last-of-the-day"), "kept")
        .await
        .expect("send");
    assert_eq!(
        res.headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    expect_status(res, StatusCode::CREATED).await;
    let res = create(&tenant.key, None, "no key").await.expect("send");
    expect_status(res, StatusCode::CREATED).await;
    let res = create(&other.key, Some("one-too-many"), "elsewhere")
        .await
        .expect("send");
    expect_status(res, StatusCode::CREATED).await;
}
