//! SLA alerts: `support.sla_warning` at 80 % of the first-response window and
//! `support.sla_breached` at the due time, once each, to the feed, subscribed webhooks and
//! the ops webhook; none for a ticket answered in time; and they survive a restart. The
//! tests shorten an SLA hour to a second on a round-the-clock calendar, so the `pilot`
//! plan's 4 business hours are 4 seconds (warning after 3.2).
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestTenant, expect_status};
use crate::on_both_backends;
use crate::support::eventually;
use crate::support::receiver::FakeServer;
use crate::tickets::open_ticket;

on_both_backends!(
    warning_then_breach_fire_once_each_everywhere,
    a_ticket_answered_in_time_fires_nothing,
    alerts_survive_a_restart,
);

const WARNING: &str = "support.sla_warning";
const BREACHED: &str = "support.sla_breached";
const WAIT: Duration = Duration::from_secs(20);

fn fast_sla() -> Vec<(&'static str, &'static str)> {
    vec![
        ("HELPLINE_BUSINESS_HOURS", "Mon-Sun 00:00-24:00 UTC"),
        ("HELPLINE_SLA_HOUR", "1s"),
    ]
}

/// The tenant's feed events of `kinds` about `ticket_id`, in feed order.
async fn alerts(app: &TestApp, tenant: &TestTenant, ticket_id: &str) -> Vec<Value> {
    let page = expect_status(
        app.get("/v1/events?after=0&limit=200", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|e| e["type"] == WARNING || e["type"] == BREACHED)
        .filter(|e| e["data"]["ticket_id"] == ticket_id)
        .cloned()
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect()
}

async fn until_breached(app: &TestApp, tenant: &TestTenant, ticket_id: &str) -> Vec<Value> {
    eventually("the SLA breach", WAIT, || async {
        let seen = alerts(app, tenant, ticket_id).await;
        seen.iter().any(|e| e["type"] == BREACHED).then_some(seen)
    })
    .await
}

async fn warning_then_breach_fire_once_each_everywhere(backend: Backend) {
    let ops = FakeServer::start().await;
    let receiver = FakeServer::start().await;
    let secret = workers::signing::new_secret();
    let mut overrides = fast_sla();
    overrides.push(("HELPLINE_OPS_WEBHOOK_URL", &ops.url));
    overrides.push(("HELPLINE_OPS_WEBHOOK_SECRET", &secret));
    let app = TestApp::spawn_with(backend, &overrides).await;
    let tenant = app.create_tenant("pilot", 1000).await;
    let res = app
        .post(
            "/v1/webhooks",
            &tenant.key,
            json!({"url": receiver.url, "events": [WARNING, BREACHED]}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let ticket = open_ticket(&app, &tenant, "Nobody answers").await;
    let id = ticket["id"].as_str().expect("id");
    let due: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(ticket["sla"]["first_response_due_at"].clone()).expect("due");
    let created: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(ticket["created_at"].clone()).expect("created_at");
    assert_eq!(
        (due - created).num_milliseconds(),
        4000,
        "4 SLA hours of 1s"
    );

    let seen = until_breached(&app, &tenant, id).await;
    assert_eq!(
        kinds(&seen),
        [WARNING, BREACHED],
        "warning first, once each"
    );
    let warned_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(seen[0]["created_at"].clone()).expect("warning time");
    assert!(
        warned_at >= created + chrono::Duration::milliseconds(3200),
        "the warning waits for 80 % of the window: {warned_at} vs {created}"
    );
    let breached_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(seen[1]["created_at"].clone()).expect("breach time");
    assert!(breached_at >= due, "the breach waits for the due time");
    assert_eq!(
        seen[1]["data"]["first_response_due_at"],
        ticket["sla"]["first_response_due_at"]
    );
    assert_eq!(seen[1]["data"]["ticket"]["sla"]["breached"], true);

    // Ops see the fired alerts in the `sla` queue.
    let queues = expect_status(
        app.get("/admin/queues", &app.admin_token).await,
        StatusCode::OK,
    )
    .await;
    let sla = queues["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["name"] == "sla")
        .expect("the sla queue")
        .clone();
    assert_eq!(sla["done"], 2, "{sla}");
    let done = expect_status(
        app.get("/admin/queues/sla/jobs?state=done", &app.admin_token)
            .await,
        StatusCode::OK,
    )
    .await;
    let mut ids: Vec<&str> = done["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, [format!("{id}:breached"), format!("{id}:warning")]);

    // The subscribed endpoint gets exactly the two alerts; the ops webhook gets them too.
    let delivered = receiver.wait_for(2, WAIT).await;
    let mut types: Vec<String> = delivered
        .iter()
        .map(|r| r.json()["type"].as_str().expect("type").to_string())
        .collect();
    types.sort();
    assert_eq!(types, [BREACHED, WARNING]);
    eventually("the ops webhook's alerts", WAIT, || async {
        let ops_alerts = ops
            .requests()
            .iter()
            .filter(|r| {
                let body = r.json();
                (body["type"] == WARNING || body["type"] == BREACHED)
                    && body["data"]["ticket_id"] == id
            })
            .count();
        (ops_alerts == 2).then_some(())
    })
    .await;

    // The operator's timeline records both; nothing fires again later.
    let transcript = expect_status(
        app.get(&format!("/admin/support/tickets/{id}"), &app.admin_token)
            .await,
        StatusCode::OK,
    )
    .await;
    let timeline: Vec<&str> = transcript["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .filter(|k| k.starts_with("sla_"))
        .collect();
    assert_eq!(timeline, ["sla_warning", "sla_breached"]);
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(kinds(&alerts(&app, &tenant, id).await), [WARNING, BREACHED]);
    assert_eq!(receiver.requests().len(), 2);

    // A second run of the same job (a duplicate delivery, a second worker) fires nothing.
    let ticket_uuid = id
        .parse::<helpline::domain::ids::TicketId>()
        .expect("ticket id")
        .uuid();
    for alert in [
        workers::jobs::SlaAlert::Warning,
        workers::jobs::SlaAlert::Breached,
    ] {
        let job = workers::jobs::SlaJob {
            ticket_id: ticket_uuid,
            alert,
            failures: 0,
        };
        let fired = helpline::sla::fire(&app.state.db, &app.state.config, job, chrono::Utc::now())
            .await
            .expect("fire");
        assert!(fired.is_empty(), "{alert:?} fired twice");
    }
    assert_eq!(kinds(&alerts(&app, &tenant, id).await), [WARNING, BREACHED]);
}

async fn a_ticket_answered_in_time_fires_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, &fast_sla()).await;
    let tenant = app.create_tenant("pilot", 1000).await;
    let answered = open_ticket(&app, &tenant, "Answered at once").await;
    let answered_id = answered["id"].as_str().expect("id");
    let closed = open_ticket(&app, &tenant, "Closed at once").await;
    let closed_id = closed["id"].as_str().expect("id");
    let control = open_ticket(&app, &tenant, "Left alone").await;
    let control_id = control["id"].as_str().expect("id");
    let res = app
        .post(
            &format!("/admin/support/tickets/{answered_id}/reply"),
            &app.admin_token,
            json!({"body": "On it."}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let res = app
        .patch(
            &format!("/admin/support/tickets/{closed_id}"),
            &app.admin_token,
            json!({"status": "closed"}),
        )
        .await;
    expect_status(res, StatusCode::OK).await;

    // The control ticket, due at the same time, shows the jobs ran.
    until_breached(&app, &tenant, control_id).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert!(alerts(&app, &tenant, answered_id).await.is_empty());
    assert!(alerts(&app, &tenant, closed_id).await.is_empty());
}

async fn alerts_survive_a_restart(backend: Backend) {
    let mut overrides = fast_sla();
    // A slower clock: the node is gone well before the warning is due.
    overrides.retain(|(k, _)| *k != "HELPLINE_SLA_HOUR");
    overrides.push(("HELPLINE_SLA_HOUR", "2s"));
    let first = TestApp::spawn_with(backend, &overrides).await;
    let tenant = first.create_tenant("pilot", 1000).await;
    let ticket = open_ticket(&first, &tenant, "Asked before a restart").await;
    let id = ticket["id"].as_str().expect("id").to_string();
    first.stop().await;

    let second = first
        .another_node(&overrides_for_restart(backend, &overrides))
        .await;
    let seen = until_breached(&second, &tenant, &id).await;
    assert_eq!(kinds(&seen), [WARNING, BREACHED]);
}

/// The restarted node runs as the first did (PostgreSQL with Redis for jobs).
fn overrides_for_restart<'a>(
    backend: Backend,
    overrides: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut all = overrides.to_vec();
    if backend == Backend::Postgres {
        all.push(("REDIS_URL", crate::helpers::REDIS_URL));
    }
    all
}
