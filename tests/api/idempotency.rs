//! Idempotency records belong to the API key that made them, are only reachable after the
//! key's scope was checked, and never hold a secret in plaintext.
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;
use crate::tickets::ticket_body;

on_both_backends!(
    a_publishable_key_cannot_replay_claim_or_probe_secret_key_records,
    records_belong_to_the_key_that_made_them,
    no_secret_is_stored_in_plaintext,
    secret_bearing_answers_are_not_cached_or_sniffed,
);

async fn send(app: &TestApp, token: &str, path: &str, key: &str, body: Value) -> Response {
    app.request(Method::POST, path, Some(token))
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("send")
}

async fn publishable_key(app: &TestApp, tenant: &TestTenant) -> String {
    let created = expect_status(
        app.post(
            "/v1/keys/publishable",
            &tenant.key,
            json!({"label": "widget"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    created["key"].as_str().expect("key").to_string()
}

async fn a_publishable_key_cannot_replay_claim_or_probe_secret_key_records(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let pk = publishable_key(&app, &tenant).await;
    let receiver = crate::support::receiver::FakeServer::start().await;

    // The tenant creates a webhook and rotates its key, each with an Idempotency-Key.
    let hook = json!({"url": receiver.url});
    let created = send(&app, &tenant.key, "/v1/webhooks", "hook-1", hook.clone()).await;
    let created = expect_status(created, StatusCode::CREATED).await;
    assert!(
        created["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    let path = "/v1/auth/regenerate-key";
    let rotated = send(&app, &tenant.key, path, "rotate-2026-12-01", json!({})).await;
    let rotated = expect_status(rotated, StatusCode::OK).await;
    let new_key = rotated["secret_key"].as_str().expect("new key").to_string();

    // The publishable key, with the same keys and bodies: refused for scope, no replay.
    for (path, key, body) in [
        (path, "rotate-2026-12-01", json!({})),
        ("/v1/webhooks", "hook-1", hook.clone()),
        // A different body would have been a `409` "used" before: no probing either.
        (
            "/v1/webhooks",
            "hook-1",
            json!({"url": "https://probe.example/x"}),
        ),
    ] {
        let res = send(&app, &pk, path, key, body).await;
        assert!(res.headers().get("idempotent-replayed").is_none());
        let text = expect_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
        assert!(!text.to_string().contains("whsec_") && !text.to_string().contains("hl_sk_"));
    }

    // Nor can it poison a key the tenant will use later: its refusal stored nothing.
    let res = send(&app, &pk, path, "rotate-2026-12-02", json!({})).await;
    expect_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    let res = send(&app, &new_key, path, "rotate-2026-12-02", json!({})).await;
    assert!(res.headers().get("idempotent-replayed").is_none());
    let body = expect_status(res, StatusCode::OK).await;
    assert!(
        body["secret_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("hl_sk_"))
    );
    let rows: u64 = {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        entities::idempotency_keys::Entity::find()
            .filter(
                entities::idempotency_keys::Column::TenantId
                    .eq(tenant.id.parse::<uuid::Uuid>().expect("uuid")),
            )
            .count(&app.state.db)
            .await
            .expect("count")
    };
    assert_eq!(rows, 3, "only the secret keys' own requests were recorded");
}

async fn records_belong_to_the_key_that_made_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 100).await;
    let pk = publishable_key(&app, &tenant).await;
    let path = "/v1/support/tickets";

    let by_pk = send(&app, &pk, path, "order-1", ticket_body("From the widget")).await;
    let by_pk = expect_status(by_pk, StatusCode::OK).await;
    // The same Idempotency-Key from the secret key, same body: its own request, not a replay.
    let by_sk = send(
        &app,
        &tenant.key,
        path,
        "order-1",
        ticket_body("From the widget"),
    )
    .await;
    assert!(by_sk.headers().get("idempotent-replayed").is_none());
    let by_sk = expect_status(by_sk, StatusCode::OK).await;
    assert_ne!(by_pk["ticket"]["id"], by_sk["ticket"]["id"]);
    assert!(by_pk["ticket"]["id"].is_string());
    // Another body under that key from the publishable key: a conflict with its own record
    // only; the secret key's is not visible to it.
    let res = send(&app, &pk, path, "order-1", ticket_body("Changed")).await;
    expect_error(res, StatusCode::CONFLICT, "idempotency_key_reused", None).await;
    let res = send(&app, &pk, path, "order-2", ticket_body("Fresh")).await;
    assert!(res.headers().get("idempotent-replayed").is_none());
    expect_status(res, StatusCode::OK).await;

    // Each key still replays its own answer.
    let again = send(
        &app,
        &tenant.key,
        path,
        "order-1",
        ticket_body("From the widget"),
    )
    .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_status(again, StatusCode::OK).await, by_sk);
    let again = send(&app, &pk, path, "order-1", ticket_body("From the widget")).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_status(again, StatusCode::OK).await, by_pk);

    // The route is part of the request: the same key and body on another route conflicts.
    let res = send(
        &app,
        &tenant.key,
        "/v1/keys/publishable",
        "order-1",
        ticket_body("From the widget"),
    )
    .await;
    expect_error(res, StatusCode::CONFLICT, "idempotency_key_reused", None).await;
}

/// Every text value of every column of every table.
async fn every_stored_value(app: &TestApp) -> Vec<(String, String, String)> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let columns_sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table'"
        }
        _ => {
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = 'public'"
        }
    };
    let columns = db
        .query_all_raw(Statement::from_string(backend, columns_sql))
        .await
        .expect("columns");
    let mut out = Vec::new();
    for row in columns {
        let table: String = row.try_get("", "t").expect("table");
        let column: String = row.try_get("", "c").expect("column");
        let sql = format!("SELECT CAST(\"{column}\" AS TEXT) AS v FROM \"{table}\"");
        for value in db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .expect("values")
        {
            if let Ok(Some(v)) = value.try_get::<Option<String>>("", "v") {
                out.push((table.clone(), column.clone(), v));
            }
        }
    }
    out
}

async fn no_secret_is_stored_in_plaintext(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let receiver = crate::support::receiver::FakeServer::start().await;
    let mut shown = vec![tenant.key.clone()];

    // Every flow that shows a secret once, with an Idempotency-Key, and its replay.
    for attempt in 0..2 {
        let res = send(
            &app,
            &tenant.key,
            "/v1/keys/publishable",
            "pk-1",
            json!({"label": "w"}),
        )
        .await;
        let body = expect_status(res, StatusCode::CREATED).await;
        shown.push(body["key"].as_str().expect("pk").to_string());
        let res = send(
            &app,
            &tenant.key,
            "/v1/webhooks",
            "hook-1",
            json!({"url": receiver.url}),
        )
        .await;
        assert_eq!(
            res.headers().get("idempotent-replayed").is_some(),
            attempt == 1
        );
        let body = expect_status(res, StatusCode::CREATED).await;
        shown.push(body["secret"].as_str().expect("whsec").to_string());
    }
    assert_eq!(shown[1], shown[3], "the replay opens the sealed answer");
    assert_eq!(shown[2], shown[4]);
    let id = {
        let res = app.get("/v1/webhooks", &tenant.key).await;
        expect_status(res, StatusCode::OK).await["data"][0]["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let rotate = format!("/v1/webhooks/{id}/rotate-secret");
    let res = send(&app, &tenant.key, &rotate, "rotate-hook", json!({})).await;
    let body = expect_status(res, StatusCode::OK).await;
    shown.push(body["secret"].as_str().expect("whsec").to_string());
    let res = send(
        &app,
        &tenant.key,
        "/v1/auth/regenerate-key",
        "rotate-1",
        json!({}),
    )
    .await;
    let body = expect_status(res, StatusCode::OK).await;
    let new_key = body["secret_key"].as_str().expect("new key").to_string();
    shown.push(new_key.clone());

    // The other tokens shown once: a bot's, and a Support-tab link's.
    let res = app
        .post("/admin/bots", &app.admin_token, json!({"name": "Triage"}))
        .await;
    let body = expect_status(res, StatusCode::CREATED).await;
    shown.push(body["token"].as_str().expect("hl_bot_").to_string());
    let res = send(&app, &new_key, "/v1/portal/sessions", "portal-1", json!({})).await;
    let body = expect_status(res, StatusCode::CREATED).await;
    let link = body["url"].as_str().expect("url");
    let (_, link_token) = link.split_once("token=").expect("a token in the link");
    shown.push(link_token.to_string());

    let current_webhook_secret = shown
        .iter()
        .rev()
        .find(|s| s.starts_with("whsec_"))
        .cloned()
        .expect("a webhook secret");
    let stored = every_stored_value(&app).await;
    assert!(stored.iter().any(|(t, _, _)| t == "idempotency_keys"));
    for (table, column, value) in &stored {
        for prefix in ["hl_sk_", "hl_pk_", "hl_bot_", "hl_staff_"] {
            assert!(
                !holds_full_token(value, prefix),
                "{table}.{column} holds a {prefix} token"
            );
        }
        for secret in &shown {
            // The signing secret of a live endpoint is the one kept: signing needs it.
            let kept = table == "webhook_endpoints"
                && column == "secret"
                && *secret == current_webhook_secret;
            assert!(
                kept || !value.contains(secret.as_str()),
                "{table}.{column} holds a secret shown once"
            );
        }
        if value.contains("whsec_") {
            assert_eq!(
                (table.as_str(), column.as_str()),
                ("webhook_endpoints", "secret")
            );
        }
    }
}

/// A whole token (the prefix and 40 random characters), not just the visible prefix kept
/// to identify a key.
fn holds_full_token(value: &str, prefix: &str) -> bool {
    value.match_indices(prefix).any(|(at, _)| {
        value[at + prefix.len()..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .count()
            >= 40
    })
}

async fn secret_bearing_answers_are_not_cached_or_sniffed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let res = app
        .post("/v1/keys/publishable", &tenant.key, json!({"label": "w"}))
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let res = app
        .post("/v1/auth/regenerate-key", &tenant.key, json!({}))
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = app.get("/v1/auth/me", "hl_sk_unknown").await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let res = app
        .request(Method::GET, "/healthz", None)
        .send()
        .await
        .expect("send");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}
