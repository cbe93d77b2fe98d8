//! docs/API.md §4 tickets: lifecycle, validation, concurrency, cursors, idempotency, isolation.
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;

on_both_backends!(
    full_lifecycle,
    validation_failures_save_nothing,
    concurrent_replies_lose_nothing,
    cursor_walk_sees_each_ticket_once,
    idempotent_creates,
    other_tenants_tickets_are_404,
    sla_snapshot_per_plan,
);

pub use crate::support::ticket_body;

pub async fn open_ticket(app: &TestApp, tenant: &TestTenant, subject: &str) -> Value {
    let res = app
        .post("/v1/support/tickets", &tenant.key, ticket_body(subject))
        .await;
    expect_status(res, StatusCode::OK).await["ticket"].clone()
}

fn id_of(ticket: &Value) -> String {
    ticket["id"].as_str().expect("ticket id").to_string()
}

async fn full_lifecycle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 100).await;
    let admin = app.admin_token.clone();

    let res = app
        .post(
            "/v1/support/tickets",
            &tenant.key,
            json!({"subject": "  Calls drop  ", "category": "voice_quality", "body": "Calls drop after 30 seconds.", "call_id": "call_123"}),
        )
        .await;
    let created = expect_status(res, StatusCode::OK).await;
    assert_eq!(created["email_delivered"], false);
    assert_eq!(created["email_reason"], "RESEND_API_KEY is not configured");
    let t = &created["ticket"];
    let id = id_of(t);
    assert!(id.starts_with("tkt_") && id.len() == 36, "{id}");
    assert_eq!(t["object"], "support_ticket");
    assert_eq!(t["subject"], "Calls drop");
    assert_eq!(t["status"], "open");
    assert_eq!(t["priority"], "normal");
    assert_eq!(t["description"], "Calls drop after 30 seconds.");
    assert_eq!(t["call_id"], "call_123");
    assert_eq!(t["contact_email"], "dev@acme.test");
    assert_eq!(t["plan_tier"], "enterprise");
    assert_eq!(t["sla"]["tier"], "enterprise");
    assert_eq!(t["sla"]["priority_queue"], true);
    assert!(t["sla"]["first_response_due_at"].is_string());
    assert_eq!(t["charge"], json!({"amount_cents": 1, "status": "pending"}));
    assert_eq!(
        t["bounty"],
        json!({"eligible": false, "status": "none", "amount_cents": 0})
    );
    assert_eq!(
        t["email"],
        json!({"status": "skipped", "reason": "RESEND_API_KEY is not configured"})
    );
    assert_eq!(t["message_count"], 1);
    assert_eq!(t["messages"][0]["author"], "customer");
    assert!(
        t["messages"][0]["id"]
            .as_str()
            .is_some_and(|m| m.starts_with("msg_"))
    );

    let path = format!("/v1/support/tickets/{id}");
    // The create answers with the ticket exactly as stored (built in memory, not read back).
    // The billing job may settle the charge between the create and this read.
    let mut stored = expect_status(app.get(&path, &tenant.key).await, StatusCode::OK).await;
    let charge = stored["charge"].take();
    assert_eq!(charge["amount_cents"], 1);
    assert!(
        charge["status"] == "pending" || charge["status"] == "settled",
        "{charge}"
    );
    let mut created_ticket = t.clone();
    created_ticket["charge"].take();
    assert_eq!(
        stored, created_ticket,
        "created ticket equals the stored one"
    );
    let messages_path = format!("{path}/messages");
    let reply_path = format!("/admin/support/tickets/{id}/reply");
    let reply = |body: &'static str| app.post(&messages_path, &tenant.key, json!({"body": body}));
    let op_reply = |body: Value| app.post(&reply_path, &admin, body);

    // Customer follow-up on an open ticket keeps it open.
    let r = expect_status(reply("Any news?").await, StatusCode::CREATED).await;
    assert_eq!(r["ticket_status"], "open");
    assert_eq!(r["message"]["author"], "customer");

    // An internal note changes nothing and stays invisible to the tenant.
    let r = expect_status(
        op_reply(json!({"body": "Looks like carrier X", "internal": true})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(r["ticket_status"], "open");
    // A public operator reply hands the ball to the tenant and starts the SLA clock.
    let r = expect_status(
        op_reply(json!({"body": "We are on it."})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(r["ticket_status"], "awaiting_user");
    assert_eq!(r["message"]["author"], "operator");
    assert_eq!(r["message"]["author_name"], "admin");

    let got = expect_status(app.get(&path, &tenant.key).await, StatusCode::OK).await;
    assert_eq!(got["status"], "awaiting_user");
    assert_eq!(got["message_count"], 3);
    assert_eq!(got["messages"].as_array().map(Vec::len), Some(3));
    assert!(
        got["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m["internal"] == false)
    );
    assert!(got["sla"]["first_response_at"].is_string());
    assert_eq!(got["sla"]["breached"], false);

    // Reply reopens awaiting_user; tenant resolves; reply reopens resolved.
    assert_eq!(
        expect_status(reply("Still broken").await, StatusCode::CREATED).await["ticket_status"],
        "open"
    );
    let res = app
        .patch(&path, &tenant.key, json!({"status": "in_progress"}))
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_transition", None).await;
    let res = app
        .patch(&path, &tenant.key, json!({"status": "resolved"}))
        .await;
    let resolved = expect_status(res, StatusCode::OK).await;
    assert_eq!(resolved["status"], "resolved");
    assert!(resolved["resolved_at"].is_string());
    assert_eq!(
        expect_status(reply("Came back").await, StatusCode::CREATED).await["ticket_status"],
        "open"
    );

    // Operators may set any status; closed is final for everyone.
    let res = app
        .patch(
            &format!("/admin/support/tickets/{id}"),
            &admin,
            json!({"status": "in_progress", "priority": "urgent"}),
        )
        .await;
    let updated = expect_status(res, StatusCode::OK).await;
    assert_eq!(
        (updated["status"].as_str(), updated["priority"].as_str()),
        (Some("in_progress"), Some("urgent"))
    );
    let closed = expect_status(
        app.patch(&path, &tenant.key, json!({"status": "closed"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(closed["closed_at"].is_string());
    expect_error(
        reply("Hello?").await,
        StatusCode::CONFLICT,
        "ticket_closed",
        None,
    )
    .await;
    expect_error(
        app.patch(&path, &tenant.key, json!({"status": "open"}))
            .await,
        StatusCode::CONFLICT,
        "ticket_closed",
        None,
    )
    .await;
    let res = app
        .patch(
            &format!("/admin/support/tickets/{id}"),
            &admin,
            json!({"status": "open"}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "ticket_closed", None).await;
    expect_error(
        op_reply(json!({"body": "note", "internal": true})).await,
        StatusCode::CONFLICT,
        "ticket_closed",
        None,
    )
    .await;

    // Thread: oldest first, public only, paginated.
    let thread = expect_status(
        app.get(&format!("{path}/messages?limit=2&offset=1"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(thread["total"], 5);
    assert_eq!(thread["data"][0]["body"], "Any news?");
    assert_eq!(thread["data"].as_array().map(Vec::len), Some(2));

    // History: every change is an event; the internal note's event is hidden from the tenant.
    let events = expect_status(
        app.get(&format!("{path}/events"), &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"created"));
    assert_eq!(kinds.iter().filter(|k| **k == "message_added").count(), 4);
    assert!(kinds.iter().filter(|k| **k == "status_changed").count() >= 6);
    let actors: Vec<&str> = events["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["actor"].as_str())
        .collect();
    assert!(actors.contains(&"operator:admin") && actors.contains(&"customer"));

    // The operator transcript includes the internal note and every event.
    let transcript = expect_status(
        app.get(&format!("/admin/support/tickets/{id}"), &admin)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(transcript["messages"].as_array().map(Vec::len), Some(6));
    assert!(
        transcript["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["internal"] == true)
    );
    assert_eq!(
        transcript["events"].as_array().map(|e| e.len()),
        Some(kinds.len() + 1)
    );

    // List with filters.
    let list = expect_status(
        app.get(
            "/v1/support/tickets?status=closed&category=voice_quality",
            &tenant.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 1);
    assert!(list["data"][0].get("messages").is_none());
    let list = expect_status(
        app.get("/v1/support/tickets?q=DROP", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 1);
    let list = expect_status(
        app.get("/v1/support/tickets?q=100%25", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 0);
    let res = app
        .get("/v1/support/tickets?status=pending", &tenant.key)
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("status"),
    )
    .await;
}

async fn validation_failures_save_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("base", 100).await;
    let base = ticket_body("A valid subject");
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = base.clone();
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let cases = [
        (without("subject"), "subject"),
        (with("subject", json!("ab")), "subject"),
        (with("subject", json!("   ab   ")), "subject"),
        (with("subject", json!("x".repeat(201))), "subject"),
        (with("subject", json!(42)), "subject"),
        (without("category"), "category"),
        (with("category", json!("complaints")), "category"),
        (without("description"), "description"),
        (with("description", json!("too short")), "description"),
        (with("description", json!("y".repeat(5001))), "description"),
        (with("priority", json!("critical")), "priority"),
        (with("call_id", json!("c".repeat(129))), "call_id"),
        (
            with("source_session_id", json!("s".repeat(129))),
            "source_session_id",
        ),
        (
            with("contact_email", json!("not-an-email")),
            "contact_email",
        ),
    ];
    for (body, field) in cases {
        let res = app.post("/v1/support/tickets", &tenant.key, body).await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        )
        .await;
    }
    let res = app
        .post(
            "/v1/support/tickets",
            &tenant.key,
            with("urgency", json!("high")),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "unknown_field",
        Some("urgency"),
    )
    .await;
    // Three emoji are three characters.
    let res = app
        .post(
            "/v1/support/tickets",
            &tenant.key,
            with("subject", json!("🔥🔥🔥")),
        )
        .await;
    expect_status(res, StatusCode::OK).await;

    let list = expect_status(
        app.get("/v1/support/tickets", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 1, "only the valid ticket was saved");
    let me = expect_status(app.get("/v1/auth/me", &tenant.key).await, StatusCode::OK).await;
    assert_eq!(me["balance_cents"], 99, "only the valid ticket was charged");

    let id = id_of(&list["data"][0]);
    let res = app
        .post(
            &format!("/v1/support/tickets/{id}/messages"),
            &tenant.key,
            json!({"body": "   "}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("body"),
    )
    .await;
    let res = app
        .patch(
            &format!("/v1/support/tickets/{id}"),
            &tenant.key,
            json!({"status": "done"}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("status"),
    )
    .await;
}

async fn concurrent_replies_lose_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 100).await;
    let ticket = open_ticket(&app, &tenant, "Concurrency").await;
    let id = id_of(&ticket);
    let path = format!("/v1/support/tickets/{id}/messages");
    let replies =
        (0..100).map(|i| app.post(&path, &tenant.key, json!({"body": format!("reply {i}")})));
    for res in join_all(replies).await {
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let got = expect_status(
        app.get(&format!("/v1/support/tickets/{id}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["message_count"], 101);
    // The answer is bounded: the first 50 messages, and a link to the rest.
    assert_eq!(got["messages"].as_array().map(Vec::len), Some(50));
    let mut bodies: Vec<String> = got["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().expect("body").to_string())
        .collect();
    let mut next = got["messages_next"].as_str().map(str::to_string);
    assert_eq!(
        next.as_deref(),
        Some(format!("/v1/support/tickets/{id}/messages?offset=50&limit=50").as_str())
    );
    while let Some(path) = next.take() {
        let page = expect_status(app.get(&path, &tenant.key).await, StatusCode::OK).await;
        let data = page["data"].as_array().expect("data");
        bodies.extend(
            data.iter()
                .map(|m| m["body"].as_str().expect("body").to_string()),
        );
        let offset = page["offset"].as_u64().expect("offset") + data.len() as u64;
        if offset < page["total"].as_u64().expect("total") {
            next = Some(format!(
                "/v1/support/tickets/{id}/messages?offset={offset}&limit=50"
            ));
        }
    }
    assert_eq!(bodies.len(), 101);
    let unique: std::collections::HashSet<&String> = bodies.iter().collect();
    assert_eq!(unique.len(), 101);
    let events = expect_status(
        app.get(
            &format!("/v1/support/tickets/{id}/events?limit=200"),
            &tenant.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(events["total"], 101);
    let added = events["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "message_added")
        .count();
    assert_eq!(added, 100);
}

async fn cursor_walk_sees_each_ticket_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 1000).await;
    let mut originals = Vec::new();
    for i in 0..25 {
        originals.push(id_of(
            &open_ticket(&app, &tenant, &format!("Ticket {i}")).await,
        ));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/support/tickets?limit=10&cursor={c}"),
            None => "/v1/support/tickets?limit=10".to_string(),
        };
        let page = expect_status(app.get(&path, &tenant.key).await, StatusCode::OK).await;
        seen.extend(page["data"].as_array().expect("data").iter().map(id_of));
        pages += 1;
        if pages == 1 {
            for i in 0..3 {
                open_ticket(&app, &tenant, &format!("Inserted {i}")).await;
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut expected = originals.clone();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, each original exactly once");
    let res = app
        .get("/v1/support/tickets?cursor=bogus", &tenant.key)
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("cursor"),
    )
    .await;
}

async fn idempotent_creates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 100).await;
    let send = |key: &str, body: Value| {
        app.request(Method::POST, "/v1/support/tickets", Some(&tenant.key))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send("order-1", ticket_body("Same request"))
        .await
        .expect("send");
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = expect_status(first, StatusCode::OK).await;
    let again = send("order-1", ticket_body("Same request"))
        .await
        .expect("send");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again = expect_status(again, StatusCode::OK).await;
    assert_eq!(first, again, "the stored response is replayed");
    let other = send("order-1", ticket_body("Another request"))
        .await
        .expect("send");
    expect_error(other, StatusCode::CONFLICT, "idempotency_key_reused", None).await;
    let res = send(&"k".repeat(256), ticket_body("Long key"))
        .await
        .expect("send");
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("Idempotency-Key"),
    )
    .await;

    // Eight at once with one key: one ticket; the rest replay it or are told to wait.
    let parallel = (0..8).map(|_| send("burst-1", ticket_body("Parallel")));
    let mut ok = 0;
    for res in join_all(parallel).await {
        let res = res.expect("send");
        match res.status() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {
                expect_error(res, StatusCode::CONFLICT, "idempotency_in_progress", None).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 1);
    let list = expect_status(
        app.get("/v1/support/tickets", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 2, "one ticket per key");
    let me = expect_status(app.get("/v1/auth/me", &tenant.key).await, StatusCode::OK).await;
    assert_eq!(me["balance_cents"], 98, "charged once per key");

    // Keys are scoped to the tenant.
    let other_tenant = app.create_tenant("enterprise", 100).await;
    let res = app
        .request(Method::POST, "/v1/support/tickets", Some(&other_tenant.key))
        .header("Idempotency-Key", "order-1")
        .json(&ticket_body("Other tenant"))
        .send()
        .await
        .expect("send");
    assert!(res.headers().get("idempotent-replayed").is_none());
    expect_status(res, StatusCode::OK).await;
}

async fn other_tenants_tickets_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.create_tenant("enterprise", 100).await;
    let intruder = app.create_tenant("enterprise", 100).await;
    let id = id_of(&open_ticket(&app, &owner, "Private").await);
    let unknown = "tkt_0190b0f0a1b27c3d8e9f001122334455";
    for target in [id.as_str(), unknown, "tkt_nothex", "42"] {
        let base = format!("/v1/support/tickets/{target}");
        for res in [
            app.get(&base, &intruder.key).await,
            app.get(&format!("{base}/messages"), &intruder.key).await,
            app.get(&format!("{base}/events"), &intruder.key).await,
            app.post(
                &format!("{base}/messages"),
                &intruder.key,
                json!({"body": "hi"}),
            )
            .await,
            app.patch(&base, &intruder.key, json!({"status": "closed"}))
                .await,
        ] {
            expect_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
        }
    }
    let list = expect_status(
        app.get("/v1/support/tickets", &intruder.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 0);
    let got = expect_status(
        app.get(&format!("/v1/support/tickets/{id}"), &owner.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["status"], "open", "the intruder changed nothing");
    assert_eq!(got["message_count"], 1);
}

async fn sla_snapshot_per_plan(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let free = app.create_tenant("free", 100).await;
    let t = open_ticket(&app, &free, "Free plan").await;
    assert_eq!(t["sla"]["tier"], "community");
    assert_eq!(
        t["sla"]["first_response_target"],
        "Best effort, community support"
    );
    assert!(t["sla"]["first_response_due_at"].is_null());
    assert_eq!(t["sla"]["breached"], false);

    // A later plan change does not touch the open ticket's SLA.
    let res = app
        .patch(
            &format!("/admin/tenants/{}", free.id),
            &app.admin_token,
            json!({"plan": "pilot"}),
        )
        .await;
    expect_status(res, StatusCode::OK).await;
    let again = expect_status(
        app.get(&format!("/v1/support/tickets/{}", id_of(&t)), &free.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["sla"]["tier"], "community");
    let newer = open_ticket(&app, &free, "Pilot plan").await;
    assert_eq!(newer["sla"]["tier"], "priority");
    assert_eq!(newer["sla"]["first_response_target"], "4 business hours");
    assert!(newer["sla"]["first_response_due_at"].is_string());
}
