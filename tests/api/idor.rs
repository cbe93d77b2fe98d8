//! Tenant isolation, swept over the whole API: every `/v1` operation of `/openapi.json` that
//! takes an id is called by another tenant with the owner's real ids, and must answer exactly
//! as it does for an unknown id of the same shape — so a foreign id reveals nothing — and
//! change nothing.
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_status};
use crate::on_both_backends;
use crate::support::eventually;
use crate::support::receiver::FakeServer;
use crate::tickets::open_ticket;

on_both_backends!(foreign_ids_answer_like_unknown_ids_on_every_route);

/// The owner's real ids, and an unknown id of the same shape, by path parameter.
struct Ids {
    owned: Vec<(&'static str, String, String)>,
}

impl Ids {
    /// `(owned, unknown)` for the parameter `param` of `path`.
    fn for_param(&self, path: &str, param: &str) -> Option<(String, String)> {
        let key = match (path, param) {
            (p, "id") if p.starts_with("/v1/support/tickets/") => "ticket",
            (p, "id") if p.starts_with("/v1/webhooks/") => "webhook",
            (_, "delivery") => "delivery",
            (p, "id") if p.starts_with("/v1/agents/") => "agent",
            (_, "number") => "number",
            (p, "id") if p.starts_with("/v1/notifications/") => "notification",
            (p, "id") if p.starts_with("/v1/keys/publishable/") => "publishable_key",
            _ => return None,
        };
        self.owned
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, owned, unknown)| (owned.clone(), unknown.clone()))
    }
}

fn fresh(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

async fn foreign_ids_answer_like_unknown_ids_on_every_route(backend: Backend) {
    let receiver = FakeServer::start().await;
    let app = TestApp::spawn_with(backend, &[("HELPLINE_WEBHOOK_RETRY_SCHEDULE", "0s")]).await;
    let owner = app.create_tenant("enterprise", 1000).await;
    let intruder = app.create_tenant("enterprise", 1000).await;

    // The owner's objects, one of each kind.
    let webhook = expect_status(
        app.post("/v1/webhooks", &owner.key, json!({"url": receiver.url}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let webhook_id = webhook["id"].as_str().expect("id").to_string();
    let ticket = open_ticket(&app, &owner, "Owned ticket").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let reply = app
        .post(
            &format!("/admin/support/tickets/{ticket}/reply"),
            &app.admin_token,
            json!({"body": "hi"}),
        )
        .await;
    expect_status(reply, StatusCode::CREATED).await;
    let delivery = eventually("a delivery", std::time::Duration::from_secs(20), || async {
        let list = expect_status(
            app.get(&format!("/v1/webhooks/{webhook_id}/deliveries"), &owner.key)
                .await,
            StatusCode::OK,
        )
        .await;
        list["data"][0]["id"].as_str().map(str::to_string)
    })
    .await;
    let notification = expect_status(
        app.get("/v1/notifications", &owner.key).await,
        StatusCode::OK,
    )
    .await["data"][0]["id"]
        .as_str()
        .expect("a notification")
        .to_string();
    let agent = expect_status(
        app.post("/v1/agents", &owner.key, json!({"name": "Desk"}))
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let number = "+15550001111".to_string();
    expect_status(
        app.post(
            "/v1/numbers",
            &owner.key,
            json!({"number": number, "agent_id": agent}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let pk = expect_status(
        app.post("/v1/keys/publishable", &owner.key, json!({"label": "web"}))
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let ids = Ids {
        owned: vec![
            ("ticket", ticket.clone(), fresh("tkt_")),
            ("webhook", webhook_id.clone(), fresh("whk_")),
            ("delivery", delivery, fresh("dlv_")),
            ("agent", agent.clone(), uuid::Uuid::now_v7().to_string()),
            ("number", number.clone(), "+15559998888".into()),
            ("notification", notification, fresh("ntf_")),
            ("publishable_key", pk, fresh("pk_")),
        ],
    };
    // Let background settlement finish, so only the intruder could change anything now.
    eventually(
        "settled ledger",
        std::time::Duration::from_secs(20),
        || async {
            let l = expect_status(
                app.get("/v1/billing/ledger", &owner.key).await,
                StatusCode::OK,
            )
            .await;
            l["data"]
                .as_array()?
                .iter()
                .all(|e| e["status"] == "settled")
                .then_some(())
        },
    )
    .await;
    let before = crate::helpers::dump_tables(&app, &owner.id).await;

    let doc = expect_status(
        app.request(Method::GET, "/openapi.json", None)
            .send()
            .await
            .expect("send"),
        StatusCode::OK,
    )
    .await;
    let mut swept = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/v1/") || !path.contains('{') {
            continue;
        }
        for (method, op) in item.as_object().expect("operations") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let has_body = !op["requestBody"].is_null();
            let mut body = op["requestBody"]["content"]["application/json"]["example"].clone();
            if has_body && body.is_null() {
                body = fallback_body(method.as_str(), path);
            }
            let mut owned_path = path.clone();
            let mut unknown_path = path.clone();
            for param in op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
            {
                let name = param["name"].as_str().expect("name");
                let (owned, unknown) = ids.for_param(path, name).unwrap_or_else(|| {
                    panic!("{method} {path}: no id for `{name}` — add it to this sweep")
                });
                owned_path = owned_path.replace(&format!("{{{name}}}"), &owned);
                unknown_path = unknown_path.replace(&format!("{{{name}}}"), &unknown);
            }
            let call = |p: String| {
                let builder = app.request(method.clone(), &p, Some(&intruder.key));
                let builder = if body.is_null() {
                    builder
                } else {
                    builder.json(&body)
                };
                builder.send()
            };
            let foreign = call(owned_path.clone()).await.expect("send");
            let (foreign_status, foreign_body) = (
                foreign.status(),
                foreign.json::<Value>().await.unwrap_or(Value::Null),
            );
            let unknown = call(unknown_path).await.expect("send");
            let (unknown_status, unknown_body) = (
                unknown.status(),
                unknown.json::<Value>().await.unwrap_or(Value::Null),
            );
            assert_eq!(
                foreign_status,
                StatusCode::NOT_FOUND,
                "{method} {owned_path} as another tenant: {foreign_body}"
            );
            assert_eq!(
                (foreign_status, &foreign_body["code"]),
                (unknown_status, &unknown_body["code"]),
                "{method} {path}"
            );
            swept += 1;
        }
    }
    assert!(swept >= 15, "swept {swept} operations");
    let after = crate::helpers::dump_tables(&app, &owner.id).await;
    assert_eq!(before, after, "the intruder changed nothing of the owner's");
    // And the owner still reaches everything.
    expect_status(
        app.get(&format!("/v1/support/tickets/{ticket}"), &owner.key)
            .await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.get(&format!("/v1/webhooks/{webhook_id}"), &owner.key)
            .await,
        StatusCode::OK,
    )
    .await;
}

/// A valid body for operations whose document has no example.
fn fallback_body(method: &str, path: &str) -> Value {
    match (method, path) {
        ("PATCH", "/v1/support/tickets/{id}") => json!({"status": "resolved"}),
        ("POST", "/v1/support/tickets/{id}/messages") => json!({"body": "Hello from elsewhere"}),
        ("PATCH", "/v1/webhooks/{id}") => json!({"enabled": false}),
        ("PUT", "/v1/agents/{id}") => json!({"name": "Renamed"}),
        ("POST", "/v1/numbers/{number}/attach") => json!({"agent_id": uuid::Uuid::now_v7()}),
        _ => json!({}),
    }
}
