//! docs/API.md §9 account export: one streamed JSON document with everything the tenant owns,
//! public data only, nothing of another tenant's.
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::agents::create_agent;
use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;
use crate::tickets::open_ticket;

on_both_backends!(
    export_contains_everything_and_only_this_tenants,
    export_pages_through_many_tickets,
    export_needs_a_secret_key,
);

const INTERNAL_NOTE: &str = "INTERNAL-ONLY carrier X is flaky, do not tell the customer";

/// Fetches the export, checks it is a streamed JSON download, and parses it.
async fn export(app: &TestApp, t: &TestTenant) -> Value {
    let res = app.get("/v1/account/export", &t.key).await;
    assert_eq!(res.status(), StatusCode::OK);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert!(
        header("content-type").is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        header("content-type")
    );
    assert_eq!(
        header("content-disposition").as_deref(),
        Some(format!("attachment; filename=\"helpline-export-{}.json\"", t.id).as_str())
    );
    // Streamed: chunked, no length known up front.
    assert_eq!(header("content-length"), None);
    assert_eq!(header("transfer-encoding").as_deref(), Some("chunked"));
    let text = res.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("export is not JSON ({e}): {text}"))
}

fn array<'a>(doc: &'a Value, key: &str) -> &'a Vec<Value> {
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` is an array: {doc}"))
}

async fn export_contains_everything_and_only_this_tenants(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token.clone();
    let t = app.create_tenant("enterprise", 100).await;
    let other = app.create_tenant("enterprise", 100).await;

    // This tenant: two tickets with a thread, an internal note, agents, numbers.
    let first = open_ticket(&app, &t, "Calls drop after a minute").await;
    let second = open_ticket(&app, &t, "Webhook signature mismatch").await;
    let first_id = first["id"].as_str().expect("id").to_string();
    let res = app
        .post(
            &format!("/v1/support/tickets/{first_id}/messages"),
            &t.key,
            json!({"body": "Any news on this?"}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let reply = format!("/admin/support/tickets/{first_id}/reply");
    let res = app
        .post(
            &reply,
            &admin,
            json!({"body": INTERNAL_NOTE, "internal": true}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let res = app
        .post(&reply, &admin, json!({"body": "We are looking into it."}))
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let agent = create_agent(&app, &t, "Front desk").await;
    let idle_agent = create_agent(&app, &t, "Idle").await;
    for body in [
        json!({"number": "+15551230001", "agent_id": agent}),
        json!({"number": "+15551230002"}),
    ] {
        let res = app.post("/v1/numbers", &t.key, body).await;
        expect_status(res, StatusCode::CREATED).await;
    }

    // Another tenant's data, which must not leak.
    let foreign_ticket = open_ticket(&app, &other, "Other tenant's secret subject").await;
    let foreign_agent = create_agent(&app, &other, "Other tenant's agent").await;
    let res = app
        .post("/v1/numbers", &other.key, json!({"number": "+15559870000"}))
        .await;
    expect_status(res, StatusCode::CREATED).await;

    let doc = export(&app, &t).await;
    let keys: Vec<&str> = doc
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "object",
            "exported_at",
            "tenant",
            "tickets",
            "numbers",
            "agents",
            "ledger",
            "webhooks",
            "notifications"
        ]
    );
    assert_eq!(doc["object"], "account_export");
    assert!(doc["exported_at"].is_string());

    // Tenant profile.
    let me = expect_status(app.get("/v1/auth/me", &t.key).await, StatusCode::OK).await;
    assert_eq!(doc["tenant"]["id"], t.id.as_str());
    assert_eq!(doc["tenant"]["object"], "tenant");
    assert_eq!(doc["tenant"]["email"], "dev@acme.test");
    assert_eq!(doc["tenant"]["plan"], "enterprise");
    assert_eq!(doc["tenant"]["balance_cents"], me["balance_cents"]);

    // Tickets, oldest first, with public messages and public events only.
    let tickets = array(&doc, "tickets");
    let ids: Vec<&str> = tickets.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, [first_id.as_str(), second["id"].as_str().expect("id")]);
    let exported_first = &tickets[0];
    assert_eq!(exported_first["object"], "support_ticket");
    assert_eq!(exported_first["subject"], "Calls drop after a minute");
    let bodies: Vec<&str> = array(exported_first, "messages")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(
        bodies,
        [
            "The SDK times out when creating calls.",
            "Any news on this?",
            "We are looking into it."
        ]
    );
    assert!(
        array(exported_first, "messages")
            .iter()
            .all(|m| m["internal"] == false)
    );
    // The events are exactly what the tenant's own history endpoint shows.
    let history = expect_status(
        app.get(&format!("/v1/support/tickets/{first_id}/events"), &t.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(exported_first["events"], history["data"]);
    assert!(!array(exported_first, "events").is_empty());
    assert_eq!(array(&tickets[1], "messages").len(), 1);
    assert_eq!(tickets[1]["events"][0]["type"], "created");

    // Numbers and agents.
    let mut numbers: Vec<(String, Value)> = array(&doc, "numbers")
        .iter()
        .map(|n| {
            (
                n["number"].as_str().expect("number").to_string(),
                n["agent_id"].clone(),
            )
        })
        .collect();
    numbers.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        numbers,
        [
            ("+15551230001".to_string(), json!(agent)),
            ("+15551230002".to_string(), Value::Null)
        ]
    );
    let agent_ids: Vec<&str> = array(&doc, "agents")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(agent_ids, [agent.as_str(), idle_agent.as_str()]);
    assert_eq!(doc["agents"][0]["object"], "agent");
    assert_eq!(doc["agents"][0]["name"], "Front desk");

    // Webhooks are exported without their signing secrets; notifications are all there.
    assert!(
        array(&doc, "webhooks")
            .iter()
            .all(|w| w.get("secret").is_none())
    );
    let feed = expect_status(app.get("/v1/notifications", &t.key).await, StatusCode::OK).await;
    assert_eq!(
        array(&doc, "notifications").len() as u64,
        feed["total"].as_u64().expect("total")
    );

    // Ledger: the opening top-up and two ticket fees, matching the ledger endpoint's entries.
    let ledger = array(&doc, "ledger");
    let kinds: Vec<&str> = ledger.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert_eq!(kinds, ["top_up", "ticket_fee", "ticket_fee"]);
    let sum: i64 = ledger
        .iter()
        .filter_map(|l| l["amount_cents"].as_i64())
        .sum();
    assert_eq!(json!(sum), me["balance_cents"]);

    // Nothing internal, nothing of the other tenant.
    let text = doc.to_string();
    assert!(!text.contains(INTERNAL_NOTE), "internal note leaked");
    for foreign in [
        other.id.as_str(),
        foreign_ticket["id"].as_str().expect("id"),
        "Other tenant's secret subject",
        foreign_agent.as_str(),
        "Other tenant's agent",
        "+15559870000",
    ] {
        assert!(!text.contains(foreign), "{foreign} leaked into the export");
    }

    // And the other tenant's export holds only its own data.
    let theirs = export(&app, &other).await;
    assert_eq!(theirs["tenant"]["id"], other.id.as_str());
    assert_eq!(array(&theirs, "tickets").len(), 1);
    assert_eq!(array(&theirs, "numbers").len(), 1);
    assert_eq!(array(&theirs, "agents").len(), 1);
    assert!(!theirs.to_string().contains(&first_id));
}

/// More tickets and ledger entries than one batch (200): every row once, in order.
async fn export_pages_through_many_tickets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("enterprise", 1000).await;
    let total = 205;
    for chunk in (0..total).collect::<Vec<_>>().chunks(25) {
        join_all(chunk.iter().map(|i| {
            let (app, t) = (&app, &t);
            async move { open_ticket(app, t, &format!("Ticket number {i}")).await }
        }))
        .await;
    }
    let doc = export(&app, &t).await;
    let tickets = array(&doc, "tickets");
    assert_eq!(tickets.len(), total);
    let ids: Vec<&str> = tickets.iter().filter_map(|t| t["id"].as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), total, "every ticket exactly once");
    assert_eq!(sorted, ids, "oldest first");
    assert!(
        tickets
            .iter()
            .all(|t| array(t, "messages").len() == 1 && !array(t, "events").is_empty())
    );
    // The opening top-up plus one fee per ticket.
    assert_eq!(array(&doc, "ledger").len(), total + 1);
}

async fn export_needs_a_secret_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("pilot", 100).await;
    let pk = expect_status(
        app.post("/v1/keys/publishable", &t.key, json!({"label": "web"}))
            .await,
        StatusCode::CREATED,
    )
    .await["key"]
        .as_str()
        .expect("publishable key")
        .to_string();
    expect_error(
        app.get("/v1/account/export", &pk).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        None,
    )
    .await;
    let res = app
        .request(Method::GET, "/v1/account/export", None)
        .send()
        .await
        .expect("GET");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    expect_error(
        app.get("/v1/account/export", &app.admin_token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    )
    .await;
    // A fresh tenant's export is valid JSON with empty sections.
    let doc = export(&app, &t).await;
    for key in ["tickets", "numbers", "agents"] {
        assert_eq!(doc[key], json!([]), "{key}");
    }
    assert_eq!(array(&doc, "ledger").len(), 1);
}
