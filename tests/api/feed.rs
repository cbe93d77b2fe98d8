//! The event feed: Server-Sent Events and JSON pages, resume, isolation, limits.
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;
use crate::sse::{Event, Sse};
use crate::tickets::open_ticket;

on_both_backends!(
    stream_receives_an_event_created_after_it_opened,
    resume_delivers_exactly_the_missed_events_in_order,
    tenants_never_see_each_others_events,
    internal_notes_reach_operators_only,
    regenerated_key_ends_its_stream,
    the_21st_stream_of_a_tenant_is_refused,
    positions_past_the_retention_reset,
    bad_positions_are_refused,
);

async fn tenant(app: &TestApp) -> TestTenant {
    app.create_tenant("enterprise", 10_000).await
}

fn ticket_id(event: &Event) -> &str {
    event.data["data"]["ticket"]["id"]
        .as_str()
        .expect("ticket id")
}

async fn page(app: &TestApp, path: &str, token: &str) -> Value {
    expect_status(app.get(path, token).await, StatusCode::OK).await
}

async fn stream_receives_an_event_created_after_it_opened(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = tenant(&app).await;
    let mut stream = Sse::open(&app.client, &app.url("/v1/events/stream"), &t.key, None).await;
    let ticket = open_ticket(&app, &t, "Calls drop").await;
    let event = stream.next().await;
    assert_eq!(event.kind, "support.ticket_created");
    assert_eq!(ticket_id(&event), ticket["id"]);
    // The webhook payload, with the event's position as the SSE id.
    assert_eq!(event.data["type"], "support.ticket_created");
    assert_eq!(event.data["tenant_id"], t.id);
    assert!(
        event.data["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("evt_"))
    );
    assert!(event.id > 0);

    let listed = page(&app, "/v1/events", &t.key).await;
    assert_eq!(listed["data"][0]["seq"], event.id);
    assert_eq!(listed["data"][0]["id"], event.data["id"]);
    assert_eq!(listed["next_after"], Value::Null);
}

async fn resume_delivers_exactly_the_missed_events_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = tenant(&app).await;
    let mut stream = Sse::open(&app.client, &app.url("/v1/events/stream"), &t.key, None).await;
    open_ticket(&app, &t, "First").await;
    let seen = stream.next().await;
    drop(stream);

    let mut missed = Vec::new();
    for subject in ["Second", "Third", "Fourth"] {
        missed.push(open_ticket(&app, &t, subject).await["id"].clone());
    }
    let res = app
        .post(
            &format!(
                "/v1/support/tickets/{}/messages",
                missed[0].as_str().expect("id")
            ),
            &t.key,
            json!({"body": "Any news?"}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;

    let mut resumed = Sse::open(
        &app.client,
        &app.url("/v1/events/stream"),
        &t.key,
        Some(seen.id),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(resumed.next().await);
    }
    let kinds: Vec<&str> = got.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "support.ticket_created",
            "support.ticket_created",
            "support.ticket_created",
            "support.message_created"
        ]
    );
    let created: Vec<&str> = got[..3].iter().map(ticket_id).collect();
    assert_eq!(
        created,
        missed
            .iter()
            .map(|v| v.as_str().expect("id"))
            .collect::<Vec<_>>()
    );
    assert!(got.windows(2).all(|w| w[0].id < w[1].id), "in order");
    assert!(got[0].id > seen.id);

    // Then live, with nothing repeated.
    let live = open_ticket(&app, &t, "Fifth").await;
    let next = resumed.next().await;
    assert_eq!(ticket_id(&next), live["id"]);
    assert!(next.id > got[3].id);

    // The query parameter resumes the same way, and the JSON pages agree.
    let path = format!("/v1/events/stream?last_event_id={}", seen.id);
    let mut by_query = Sse::open(&app.client, &app.url(&path), &t.key, None).await;
    assert_eq!(by_query.next().await.id, got[0].id);
    let listed = page(
        &app,
        &format!("/v1/events?after={}&limit=2", seen.id),
        &t.key,
    )
    .await;
    let seqs: Vec<i64> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, [got[0].id, got[1].id]);
    assert_eq!(listed["next_after"], got[1].id);
}

async fn tenants_never_see_each_others_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mine, theirs) = (tenant(&app).await, tenant(&app).await);
    let mut stream = Sse::open(&app.client, &app.url("/v1/events/stream"), &mine.key, None).await;
    let foreign = open_ticket(&app, &theirs, "Not yours").await;
    let own = open_ticket(&app, &mine, "Yours").await;
    let first = stream.next().await;
    assert_eq!(
        ticket_id(&first),
        own["id"],
        "the other tenant's event came first"
    );

    // Replay and pages hold only the tenant's own events too.
    let mut replay = Sse::open(
        &app.client,
        &app.url("/v1/events/stream"),
        &mine.key,
        Some(0),
    )
    .await;
    assert_eq!(ticket_id(&replay.next().await), own["id"]);
    let listed = page(&app, "/v1/events", &mine.key).await;
    let data = listed["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert!(data.iter().all(|e| e["tenant_id"] == mine.id));

    // Operators see both, and can narrow to one tenant.
    let all = page(&app, "/admin/events", &app.admin_token).await;
    let ids: Vec<&Value> = all["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| &e["data"]["ticket"]["id"])
        .collect();
    assert!(ids.contains(&&foreign["id"]) && ids.contains(&&own["id"]));
    let path = format!("/admin/events?tenant_id={}", theirs.id);
    let narrowed = page(&app, &path, &app.admin_token).await;
    assert!(
        narrowed["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|e| e["tenant_id"] == theirs.id)
    );
}

async fn internal_notes_reach_operators_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = tenant(&app).await;
    let ticket = open_ticket(&app, &t, "Calls drop").await;
    let id = ticket["id"].as_str().expect("id");
    let mut tenant_stream =
        Sse::open(&app.client, &app.url("/v1/events/stream"), &t.key, None).await;
    let mut ops_stream = Sse::open(
        &app.client,
        &app.url("/admin/events/stream"),
        &app.admin_token,
        None,
    )
    .await;
    let reply = format!("/admin/support/tickets/{id}/reply");
    let note = app
        .post(
            &reply,
            &app.admin_token,
            json!({"body": "Carrier X again", "internal": true}),
        )
        .await;
    expect_status(note, StatusCode::CREATED).await;
    let public = app
        .post(&reply, &app.admin_token, json!({"body": "We are on it."}))
        .await;
    expect_status(public, StatusCode::CREATED).await;

    let first = ops_stream.next().await;
    assert_eq!(first.kind, "support.message_created");
    assert_eq!(first.data["data"]["message"]["internal"], true);
    assert_eq!(first.data["data"]["message"]["body"], "Carrier X again");

    // The tenant's first event is the public reply's notification or message, never the note.
    let mut tenant_events = Vec::new();
    while tenant_events.len() < 3 {
        tenant_events.push(tenant_stream.next().await);
    }
    assert!(
        tenant_events
            .iter()
            .all(|e| e.data["data"]["message"]["internal"] != true),
        "{tenant_events:?}"
    );
    let kinds: Vec<&str> = tenant_events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"support.message_created"), "{kinds:?}");
    assert!(kinds.contains(&"notification.created"), "{kinds:?}");
    assert!(
        kinds.contains(&"support.ticket_status_changed"),
        "{kinds:?}"
    );
    let listed = page(&app, "/v1/events", &t.key).await;
    assert!(!listed.to_string().contains("Carrier X again"));
    let ops_listed = page(&app, "/admin/events", &app.admin_token).await;
    assert!(ops_listed.to_string().contains("Carrier X again"));
}

async fn regenerated_key_ends_its_stream(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = tenant(&app).await;
    let mut stream = Sse::open(&app.client, &app.url("/v1/events/stream"), &t.key, None).await;
    let res = app
        .request(
            reqwest::Method::POST,
            "/v1/auth/regenerate-key",
            Some(&t.key),
        )
        .send()
        .await
        .expect("regenerate");
    let fresh = expect_status(res, StatusCode::OK).await;
    let started = Instant::now();
    let ended = stream.next_within(Duration::from_secs(8)).await;
    assert!(ended.is_none(), "an event instead of the end: {ended:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // The new key streams.
    let key = fresh["secret_key"].as_str().expect("new key");
    let mut renewed = Sse::open(&app.client, &app.url("/v1/events/stream"), key, None).await;
    let fresh_tenant = TestTenant {
        id: t.id.clone(),
        key: key.to_string(),
    };
    open_ticket(&app, &fresh_tenant, "After rotation").await;
    assert_eq!(renewed.next().await.kind, "support.ticket_created");
}

async fn the_21st_stream_of_a_tenant_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (t, other) = (tenant(&app).await, tenant(&app).await);
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(Sse::open(&app.client, &app.url("/v1/events/stream"), &t.key, None).await);
    }
    let res = app.get("/v1/events/stream", &t.key).await;
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_streams", None).await;
    // Another tenant is not affected, and every open stream still works.
    let mut theirs = Sse::open(&app.client, &app.url("/v1/events/stream"), &other.key, None).await;
    let ticket = open_ticket(&app, &t, "Twenty listeners").await;
    for stream in &mut open {
        assert_eq!(ticket_id(&stream.next().await), ticket["id"]);
    }
    theirs.expect_silence(Duration::from_millis(300)).await;

    // A client that goes away frees its place (at the latest when the next heartbeat
    // finds the connection closed).
    drop(open.pop());
    let started = Instant::now();
    loop {
        let res = app.get("/v1/events/stream", &t.key).await;
        if res.status() == StatusCode::OK {
            break;
        }
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "feed: a closed stream's place was free after {:?}",
        started.elapsed()
    );
}

async fn positions_past_the_retention_reset(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = tenant(&app).await;
    open_ticket(&app, &t, "Old news").await;
    let old = page(&app, "/v1/events", &t.key).await["data"][0]["seq"]
        .as_i64()
        .expect("seq");
    let later = chrono::Utc::now() + chrono::Duration::days(8);
    let trimmed =
        helpline::feed::store::trim(&app.state.db, Duration::from_secs(7 * 86_400), later)
            .await
            .expect("trim");
    assert_eq!(trimmed, 1);

    let mut stream = Sse::open(
        &app.client,
        &app.url("/v1/events/stream"),
        &t.key,
        Some(old - 1),
    )
    .await;
    let reset = stream.next().await;
    assert_eq!(reset.kind, "reset");
    assert_eq!(reset.data["resume_after"], reset.id);
    // Then live from there.
    let fresh = open_ticket(&app, &t, "New news").await;
    assert_eq!(ticket_id(&stream.next().await), fresh["id"]);

    let res = app
        .get(&format!("/v1/events?after={}", old - 1), &t.key)
        .await;
    expect_error(res, StatusCode::GONE, "position_expired", Some("after")).await;
    // From the oldest kept, and resuming at the trim point, work.
    let listed = page(&app, "/v1/events", &t.key).await;
    assert_eq!(listed["data"].as_array().expect("data").len(), 1);
    let mut resumed = Sse::open(
        &app.client,
        &app.url("/v1/events/stream"),
        &t.key,
        Some(old),
    )
    .await;
    assert_eq!(ticket_id(&resumed.next().await), fresh["id"]);

    // A position the feed never reached is reset too.
    let mut unknown = Sse::open(
        &app.client,
        &app.url("/v1/events/stream"),
        &t.key,
        Some(old + 1_000_000),
    )
    .await;
    assert_eq!(unknown.next().await.kind, "reset");
}

async fn bad_positions_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = tenant(&app).await;
    let res = app
        .request(reqwest::Method::GET, "/v1/events/stream", Some(&t.key))
        .header("Last-Event-ID", "evt_123")
        .send()
        .await
        .expect("GET");
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("Last-Event-ID"),
    )
    .await;
    let res = app.get("/v1/events/stream?last_event_id=-1", &t.key).await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("last_event_id"),
    )
    .await;
    let res = app.get("/v1/events?after=x", &t.key).await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("after"),
    )
    .await;
    let res = app
        .get("/admin/events?tenant_id=nope", &app.admin_token)
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("tenant_id"),
    )
    .await;
    // Each side's key only.
    let res = app.get("/admin/events/stream", &t.key).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden", None).await;
    let res = app.get("/v1/events", &app.admin_token).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden", None).await;
}
