//! docs/API.md §4 email, §5 webhooks, §9 erasure, §10 jobs: on the SQLite queue (SQLite database) and
//! on Redis (PostgreSQL database), with local servers standing in for Resend and receivers.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;
use crate::support::eventually;
use crate::support::receiver::FakeServer;
use crate::tickets::{open_ticket, ticket_body};

on_both_backends!(
    email_retries_with_one_idempotency_key,
    email_rejected_fails_at_once,
    webhooks_are_signed_and_retried_with_one_id,
    dead_deliveries_are_visible_and_replayable,
    gone_disables_the_endpoint,
    billing_settles_each_entry_once,
    ops_webhook_receives_every_tenant,
    erasure_removes_personal_data,
    webhook_urls_are_checked,
    lost_jobs_are_recovered,
);

const WAIT: Duration = Duration::from_secs(20);

async fn ticket(app: &TestApp, tenant: &TestTenant, id: &str) -> Value {
    expect_status(
        app.get(&format!("/v1/support/tickets/{id}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await
}

async fn email_retries_with_one_idempotency_key(backend: Backend) {
    let resend = FakeServer::start().await;
    resend.respond(&[500, 503, 200]);
    let app = TestApp::spawn_with(
        backend,
        &[
            ("RESEND_API_KEY", "re_test_123"),
            ("RESEND_BASE_URL", &resend.url),
            ("HELPLINE_SUPPORT_INBOX", "support@helpline.test"),
        ],
    )
    .await;
    let tenant = app.create_tenant("pilot", 100).await;
    let mut body = ticket_body("Calls drop");
    body["contact_email"] = json!("alice@acme.test");
    let created = expect_status(
        app.post("/v1/support/tickets", &tenant.key, body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(created["email_delivered"], Value::Null, "queued");
    assert_eq!(created["ticket"]["email"]["status"], "queued");
    let id = created["ticket"]["id"].as_str().expect("id").to_string();

    let sent = resend.wait_for(3, WAIT).await;
    let keys: Vec<_> = sent
        .iter()
        .map(|r| r.header("idempotency-key").expect("key").to_string())
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one idempotency key: {keys:?}"
    );
    let first = &sent[0];
    assert_eq!(first.path, "/emails");
    assert_eq!(first.header("authorization"), Some("Bearer re_test_123"));
    let email = first.json();
    assert_eq!(email["to"], json!(["support@helpline.test"]));
    assert_eq!(email["reply_to"], "alice@acme.test");
    assert_eq!(
        email["subject"],
        format!("[api_sdk/high] Calls drop ({id})")
    );
    assert!(
        email["text"]
            .as_str()
            .is_some_and(|t| t.contains("The SDK times out"))
    );

    eventually("email delivered", WAIT, || async {
        let t = ticket(&app, &tenant, &id).await;
        (t["email"]["status"] == "delivered").then_some(())
    })
    .await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(resend.requests().len(), 3, "no extra sends after delivery");
}

async fn email_rejected_fails_at_once(backend: Backend) {
    let resend = FakeServer::start().await;
    resend.respond(&[422]);
    let app = TestApp::spawn_with(
        backend,
        &[
            ("RESEND_API_KEY", "re_test"),
            ("RESEND_BASE_URL", &resend.url),
        ],
    )
    .await;
    let tenant = app.create_tenant("pilot", 100).await;
    let id = open_ticket(&app, &tenant, "Bad address").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let email = eventually("email failed", WAIT, || async {
        let t = ticket(&app, &tenant, &id).await;
        (t["email"]["status"] == "failed").then(|| t["email"].clone())
    })
    .await;
    assert!(
        email["reason"].as_str().is_some_and(|r| r.contains("422")),
        "{email}"
    );
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(resend.requests().len(), 1, "a 4xx is not retried");
}

async fn create_endpoint(
    app: &TestApp,
    tenant: &TestTenant,
    url: &str,
    events: Value,
) -> (String, String) {
    let res = app
        .post(
            "/v1/webhooks",
            &tenant.key,
            json!({"url": url, "events": events, "description": "test"}),
        )
        .await;
    let created = expect_status(res, StatusCode::CREATED).await;
    let id = created["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("whk_"));
    (
        id,
        created["secret"]
            .as_str()
            .expect("secret shown once")
            .to_string(),
    )
}

const FAST_SCHEDULE: (&str, &str) = ("HELPLINE_WEBHOOK_RETRY_SCHEDULE", "0s,200ms,200ms");

async fn webhooks_are_signed_and_retried_with_one_id(backend: Backend) {
    let receiver = FakeServer::start().await;
    receiver.respond(&[500, 500, 200]);
    let app = TestApp::spawn_with(backend, &[FAST_SCHEDULE]).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let (endpoint, secret) = create_endpoint(
        &app,
        &tenant,
        &receiver.url,
        json!(["support.ticket_created"]),
    )
    .await;
    assert!(secret.starts_with("whsec_"));
    let listed = expect_status(
        app.get(&format!("/v1/webhooks/{endpoint}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(listed.get("secret").is_none(), "the secret is shown once");

    let ticket_id = open_ticket(&app, &tenant, "Hook me").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let seen = receiver.wait_for(3, WAIT).await;
    let ids: Vec<&str> = seen
        .iter()
        .map(|r| r.header("webhook-id").expect("webhook-id"))
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0] && id.starts_with("evt_")),
        "{ids:?}"
    );
    for request in &seen {
        let ts: i64 = request
            .header("webhook-timestamp")
            .expect("timestamp")
            .parse()
            .expect("unix seconds");
        let signature = request.header("webhook-signature").expect("signature");
        assert!(
            workers::signing::verify(&secret, ids[0], ts, &request.body, signature),
            "signature verifies"
        );
    }
    let event = seen[0].json();
    assert_eq!(event["type"], "support.ticket_created");
    assert_eq!(event["id"], ids[0]);
    assert_eq!(event["tenant_id"], tenant.id.as_str());
    assert_eq!(event["data"]["ticket"]["id"], ticket_id.as_str());

    let delivery = eventually("delivery recorded", WAIT, || async {
        let list = expect_status(
            app.get(&format!("/v1/webhooks/{endpoint}/deliveries"), &tenant.key)
                .await,
            StatusCode::OK,
        )
        .await;
        (list["data"][0]["status"] == "delivered").then(|| list["data"][0].clone())
    })
    .await;
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["response_status"], 200);
    assert_eq!(delivery["event_id"], ids[0]);

    // A reply is not a subscribed event: nothing more arrives.
    let res = app
        .post(
            &format!("/v1/support/tickets/{ticket_id}/messages"),
            &tenant.key,
            json!({"body": "more"}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    // The test event reaches the endpoint whatever its filter.
    let res = app
        .request(
            Method::POST,
            &format!("/v1/webhooks/{endpoint}/test"),
            Some(&tenant.key),
        )
        .send()
        .await
        .expect("send");
    expect_status(res, StatusCode::ACCEPTED).await;
    let seen = receiver.wait_for(4, WAIT).await;
    assert_eq!(seen[3].json()["type"], "webhook.test");
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 4);
}

async fn dead_deliveries_are_visible_and_replayable(backend: Backend) {
    let receiver = FakeServer::start().await;
    receiver.always(500);
    let app = TestApp::spawn_with(backend, &[FAST_SCHEDULE]).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let (endpoint, _) = create_endpoint(&app, &tenant, &receiver.url, json!([])).await;
    open_ticket(&app, &tenant, "Doomed").await;
    receiver.wait_for(3, WAIT).await;
    let dead = eventually("delivery dead", WAIT, || async {
        let list = expect_status(
            app.get(&format!("/v1/webhooks/{endpoint}/deliveries"), &tenant.key)
                .await,
            StatusCode::OK,
        )
        .await;
        (list["data"][0]["status"] == "failed").then(|| list["data"][0].clone())
    })
    .await;
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["response_status"], 500);
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500"))
    );
    assert_eq!(
        receiver.requests().len(),
        3,
        "no attempt after the schedule ends"
    );

    let queues = expect_status(
        app.get("/admin/queues", &app.admin_token).await,
        StatusCode::OK,
    )
    .await;
    let webhook = queues["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["name"] == "webhook")
        .expect("webhook queue")
        .clone();
    assert_eq!(webhook["dead"], 1, "{queues}");
    let jobs = expect_status(
        app.get("/admin/queues/webhook/jobs?state=dead", &app.admin_token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(jobs["data"][0]["id"], dead["id"]);

    receiver.always(200);
    let retry = format!(
        "/admin/queues/webhook/jobs/{}/retry",
        dead["id"].as_str().expect("id")
    );
    expect_status(
        app.request(Method::POST, &retry, Some(&app.admin_token))
            .send()
            .await
            .expect("send"),
        StatusCode::ACCEPTED,
    )
    .await;
    eventually("replayed delivery delivered", WAIT, || async {
        let list = expect_status(
            app.get(&format!("/v1/webhooks/{endpoint}/deliveries"), &tenant.key)
                .await,
            StatusCode::OK,
        )
        .await;
        (list["data"][0]["status"] == "delivered").then_some(())
    })
    .await;
    assert_eq!(receiver.requests().len(), 4);
    let res = app
        .request(
            Method::POST,
            "/admin/queues/nope/jobs/x/retry",
            Some(&app.admin_token),
        )
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
}

async fn gone_disables_the_endpoint(backend: Backend) {
    let receiver = FakeServer::start().await;
    receiver.respond(&[410]);
    let app = TestApp::spawn_with(backend, &[FAST_SCHEDULE]).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let (endpoint, _) = create_endpoint(&app, &tenant, &receiver.url, json!([])).await;
    open_ticket(&app, &tenant, "Gone").await;
    let disabled = eventually("endpoint disabled", WAIT, || async {
        let e = expect_status(
            app.get(&format!("/v1/webhooks/{endpoint}"), &tenant.key)
                .await,
            StatusCode::OK,
        )
        .await;
        (e["enabled"] == false).then_some(e)
    })
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("410"))
    );
    open_ticket(&app, &tenant, "After gone").await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.requests().len(),
        1,
        "a disabled endpoint gets nothing"
    );
}

async fn billing_settles_each_entry_once(backend: Backend) {
    let billing = FakeServer::start().await;
    billing.respond(&[500]);
    let app = TestApp::spawn_with(backend, &[("HELPLINE_BILLING_URL", &billing.url)]).await;
    let tenant = app.create_tenant("pilot", 5).await;
    let id = open_ticket(&app, &tenant, "Charge me").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    eventually("charge settled", WAIT, || async {
        let t = ticket(&app, &tenant, &id).await;
        (t["charge"]["status"] == "settled").then_some(())
    })
    .await;
    let ledger = eventually("ledger settled", WAIT, || async {
        let l = expect_status(
            app.get("/v1/billing/ledger", &tenant.key).await,
            StatusCode::OK,
        )
        .await;
        l["data"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["status"] == "settled")
            .then_some(l)
    })
    .await;
    let entry_ids: Vec<&str> = ledger["data"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(entry_ids.len(), 2, "opening top-up and the fee");
    let reports = billing.requests();
    for entry in &entry_ids {
        let keys: Vec<_> = reports
            .iter()
            .filter(|r| r.header("idempotency-key") == Some(entry))
            .collect();
        assert!(!keys.is_empty(), "{entry} reported");
        assert!(keys.iter().all(|r| r.json()["id"] == *entry));
    }
    assert_eq!(
        reports.len(),
        3,
        "one refused report retried, each entry accepted once"
    );
}

async fn ops_webhook_receives_every_tenant(backend: Backend) {
    let ops = FakeServer::start().await;
    let secret = workers::signing::new_secret();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("HELPLINE_OPS_WEBHOOK_URL", &ops.url),
            ("HELPLINE_OPS_WEBHOOK_SECRET", &secret),
        ],
    )
    .await;
    let first = app.create_tenant("pilot", 10).await;
    let second = app.create_tenant("free", 10).await;
    open_ticket(&app, &first, "From first").await;
    open_ticket(&app, &second, "From second").await;
    let seen = ops.wait_for(2, WAIT).await;
    let mut tenants: Vec<String> = seen
        .iter()
        .map(|r| r.json()["tenant_id"].as_str().expect("tenant").to_string())
        .collect();
    tenants.sort();
    let mut expected = vec![first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(tenants, expected);
    for r in &seen {
        let ts: i64 = r
            .header("webhook-timestamp")
            .expect("ts")
            .parse()
            .expect("ts");
        assert!(workers::signing::verify(
            &secret,
            r.header("webhook-id").expect("id"),
            ts,
            &r.body,
            r.header("webhook-signature").expect("sig")
        ));
    }
}

async fn erasure_removes_personal_data(backend: Backend) {
    let resend = FakeServer::start().await;
    let app = TestApp::spawn_with(
        backend,
        &[
            ("RESEND_API_KEY", "re_test"),
            ("RESEND_BASE_URL", &resend.url),
        ],
    )
    .await;
    let tenant = app.create_tenant("pilot", 100).await;
    let bystander = app.create_tenant("pilot", 100).await;
    let secret_subject = "Zebra-unicorn outage";
    let secret_body = "My private phone is 555-0199, please call.";
    let mut body = ticket_body(secret_subject);
    body["description"] = json!(secret_body);
    body["contact_email"] = json!("carol.secret@acme.test");
    let id = expect_status(
        app.post("/v1/support/tickets", &tenant.key, body.clone())
            .await,
        StatusCode::OK,
    )
    .await["ticket"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    expect_status(
        app.post(
            &format!("/v1/support/tickets/{id}/messages"),
            &tenant.key,
            json!({"body": "Reply with secret 8812-xyz"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post(
            &format!("/admin/support/tickets/{id}/reply"),
            &app.admin_token,
            json!({"body": "Operator quotes 8812-xyz"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post("/v1/support/tickets", &bystander.key, body).await,
        StatusCode::OK,
    )
    .await;

    let none = expect_status(
        app.get("/v1/account/erasure", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(none["status"], "none");
    let res = app
        .request(Method::POST, "/v1/account/erasure", Some(&tenant.key))
        .send()
        .await
        .expect("send");
    let requested = expect_status(res, StatusCode::ACCEPTED).await;
    assert!(requested["requested_at"].is_string());
    eventually("erasure done", WAIT, || async {
        let e = expect_status(
            app.get("/v1/account/erasure", &tenant.key).await,
            StatusCode::OK,
        )
        .await;
        (e["status"] == "done").then_some(())
    })
    .await;

    let t = ticket(&app, &tenant, &id).await;
    assert_eq!(t["subject"], "[erased]");
    assert_eq!(t["description"], "[erased]");
    assert_eq!(t["contact_email"], "[erased]");
    assert!(
        t["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m["body"] == "[erased]")
    );
    assert_eq!(t["category"], "api_sdk", "categories stay");
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
            .any(|e| e["type"] == "erased")
    );
    let ledger = expect_status(
        app.get("/v1/billing/ledger", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ledger["total"], 2, "the ledger stays");

    // No personal string of the tenant remains anywhere in its API output or the database.
    let mut outputs = String::new();
    for path in [
        "/v1/support/tickets",
        "/v1/notifications",
        "/v1/account/export",
        &format!("/v1/support/tickets/{id}/messages"),
    ] {
        outputs.push_str(&app.get(path, &tenant.key).await.text().await.expect("body"));
    }
    let dump = crate::helpers::dump_tables(&app, &tenant.id).await;
    for secret in [
        secret_subject,
        secret_body,
        "carol.secret@acme.test",
        "8812-xyz",
    ] {
        assert!(!outputs.contains(secret), "{secret} in API output");
        assert!(!dump.contains(secret), "{secret} in the database");
    }
    // The bystander keeps its data.
    let list = expect_status(
        app.get("/v1/support/tickets", &bystander.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["data"][0]["subject"], secret_subject);
}

async fn webhook_urls_are_checked(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("HELPLINE_ALLOW_PRIVATE_TARGETS", "false")]).await;
    let tenant = app.create_tenant("pilot", 100).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let res = app
            .post("/v1/webhooks", &tenant.key, json!({"url": url}))
            .await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("url"),
        )
        .await;
    }
    let res = app
        .post(
            "/v1/webhooks",
            &tenant.key,
            json!({"url": "https://93.184.216.34/x", "events": ["ticket.exploded"]}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("events"),
    )
    .await;
    let list = expect_status(app.get("/v1/webhooks", &tenant.key).await, StatusCode::OK).await;
    assert_eq!(list["total"], 0, "nothing saved");

    // Endpoints are tenant-scoped: another tenant sees 404 on every route.
    let other = app.create_tenant("pilot", 100).await;
    let (id, _) = create_endpoint(&app, &tenant, "http://93.184.216.34/hook", json!([])).await;
    for res in [
        app.get(&format!("/v1/webhooks/{id}"), &other.key).await,
        app.patch(
            &format!("/v1/webhooks/{id}"),
            &other.key,
            json!({"enabled": false}),
        )
        .await,
        app.get(&format!("/v1/webhooks/{id}/deliveries"), &other.key)
            .await,
        app.request(
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            Some(&other.key),
        )
        .send()
        .await
        .expect("send"),
        app.delete(&format!("/v1/webhooks/{id}"), &other.key).await,
    ] {
        expect_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    }
    let rotated = expect_status(
        app.request(
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            Some(&tenant.key),
        )
        .send()
        .await
        .expect("send"),
        StatusCode::OK,
    )
    .await;
    assert!(
        rotated["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    // An empty patch changes nothing and is not an error.
    let res = app
        .patch(&format!("/v1/webhooks/{id}"), &tenant.key, json!({}))
        .await;
    expect_status(res, StatusCode::OK).await;
    let patched = expect_status(
        app.patch(
            &format!("/v1/webhooks/{id}"),
            &tenant.key,
            json!({"enabled": false, "events": ["support.bounty_awarded"]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (patched["enabled"].as_bool(), patched["events"].clone()),
        (Some(false), json!(["support.bounty_awarded"]))
    );
    expect_status(
        app.delete(&format!("/v1/webhooks/{id}"), &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        app.get(&format!("/v1/webhooks/{id}"), &tenant.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
}

/// Work whose job vanished (say, a queue flushed while a worker was killed) is found by the
/// recovery sweep and done.
async fn lost_jobs_are_recovered(backend: Backend) {
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let resend = FakeServer::start().await;
    let app = TestApp::spawn_with(
        backend,
        &[
            ("RESEND_API_KEY", "re_test"),
            ("RESEND_BASE_URL", &resend.url),
        ],
    )
    .await;
    let tenant = app.create_tenant("pilot", 100).await;
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let email_id = uuid::Uuid::now_v7();
    entities::emails::Entity::insert(entities::emails::ActiveModel {
        id: Set(email_id),
        tenant_id: Set(tenant.id.parse().expect("uuid")),
        ticket_id: Set(None),
        kind: Set(entities::values::EmailKind::NewTicket),
        to_addr: Set("support@localhost".into()),
        reply_to: Set(None),
        subject: Set("Orphaned email".into()),
        body_text: Set("Its job was lost.".into()),
        status: Set(entities::values::DeliveryStatus::Pending),
        attempts: Set(0),
        last_error: Set(None),
        provider_id: Set(None),
        next_attempt_at: Set(an_hour_ago),
        in_flight_until: Set(None),
        lease_owner: Set(None),
        created_at: Set(an_hour_ago),
        updated_at: Set(an_hour_ago),
    })
    .exec(&app.state.db)
    .await
    .expect("insert");
    let sent = resend.wait_for(1, WAIT).await;
    assert_eq!(sent[0].json()["subject"], "Orphaned email");
    assert_eq!(
        sent[0].header("idempotency-key"),
        Some(workers::email::idempotency_key(email_id).as_str())
    );
}

/// apalis-redis 1.0's fetch script promotes every due task with one Lua `unpack`, which fails
/// above ~8,000 values; the relay keeps each Redis queue below `REDIS_QUEUE_CAP`, so a
/// backlog of 9,000 jobs waits in the outbox and still drains.
#[actix_web::test]
async fn a_backlog_beyond_the_redis_script_limit_still_drains() {
    use chrono::Utc;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use workers::jobs::{BillingJob, Job, Queue};
    use workers::outbox::{Nudge, Relay, enqueue_many};
    use workers::transport::{Concurrency, REDIS_QUEUE_CAP, Transport};

    const BACKLOG: usize = 9_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::helpers::fresh_database(Backend::Postgres, &dir).await;
    let db = helpline::db::connect(&url, None).await.expect("connect");
    helpline::db::migrate(&db).await.expect("migrate");
    let prefix = format!("helpline-test-{}:", uuid::Uuid::new_v4().simple());
    let transport = Transport::redis(crate::helpers::REDIS_URL, &prefix)
        .await
        .expect("redis");
    let now = Utc::now();
    for _ in 0..BACKLOG / 1_000 {
        // Billing jobs for entries that do not exist: each is a no-op when it runs.
        let jobs = (0..1_000).map(|_| {
            let entry_id = uuid::Uuid::now_v7();
            (Job::Billing(BillingJob { entry_id }), now)
        });
        enqueue_many(&db, jobs, now).await.expect("enqueue");
    }
    let unsent = || async {
        entities::outbox::Entity::find()
            .filter(entities::outbox::Column::SentAt.is_null())
            .count(&db)
            .await
            .expect("count")
    };
    let waiting = || async {
        transport
            .counts(Queue::Billing)
            .await
            .expect("counts")
            .pending
    };
    let relay = || Relay {
        db: db.clone(),
        transport: transport.clone(),
        nudge: Nudge::default(),
        sweep_every: Duration::from_millis(50),
        recovery_grace: chrono::Duration::seconds(60),
    };

    // With no worker fetching, the queue fills to its cap and the rest stays in the outbox.
    while relay().pass(Utc::now()).await.expect("pass") > 0 {}
    assert_eq!(waiting().await, REDIS_QUEUE_CAP as u64);
    assert_eq!(unsent().await, (BACKLOG - REDIS_QUEUE_CAP) as u64);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = crate::helpers::test_config(&url, "hl_staff_unused", dir.path(), &[]);
    let settings = helpline::jobs::settings(&config);
    let tenants = helpline::tenants::registry::Registry::new(
        db.clone(),
        std::sync::Arc::new(config.clone()),
        Nudge::default(),
        helpline::feed::hub::FeedWake::default(),
        1,
    );
    let alerts = helpline::sla::Alerts::new(db.clone(), tenants);
    let deps =
        workers::deps::Deps::new(db.clone(), settings, Nudge::default(), alerts).expect("deps");
    let concurrency = Concurrency {
        webhook: config.webhook_concurrency,
        other: config.worker_concurrency,
    };
    let workers = tokio::spawn(
        transport
            .clone()
            .run_workers(deps, concurrency, stopped.clone()),
    );
    let mut relay_stop = stopped.clone();
    let relaying = tokio::spawn(relay().run(async move {
        let _ = relay_stop.wait_for(|stop| *stop).await;
    }));
    // What is asserted is that the backlog drains, not how fast: under a loaded machine the
    // no-op jobs run at a few dozen a second, so the wait fails only when nothing moves.
    const STALLED: Duration = Duration::from_secs(30);
    let mut left = unsent().await + waiting().await;
    let mut moved_at = std::time::Instant::now();
    while left > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now_left = unsent().await + waiting().await;
        if now_left < left {
            moved_at = std::time::Instant::now();
        }
        left = now_left;
        assert!(
            moved_at.elapsed() < STALLED,
            "the backlog stopped draining with {left} jobs left (no progress for {STALLED:?})"
        );
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        let _ = workers.await;
        let _ = relaying.await;
    })
    .await;
    let mut redis = redis::Client::open(crate::helpers::REDIS_URL)
        .expect("redis")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut redis)
        .await
        .expect("keys");
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut redis)
            .await
            .expect("del");
    }
    db.close().await.ok();
    crate::helpers::shutdown_all().await;
}
