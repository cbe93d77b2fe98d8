//! docs/API.md §4 billing and bounty, §6 notifications, §7 inbox and status banner.
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;
use crate::tickets::{open_ticket, ticket_body};

on_both_backends!(
    three_cents_buy_three_tickets,
    parallel_creates_never_overdraw,
    parallel_creates_on_two_nodes_never_overdraw,
    parallel_creates_of_several_tenants_each_pay_their_own,
    bounty_is_credited_once,
    notifications_feed,
    status_banner,
    ledger_and_spend,
    operator_inbox_order,
);

async fn balance(app: &TestApp, tenant: &TestTenant) -> i64 {
    let body = expect_status(
        app.get("/v1/billing/balance", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["currency"], "usd");
    body["balance_cents"].as_i64().expect("balance")
}

async fn ledger_sum(app: &TestApp, tenant: &TestTenant) -> i64 {
    let body = expect_status(
        app.get("/v1/billing/ledger?limit=200", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    body["data"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["amount_cents"].as_i64().expect("amount"))
        .sum()
}

async fn ticket_count(app: &TestApp, tenant: &TestTenant) -> u64 {
    let body = expect_status(
        app.get("/v1/support/tickets", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    body["total"].as_u64().expect("total")
}

async fn three_cents_buy_three_tickets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 3).await;
    for i in 0..3 {
        open_ticket(&app, &tenant, &format!("Paid {i}")).await;
    }
    let res = app
        .post(
            "/v1/support/tickets",
            &tenant.key,
            ticket_body("One too many"),
        )
        .await;
    expect_error(
        res,
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_credits",
        Some("tenant_balance_exhausted"),
    )
    .await;
    assert_eq!(
        ticket_count(&app, &tenant).await,
        3,
        "nothing saved for the refused ticket"
    );
    assert_eq!(balance(&app, &tenant).await, 0);
    assert_eq!(ledger_sum(&app, &tenant).await, 0);
    // Replies stay free at a zero balance.
    let list = expect_status(
        app.get("/v1/support/tickets", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    let id = list["data"][0]["id"].as_str().expect("id").to_string();
    let res = app
        .post(
            &format!("/v1/support/tickets/{id}/messages"),
            &tenant.key,
            json!({"body": "free reply"}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    assert_eq!(balance(&app, &tenant).await, 0);
}

async fn race(nodes: &[&TestApp], tenant: &TestTenant, attempts: usize) -> (usize, usize) {
    let requests = (0..attempts).map(|i| {
        let node = nodes[i % nodes.len()];
        node.post(
            "/v1/support/tickets",
            &tenant.key,
            ticket_body(&format!("Race {i}")),
        )
    });
    let (mut ok, mut refused) = (0, 0);
    for res in join_all(requests).await {
        match res.status() {
            StatusCode::OK => ok += 1,
            StatusCode::PAYMENT_REQUIRED => refused += 1,
            other => panic!(
                "unexpected status {other}: {}",
                res.text().await.unwrap_or_default()
            ),
        }
    }
    (ok, refused)
}

async fn parallel_creates_never_overdraw(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 20).await;
    assert_eq!(race(&[&app], &tenant, 50).await, (20, 30));
    assert_eq!(ticket_count(&app, &tenant).await, 20);
    assert_eq!(balance(&app, &tenant).await, 0);
    assert_eq!(ledger_sum(&app, &tenant).await, 0);
    // Creates share transactions (group commit), yet each fee is its own entry with the
    // balance it left: 19, 18, … 0, each for a different ticket.
    let ledger = expect_status(
        app.get("/v1/billing/ledger?limit=200", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    let fees: Vec<&Value> = ledger["data"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["kind"] == "ticket_fee")
        .collect();
    let mut after: Vec<i64> = fees
        .iter()
        .map(|e| e["balance_after_cents"].as_i64().expect("balance after"))
        .collect();
    after.sort_unstable();
    assert_eq!(after, (0..20).collect::<Vec<i64>>());
    let tickets: std::collections::HashSet<&str> = fees
        .iter()
        .map(|e| e["ticket_id"].as_str().expect("ticket"))
        .collect();
    assert_eq!(tickets.len(), 20);
}

/// Creates of several tenants at once (on SQLite written together, a savepoint per tenant):
/// each tenant's balance pays for its own tickets only, and one that cannot pay for any
/// does not fail the others.
async fn parallel_creates_of_several_tenants_each_pay_their_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tenants = Vec::new();
    for balance in [5, 0, 12, 30] {
        tenants.push((app.create_tenant("enterprise", balance).await, balance));
    }
    let attempts = 15;
    let node = [&app];
    let races = tenants
        .iter()
        .map(|(tenant, _)| race(&node, tenant, attempts));
    let outcomes = join_all(races).await;
    for ((tenant, paid), outcome) in tenants.iter().zip(outcomes) {
        let opened = (*paid as usize).min(attempts);
        assert_eq!(outcome, (opened, attempts - opened));
        assert_eq!(ticket_count(&app, tenant).await, opened as u64);
        assert_eq!(balance(&app, tenant).await, paid - opened as i64);
        assert_eq!(ledger_sum(&app, tenant).await, paid - opened as i64);
    }
}

async fn parallel_creates_on_two_nodes_never_overdraw(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let second = app.another_node(&[]).await;
    let tenant = app.create_tenant("enterprise", 20).await;
    assert_eq!(race(&[&app, &second], &tenant, 50).await, (20, 30));
    assert_eq!(ticket_count(&app, &tenant).await, 20);
    assert_eq!(balance(&second, &tenant).await, 0);
    assert_eq!(ledger_sum(&app, &tenant).await, 0);
}

async fn bounty_is_credited_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("base", 10).await;
    let mut bug = ticket_body("Crash in SDK");
    bug["category"] = json!("bug");
    let bug = expect_status(
        app.post("/v1/support/tickets", &tenant.key, bug).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        bug["ticket"]["bounty"],
        json!({"eligible": true, "status": "none", "amount_cents": 0})
    );
    let id = bug["ticket"]["id"].as_str().expect("id").to_string();
    let path = format!("/admin/support/tickets/{id}/bounty");

    let attempts = (0..5).map(|_| {
        app.request(Method::POST, &path, Some(&app.admin_token))
            .send()
    });
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("send").status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        4
    );
    let res = app
        .request(Method::POST, &path, Some(&app.admin_token))
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::CONFLICT, "bounty_already_awarded", None).await;

    let got = expect_status(
        app.get(&format!("/v1/support/tickets/{id}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        got["bounty"],
        json!({"eligible": true, "status": "awarded", "amount_cents": 100})
    );
    assert_eq!(balance(&app, &tenant).await, 10 - 1 + 100);
    assert_eq!(ledger_sum(&app, &tenant).await, 109);
    let events = expect_status(
        app.get(&format!("/v1/support/tickets/{id}/events"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        events["data"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["type"] == "bounty_awarded")
    );

    let plain = open_ticket(&app, &tenant, "Not a bug").await;
    let res = app
        .request(
            Method::POST,
            &format!(
                "/admin/support/tickets/{}/bounty",
                plain["id"].as_str().expect("id")
            ),
            Some(&app.admin_token),
        )
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::CONFLICT, "not_bounty_eligible", None).await;
}

async fn notifications_feed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("base", 11).await;
    let admin = app.admin_token.clone();
    // 11 → 10 is not below 10 × fee; 10 → 9 is.
    let first = open_ticket(&app, &tenant, "First").await;
    let id = first["id"].as_str().expect("id").to_string();
    let feed = expect_status(
        app.get("/v1/notifications", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(feed["total"], 0);
    open_ticket(&app, &tenant, "Second").await;
    open_ticket(&app, &tenant, "Third").await;

    expect_status(
        app.post(
            &format!("/admin/support/tickets/{id}/reply"),
            &admin,
            json!({"body": "internal", "internal": true}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post(
            &format!("/admin/support/tickets/{id}/reply"),
            &admin,
            json!({"body": "We fixed it"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.patch(
            &format!("/admin/support/tickets/{id}"),
            &admin,
            json!({"status": "resolved"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    // The tenant's own status change is not notified back to it.
    expect_status(
        app.patch(
            &format!("/v1/support/tickets/{id}"),
            &tenant.key,
            json!({"status": "closed"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    let feed = expect_status(
        app.get("/v1/notifications", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    let kinds: Vec<&str> = feed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["status_changed", "operator_reply", "low_balance"],
        "newest first"
    );
    assert_eq!(feed["unread_count"], 3);
    let reply = &feed["data"][1];
    assert_eq!(reply["body"], "We fixed it");
    assert_eq!(reply["ticket_id"], id.as_str());
    assert!(reply["id"].as_str().is_some_and(|n| n.starts_with("ntf_")));

    let ntf = reply["id"].as_str().expect("id").to_string();
    let read = expect_status(
        app.request(
            Method::PUT,
            &format!("/v1/notifications/{ntf}/read"),
            Some(&tenant.key),
        )
        .send()
        .await
        .expect("send"),
        StatusCode::OK,
    )
    .await;
    assert!(read["read_at"].is_string());
    let unread = expect_status(
        app.get("/v1/notifications?unread=true", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (unread["total"].as_u64(), unread["unread_count"].as_u64()),
        (Some(2), Some(2))
    );
    expect_status(
        app.request(Method::PUT, "/v1/notifications/read-all", Some(&tenant.key))
            .send()
            .await
            .expect("send"),
        StatusCode::OK,
    )
    .await;
    let feed = expect_status(
        app.get("/v1/notifications", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(feed["unread_count"], 0);

    // Another tenant cannot mark it.
    let other = app.create_tenant("base", 5).await;
    let res = app
        .request(
            Method::PUT,
            &format!("/v1/notifications/{ntf}/read"),
            Some(&other.key),
        )
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::NOT_FOUND, "not_found", None).await;

    // Preferences: defaults, partial update, and in-app off stops new notifications.
    let prefs = expect_status(
        app.get("/v1/notifications/preferences", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        prefs,
        json!({"in_app": true, "email_on_operator_reply": true, "email_on_status_change": true})
    );
    let put = app
        .request(
            Method::PUT,
            "/v1/notifications/preferences",
            Some(&tenant.key),
        )
        .json(&json!({"in_app": false}))
        .send()
        .await
        .expect("send");
    let prefs = expect_status(put, StatusCode::OK).await;
    assert_eq!(
        prefs,
        json!({"in_app": false, "email_on_operator_reply": true, "email_on_status_change": true})
    );
    let put = app
        .request(
            Method::PUT,
            "/v1/notifications/preferences",
            Some(&tenant.key),
        )
        .json(&json!({"in_app": "no"}))
        .send()
        .await
        .expect("send");
    expect_error(
        put,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("in_app"),
    )
    .await;
    let second = open_ticket(&app, &tenant, "Quiet").await;
    let sid = second["id"].as_str().expect("id");
    expect_status(
        app.post(
            &format!("/admin/support/tickets/{sid}/reply"),
            &admin,
            json!({"body": "hello"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let feed = expect_status(
        app.get("/v1/notifications", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(feed["total"], 3);
}

async fn status_banner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let second = app.another_node(&[]).await;
    let get = |node: &TestApp| node.request(Method::GET, "/v1/support/status", None).send();
    let banner = expect_status(get(&app).await.expect("send"), StatusCode::OK).await;
    assert_eq!(banner["status"], "operational");
    expect_status(get(&second).await.expect("send"), StatusCode::OK).await;

    let put = |body: Value| {
        app.request(Method::PUT, "/admin/support/status", Some(&app.admin_token))
            .json(&body)
            .send()
    };
    expect_error(
        put(json!({"status": "on fire"})).await.expect("send"),
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("status"),
    )
    .await;
    let tenant = app.create_tenant("free", 0).await;
    let res = app
        .request(Method::PUT, "/admin/support/status", Some(&tenant.key))
        .json(&json!({"status": "outage"}))
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::FORBIDDEN, "forbidden", None).await;

    let set = expect_status(
        put(json!({"status": "degraded", "message": "Elevated latency"}))
            .await
            .expect("send"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(set["status"], "degraded");
    let changed_at = Instant::now();
    loop {
        let seen = expect_status(get(&second).await.expect("send"), StatusCode::OK).await;
        if seen["status"] == "degraded" {
            assert_eq!(seen["message"], "Elevated latency");
            break;
        }
        assert!(
            changed_at.elapsed() < Duration::from_secs(1),
            "the other node saw the change within 1 s"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ledger_and_spend(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 50).await;
    for i in 0..5 {
        open_ticket(&app, &tenant, &format!("Spend {i}")).await;
    }
    let credit = app
        .post(
            &format!("/admin/tenants/{}/credits", tenant.id),
            &app.admin_token,
            json!({"amount_cents": 7}),
        )
        .await;
    expect_status(credit, StatusCode::CREATED).await;

    let mut seen = Vec::new();
    let mut path = "/v1/billing/ledger?limit=3".to_string();
    loop {
        let page = expect_status(app.get(&path, &tenant.key).await, StatusCode::OK).await;
        assert_eq!(page["total"], 7);
        seen.extend(
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|e| e["kind"].as_str().expect("kind").to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/billing/ledger?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(
        seen.first().map(String::as_str),
        Some("top_up"),
        "newest first: the credit"
    );
    assert_eq!(
        seen.last().map(String::as_str),
        Some("top_up"),
        "oldest: the opening balance"
    );
    assert_eq!(seen.iter().filter(|k| *k == "ticket_fee").count(), 5);
    assert_eq!(
        ledger_sum(&app, &tenant).await,
        balance(&app, &tenant).await
    );

    let today = chrono::Utc::now().date_naive().to_string();
    let spend = expect_status(
        app.get(
            &format!("/v1/analytics/spend?from={today}&to={today}"),
            &tenant.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(spend["spent_cents"], 5);
    assert_eq!(spend["by_kind"]["ticket_fee"], -5);
    assert_eq!(spend["by_kind"]["top_up"], 57);
    assert_eq!(spend["by_day"][0]["date"], today.as_str());
    for bad in [
        "from=yesterday",
        "from=2026-02-30",
        "to=2020-01-01&from=2021-01-01",
    ] {
        let res = app
            .get(&format!("/v1/analytics/spend?{bad}"), &tenant.key)
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "validation_failed", None).await;
    }
}

async fn operator_inbox_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let free = app.create_tenant("free", 100).await;
    let pilot = app.create_tenant("pilot", 100).await;
    let body = |subject: &str, priority: &str| {
        let mut b = ticket_body(subject);
        b["priority"] = json!(priority);
        b
    };
    for (tenant, subject, priority) in [
        (&free, "free-urgent", "urgent"),
        (&pilot, "pilot-low", "low"),
        (&pilot, "pilot-urgent", "urgent"),
        (&free, "free-low", "low"),
        (&pilot, "pilot-urgent-2", "urgent"),
    ] {
        expect_status(
            app.post("/v1/support/tickets", &tenant.key, body(subject, priority))
                .await,
            StatusCode::OK,
        )
        .await;
    }
    let inbox = expect_status(
        app.get("/admin/support/tickets", &app.admin_token).await,
        StatusCode::OK,
    )
    .await;
    let order: Vec<&str> = inbox["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|t| t["subject"].as_str())
        .collect();
    assert_eq!(
        order,
        [
            "pilot-urgent",
            "pilot-urgent-2",
            "pilot-low",
            "free-urgent",
            "free-low"
        ]
    );
    assert_eq!(inbox["data"][0]["tenant_id"], pilot.id.as_str());

    let only = expect_status(
        app.get(
            &format!("/admin/support/tickets?tenant_id={}&priority=low", free.id),
            &app.admin_token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(only["total"], 1);
    let not_breached = expect_status(
        app.get("/admin/support/tickets?breached=false", &app.admin_token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(not_breached["total"], 5);
    // Move one ticket's deadline into the past: it is now breached.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    entities::tickets::Entity::update_many()
        .col_expr(
            entities::tickets::Column::FirstResponseDueAt,
            Expr::value(past),
        )
        .filter(entities::tickets::Column::Subject.eq("pilot-low"))
        .exec(&app.state.db)
        .await
        .expect("update");
    let breached = expect_status(
        app.get("/admin/support/tickets?breached=true", &app.admin_token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(breached["total"], 1);
    assert_eq!(breached["data"][0]["subject"], "pilot-low");
    assert_eq!(breached["data"][0]["sla"]["breached"], true);
    let not_breached = expect_status(
        app.get("/admin/support/tickets?breached=false", &app.admin_token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(not_breached["total"], 4);
    let res = app
        .get("/admin/support/tickets?breached=maybe", &app.admin_token)
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("breached"),
    )
    .await;
}
