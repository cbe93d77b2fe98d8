//! The operator workflow: the collision guard (version, ETag, If-Match, 412), assignment,
//! the staff list, internal tags and the inbox filters.
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_error, expect_status};
use crate::on_both_backends;
use crate::tickets::open_ticket;

on_both_backends!(
    if_match_lets_exactly_one_of_two_replies_through,
    tenant_changes_honour_if_match,
    assignment_and_staff_list,
    tags_are_internal_and_filter_the_inbox,
    merge_copies_public_messages_and_closes_the_source,
    macros_render_per_tenant_and_apply_status_and_tags,
);

#[actix_web::test]
async fn openapi_documents_the_workflow() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let res = app
        .request(Method::GET, "/openapi.json", None)
        .send()
        .await
        .expect("openapi");
    let doc: Value = res.json().await.expect("json");
    let ticket = &doc["components"]["schemas"]["TicketOut"]["properties"];
    for field in ["version", "assignee_id", "tags", "merged_into"] {
        assert!(ticket.get(field).is_some(), "TicketOut lacks {field}");
    }
    assert!(
        doc["components"]["schemas"]["MessageOut"]["properties"]
            .get("merged_from")
            .is_some()
    );
    for (method, path) in [
        ("post", "/v1/support/tickets/{id}/messages"),
        ("patch", "/v1/support/tickets/{id}"),
        ("post", "/admin/support/tickets/{id}/reply"),
        ("patch", "/admin/support/tickets/{id}"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(
            op["responses"].get("412").is_some(),
            "{method} {path}: no 412"
        );
        let params = op["parameters"].as_array().expect("parameters");
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "If-Match" && p["in"] == "header"),
            "{method} {path}: no If-Match"
        );
    }
    let patch = &doc["components"]["schemas"]["OperatorPatch"]["properties"];
    assert!(patch.get("assignee_id").is_some() && patch.get("tags").is_some());
    let inbox = doc["paths"]["/admin/support/tickets"]["get"]["parameters"].to_string();
    assert!(
        inbox.contains("\"assignee\"") && inbox.contains("\"tag\""),
        "{inbox}"
    );
    crate::helpers::shutdown_all().await;
}

struct Operator {
    id: String,
    token: String,
}

async fn operator(app: &TestApp, name: &str) -> Operator {
    let name = helpline::domain::validate::Name::parse(name, "name").expect("name");
    let (member, token) = helpline::tenants::provision::create_staff(&app.state.db, name)
        .await
        .expect("staff");
    Operator {
        id: member.id.to_string(),
        token: token.token,
    }
}

fn etag_of(res: &Response) -> String {
    res.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag header")
        .to_string()
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: Value,
) -> Response {
    let mut req = app.request(method, path, Some(token)).json(&body);
    if let Some(tag) = if_match {
        req = req.header("If-Match", tag);
    }
    req.send().await.expect("request")
}

async fn transcript(app: &TestApp, id: &str) -> Value {
    let res = app
        .get(&format!("/admin/support/tickets/{id}"), &app.admin_token)
        .await;
    expect_status(res, StatusCode::OK).await
}

async fn if_match_lets_exactly_one_of_two_replies_through(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let (alice, bob) = (operator(&app, "alice").await, operator(&app, "bob").await);
    let ticket = open_ticket(&app, &tenant, "Two operators, one answer").await;
    let id = ticket["id"].as_str().expect("id").to_string();
    assert_eq!(ticket["version"], 1);

    let res = app
        .get(&format!("/v1/support/tickets/{id}"), &tenant.key)
        .await;
    assert_eq!(etag_of(&res), "\"1\"");
    let path = format!("/admin/support/tickets/{id}/reply");
    let (a, b) = futures_util::join!(
        send(
            &app,
            Method::POST,
            &path,
            &alice.token,
            Some("\"1\""),
            json!({"body": "From Alice"})
        ),
        send(
            &app,
            Method::POST,
            &path,
            &bob.token,
            Some("\"1\""),
            json!({"body": "From Bob"})
        ),
    );
    let mut statuses = vec![a.status(), b.status()];
    statuses.sort();
    assert_eq!(
        statuses,
        vec![StatusCode::CREATED, StatusCode::PRECONDITION_FAILED]
    );
    let (won, lost) = if a.status() == StatusCode::CREATED {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(etag_of(&won), "\"2\"");
    assert_eq!(etag_of(&lost), "\"2\"");
    expect_error(
        lost,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        Some("2"),
    )
    .await;
    expect_status(won, StatusCode::CREATED).await;

    let t = transcript(&app, &id).await;
    assert_eq!(t["version"], 2);
    assert_eq!(
        t["message_count"], 2,
        "the refused reply saved nothing: {t}"
    );
    assert_eq!(t["messages"].as_array().map(Vec::len), Some(2));

    // With the current version it goes through; without If-Match nothing is checked.
    let res = send(
        &app,
        Method::POST,
        &path,
        &bob.token,
        Some("W/\"2\""),
        json!({"body": "Bob again", "internal": true}),
    )
    .await;
    assert_eq!(etag_of(&res), "\"3\"");
    expect_status(res, StatusCode::CREATED).await;
    let res = send(
        &app,
        Method::POST,
        &path,
        &bob.token,
        None,
        json!({"body": "No guard"}),
    )
    .await;
    expect_status(res, StatusCode::CREATED).await;

    // A malformed If-Match is a 400 and changes nothing.
    let before = transcript(&app, &id).await["version"].clone();
    for bad in ["3", "\"three\"", "\"1\", \"2\""] {
        let res = send(
            &app,
            Method::POST,
            &path,
            &bob.token,
            Some(bad),
            json!({"body": "Never saved"}),
        )
        .await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("If-Match"),
        )
        .await;
    }
    assert_eq!(transcript(&app, &id).await["version"], before);
}

async fn tenant_changes_honour_if_match(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let ticket = open_ticket(&app, &tenant, "A tenant's stale tab").await;
    let id = ticket["id"].as_str().expect("id").to_string();
    let path = format!("/v1/support/tickets/{id}");

    let res = app
        .post(
            &format!("/admin/support/tickets/{id}/reply"),
            &app.admin_token,
            json!({"body": "Please send logs."}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;

    // The tenant's tab still shows version 1: its reply and its PATCH are refused.
    let res = send(
        &app,
        Method::POST,
        &format!("{path}/messages"),
        &tenant.key,
        Some("\"1\""),
        json!({"body": "Stale reply"}),
    )
    .await;
    expect_error(
        res,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        Some("2"),
    )
    .await;
    let res = send(
        &app,
        Method::PATCH,
        &path,
        &tenant.key,
        Some("\"1\""),
        json!({"status": "resolved"}),
    )
    .await;
    expect_error(
        res,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        Some("2"),
    )
    .await;
    let res = app.get(&path, &tenant.key).await;
    assert_eq!(etag_of(&res), "\"2\"");
    let t = expect_status(res, StatusCode::OK).await;
    assert_eq!(t["status"], "awaiting_user");
    assert_eq!(t["message_count"], 2);

    let res = send(
        &app,
        Method::PATCH,
        &path,
        &tenant.key,
        Some("\"2\""),
        json!({"status": "resolved"}),
    )
    .await;
    assert_eq!(etag_of(&res), "\"3\"");
    let t = expect_status(res, StatusCode::OK).await;
    assert_eq!(t["status"], "resolved");
    assert_eq!(t["version"], 3);
    assert!(
        t.get("tags").is_none() && t.get("assignee_id").is_none(),
        "{t}"
    );

    // Operator PATCHes are guarded the same way.
    let admin_path = format!("/admin/support/tickets/{id}");
    let res = send(
        &app,
        Method::PATCH,
        &admin_path,
        &app.admin_token,
        Some("\"2\""),
        json!({"priority": "urgent"}),
    )
    .await;
    expect_error(
        res,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        Some("3"),
    )
    .await;
    assert_eq!(transcript(&app, &id).await["priority"], "high");
}

async fn assignment_and_staff_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let (alice, bob) = (operator(&app, "alice").await, operator(&app, "bob").await);
    let first = open_ticket(&app, &tenant, "Assigned to Alice").await;
    let second = open_ticket(&app, &tenant, "Nobody's yet").await;
    let (first_id, second_id) = (
        first["id"].as_str().expect("id"),
        second["id"].as_str().expect("id"),
    );

    let staff = expect_status(app.get("/admin/staff", &bob.token).await, StatusCode::OK).await;
    let names: Vec<&str> = staff["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, vec!["alice", "bob"]);
    assert_eq!(staff["data"][0]["id"], alice.id.as_str());
    expect_error(
        app.get("/admin/staff", &tenant.key).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    )
    .await;

    let path = format!("/admin/support/tickets/{first_id}");
    let res = app
        .patch(&path, &bob.token, json!({"assignee_id": alice.id}))
        .await;
    let t = expect_status(res, StatusCode::OK).await;
    assert_eq!(t["assignee_id"], alice.id.as_str());
    assert_eq!(t["version"], 2);

    let inbox = |token: String, filter: &'static str| {
        let app = &app;
        async move {
            let res = app
                .get(&format!("/admin/support/tickets?{filter}"), &token)
                .await;
            let page = expect_status(res, StatusCode::OK).await;
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|t| t["id"].as_str().expect("id").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        inbox(alice.token.clone(), "assignee=me").await,
        vec![first_id.to_string()]
    );
    assert!(inbox(bob.token.clone(), "assignee=me").await.is_empty());
    assert_eq!(
        inbox(bob.token.clone(), "assignee=none").await,
        vec![second_id.to_string()]
    );
    let by_id = format!("assignee={}", alice.id);
    let res = app
        .get(&format!("/admin/support/tickets?{by_id}"), &bob.token)
        .await;
    assert_eq!(expect_status(res, StatusCode::OK).await["total"], 1);

    // Bad assignees and filters change nothing.
    for bad in [
        json!({"assignee_id": uuid::Uuid::now_v7().to_string()}),
        json!({"assignee_id": "alice"}),
        json!({"assignee_id": 7}),
    ] {
        let res = app.patch(&path, &bob.token, bad).await;
        expect_status(res, StatusCode::BAD_REQUEST).await;
    }
    for bad in ["assignee=someone", "assignee=tkt_01"] {
        let res = app
            .get(&format!("/admin/support/tickets?{bad}"), &bob.token)
            .await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("assignee"),
        )
        .await;
    }
    let res = app
        .get("/admin/support/tickets?assignee=me", &app.admin_token)
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("assignee"),
    )
    .await;
    assert_eq!(transcript(&app, first_id).await["version"], 2);

    // Assignment is internal: tenants never see it, operators see the event.
    let t = expect_status(
        app.get(&format!("/v1/support/tickets/{first_id}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(t.get("assignee_id").is_none(), "{t}");
    let events = expect_status(
        app.get(
            &format!("/v1/support/tickets/{first_id}/events"),
            &tenant.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(!events.to_string().contains("assigned"), "{events}");
    let t = transcript(&app, first_id).await;
    let assigned: Vec<&Value> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "assigned")
        .collect();
    assert_eq!(assigned.len(), 1, "{t}");
    assert_eq!(assigned[0]["data"]["to"]["name"], "alice");
    assert_eq!(assigned[0]["actor"], "operator:bob");

    // The event feed: operators see the assignment, the tenant does not.
    let feed = expect_status(app.get("/admin/events", &bob.token).await, StatusCode::OK).await;
    let updates: Vec<&Value> = feed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|e| e["type"] == "support.ticket_updated")
        .collect();
    assert_eq!(updates.len(), 1, "{feed}");
    assert_eq!(
        updates[0]["data"]["changes"]["assignee_id"]["to"],
        alice.id.as_str()
    );
    assert_eq!(updates[0]["data"]["ticket"]["id"], first_id);
    let theirs = expect_status(app.get("/v1/events", &tenant.key).await, StatusCode::OK).await;
    assert!(
        !theirs.to_string().contains("support.ticket_updated"),
        "{theirs}"
    );

    // `null` unassigns; assigning the same operator again is no new event.
    let res = app
        .patch(&path, &bob.token, json!({"assignee_id": null}))
        .await;
    assert_eq!(
        expect_status(res, StatusCode::OK).await["assignee_id"],
        Value::Null
    );
    assert_eq!(inbox(bob.token.clone(), "assignee=none").await.len(), 2);
    let res = app
        .patch(&path, &bob.token, json!({"assignee_id": null}))
        .await;
    expect_status(res, StatusCode::OK).await;
    let t = transcript(&app, first_id).await;
    assert_eq!(
        t["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["type"] == "assigned")
            .count(),
        2
    );
}

async fn tags_are_internal_and_filter_the_inbox(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let tagged = open_ticket(&app, &tenant, "Tagged ticket").await;
    let other = open_ticket(&app, &tenant, "Tagged differently").await;
    let (tagged_id, other_id) = (
        tagged["id"].as_str().expect("id"),
        other["id"].as_str().expect("id"),
    );
    let admin = app.admin_token.clone();

    let res = app
        .patch(
            &format!("/admin/support/tickets/{tagged_id}"),
            &admin,
            json!({"tags": [" VIP ", "sdk_v2", "vip"]}),
        )
        .await;
    let t = expect_status(res, StatusCode::OK).await;
    assert_eq!(t["tags"], json!(["vip", "sdk_v2"]));
    let res = app
        .patch(
            &format!("/admin/support/tickets/{other_id}"),
            &admin,
            json!({"tags": ["sdkxv2"]}),
        )
        .await;
    expect_status(res, StatusCode::OK).await;

    let ids = |filter: &'static str| {
        let app = &app;
        async move {
            let res = app
                .get(
                    &format!("/admin/support/tickets?{filter}"),
                    &app.admin_token,
                )
                .await;
            let page = expect_status(res, StatusCode::OK).await;
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|t| t["id"].as_str().expect("id").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("tag=VIP").await, vec![tagged_id.to_string()]);
    // `_` is no wildcard and a tag is matched whole.
    assert_eq!(ids("tag=sdk_v2").await, vec![tagged_id.to_string()]);
    assert!(ids("tag=sdk").await.is_empty());
    assert!(ids("tag=vi").await.is_empty());
    let res = app
        .get("/admin/support/tickets?tag=no%20spaces", &admin)
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("tag"),
    )
    .await;

    // Bad tags: 400, nothing changes.
    let path = format!("/admin/support/tickets/{tagged_id}");
    let too_many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    for bad in [
        json!({"tags": ["has space"]}),
        json!({"tags": [""]}),
        json!({"tags": ["x".repeat(41)]}),
        json!({"tags": too_many}),
        json!({"tags": "vip"}),
    ] {
        let res = app.patch(&path, &admin, bad).await;
        expect_status(res, StatusCode::BAD_REQUEST).await;
    }
    let t = transcript(&app, tagged_id).await;
    assert_eq!(t["tags"], json!(["vip", "sdk_v2"]));
    assert_eq!(t["version"], 2);
    assert_eq!(
        t["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["type"] == "tags_changed")
            .count(),
        1
    );

    // Tenants never see tags, on the ticket, the list or the history.
    let t = expect_status(
        app.get(&format!("/v1/support/tickets/{tagged_id}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(t.get("tags").is_none(), "{t}");
    let list = expect_status(
        app.get("/v1/support/tickets", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert!(!list.to_string().contains("sdk_v2"), "{list}");
    let events = expect_status(
        app.get(
            &format!("/v1/support/tickets/{tagged_id}/events"),
            &tenant.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(!events.to_string().contains("vip"), "{events}");

    // An empty list clears them.
    let res = app.patch(&path, &admin, json!({"tags": []})).await;
    assert_eq!(expect_status(res, StatusCode::OK).await["tags"], json!([]));
    assert!(ids("tag=vip").await.is_empty());
}

async fn merge_copies_public_messages_and_closes_the_source(backend: Backend) {
    let hooks = crate::support::receiver::FakeServer::start().await;
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let stranger = app.create_tenant("pilot", 100).await;
    let res = app
        .post(
            "/v1/webhooks",
            &tenant.key,
            json!({"url": hooks.url, "events": ["support.ticket_merged"]}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let dup = open_ticket(&app, &tenant, "The duplicate").await;
    let keep = open_ticket(&app, &tenant, "The one we keep").await;
    let foreign = open_ticket(&app, &stranger, "Another tenant's").await;
    let (dup_id, keep_id) = (
        dup["id"].as_str().expect("id"),
        keep["id"].as_str().expect("id"),
    );
    let foreign_id = foreign["id"].as_str().expect("id");
    let res = app
        .post(
            &format!("/v1/support/tickets/{dup_id}/messages"),
            &tenant.key,
            json!({"body": "More detail on the duplicate"}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let res = app
        .post(
            &format!("/admin/support/tickets/{dup_id}/reply"),
            &app.admin_token,
            json!({"body": "Internal: same as the other", "internal": true}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let originals = transcript(&app, dup_id).await["messages"].clone();

    // Refusals first: each changes nothing.
    let merge = |from: &str| format!("/admin/support/tickets/{from}/merge");
    for (into, detail) in [
        (json!(foreign_id), "into"),
        (json!(dup_id), "into"),
        (json!("tkt_nope"), "into"),
        (json!(null), "into"),
    ] {
        let res = app
            .post(&merge(dup_id), &app.admin_token, json!({"into": into}))
            .await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(detail),
        )
        .await;
    }
    let res = app
        .post(
            &merge(foreign_id),
            &app.admin_token,
            json!({"into": keep_id}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("into"),
    )
    .await;
    let res = send(
        &app,
        Method::POST,
        &merge(dup_id),
        &app.admin_token,
        Some("\"1\""),
        json!({"into": keep_id}),
    )
    .await;
    expect_error(
        res,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        Some("3"),
    )
    .await;
    assert_eq!(transcript(&app, dup_id).await["status"], "open");
    assert_eq!(transcript(&app, keep_id).await["message_count"], 1);

    let res = app
        .post(&merge(dup_id), &app.admin_token, json!({"into": keep_id}))
        .await;
    let merged = expect_status(res, StatusCode::OK).await;
    assert_eq!(merged["messages_copied"], 2);
    assert_eq!(merged["ticket"]["status"], "closed");
    assert_eq!(merged["ticket"]["merged_into"], keep_id);
    assert_eq!(merged["into"]["message_count"], 3);

    // The copies keep author and time, in time order, marked with where they came from.
    let target = transcript(&app, keep_id).await;
    let thread = target["messages"].as_array().expect("messages");
    assert_eq!(thread.len(), 3);
    let copies: Vec<&Value> = thread
        .iter()
        .filter(|m| m["merged_from"] == dup_id)
        .collect();
    assert_eq!(copies.len(), 2);
    for (copy, original) in copies.iter().zip(
        originals
            .as_array()
            .expect("originals")
            .iter()
            .filter(|m| m["internal"] == false),
    ) {
        assert_eq!(copy["body"], original["body"]);
        assert_eq!(copy["author"], original["author"]);
        assert_eq!(copy["created_at"], original["created_at"]);
        assert_ne!(copy["id"], original["id"]);
    }
    assert!(
        !target.to_string().contains("Internal: same as the other"),
        "{target}"
    );
    let times: Vec<&str> = thread
        .iter()
        .filter_map(|m| m["created_at"].as_str())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert!(
        target["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["type"] == "merged" && e["data"]["from"] == dup_id)
    );

    // The tenant sees the merge; replying to the source answers 409 naming the target.
    let events = expect_status(
        app.get(&format!("/v1/support/tickets/{dup_id}/events"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        events["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|e| e["type"] == "merged" && e["data"]["into"] == keep_id)
    );
    let res = app
        .post(
            &format!("/v1/support/tickets/{dup_id}/messages"),
            &tenant.key,
            json!({"body": "Still there?"}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "ticket_closed", Some(keep_id)).await;
    let res = app
        .post(
            &format!("/admin/support/tickets/{dup_id}/reply"),
            &app.admin_token,
            json!({"body": "Hello"}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "ticket_closed", Some(keep_id)).await;
    let res = app
        .post(&merge(keep_id), &app.admin_token, json!({"into": dup_id}))
        .await;
    expect_error(res, StatusCode::CONFLICT, "ticket_closed", Some(keep_id)).await;
    let tenant_view = expect_status(
        app.get(&format!("/v1/support/tickets/{dup_id}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(tenant_view["merged_into"], keep_id);

    // The tenant's event feed has it too.
    let feed = expect_status(app.get("/v1/events", &tenant.key).await, StatusCode::OK).await;
    let merged_events: Vec<&Value> = feed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|e| e["type"] == "support.ticket_merged")
        .collect();
    assert_eq!(merged_events.len(), 1, "{feed}");
    assert_eq!(merged_events[0]["data"]["into"], keep_id);

    // No fee comes back, and the subscribed webhook hears of it.
    let balance = expect_status(
        app.get("/v1/billing/balance", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    let fee = app.state.config.ticket_fee_cents;
    assert_eq!(balance["balance_cents"], 100 - 2 * fee);
    let seen = hooks.wait_for(1, std::time::Duration::from_secs(20)).await;
    let event = seen[0].json();
    assert_eq!(event["type"], "support.ticket_merged");
    assert_eq!(event["data"]["ticket_id"], dup_id);
    assert_eq!(event["data"]["into"], keep_id);
}

async fn macros_render_per_tenant_and_apply_status_and_tags(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = operator(&app, "alice").await;
    let acme = app.create_tenant("pilot", 100).await;
    let res = app
        .post("/admin/tenants", &app.admin_token, json!({"name": "Globex", "email": "ops@globex.test", "plan": "pilot", "balance_cents": 100}))
        .await;
    let globex_key = expect_status(res, StatusCode::CREATED).await["secret_key"]
        .as_str()
        .expect("key")
        .to_string();
    let globex = crate::helpers::TestTenant {
        id: String::new(),
        key: globex_key,
    };

    // Bad macros are refused and saved nowhere.
    for (bad, field) in [
        (json!({"name": "x", "body": "Hi {{ticket.secret}}"}), "body"),
        (json!({"name": "x", "body": "Hi {{tenant.name"}), "body"),
        (json!({"body": "Hi"}), "name"),
        (json!({"name": "x"}), "body"),
        (
            json!({"name": "x", "body": "Hi", "status": "done"}),
            "status",
        ),
        (
            json!({"name": "x", "body": "Hi", "tags": ["no way"]}),
            "tags",
        ),
    ] {
        let res = app.post("/admin/macros", &alice.token, bad).await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        )
        .await;
    }
    let listed = expect_status(app.get("/admin/macros", &alice.token).await, StatusCode::OK).await;
    assert_eq!(listed["data"], json!([]));

    let body = "Hi {{tenant.name}}, about “{{ ticket.subject }}” ({{ticket.id}}): please send logs to us, not {{contact_email}}. — {{operator.name}}";
    let res = app
        .post("/admin/macros", &alice.token, json!({"name": "Ask for logs", "body": body, "status": "in_progress", "tags": ["Needs-Logs"]}))
        .await;
    let created = expect_status(res, StatusCode::CREATED).await;
    let macro_id = created["id"].as_str().expect("id").to_string();
    assert!(macro_id.starts_with("mac_"), "{macro_id}");
    assert_eq!(created["tags"], json!(["needs-logs"]));
    assert_eq!(created["status"], "in_progress");

    let acme_ticket = open_ticket(&app, &acme, "Calls drop").await;
    let globex_ticket = open_ticket(&app, &globex, "Webhooks fail").await;
    let acme_id = acme_ticket["id"].as_str().expect("id");
    let globex_id = globex_ticket["id"].as_str().expect("id");
    let res = app
        .patch(
            &format!("/admin/support/tickets/{acme_id}"),
            &alice.token,
            json!({"tags": ["vip"]}),
        )
        .await;
    expect_status(res, StatusCode::OK).await;

    for (id, tenant_name, email) in [
        (acme_id, "Acme", "dev@acme.test"),
        (globex_id, "Globex", "ops@globex.test"),
    ] {
        let res = app
            .post(
                &format!("/admin/support/tickets/{id}/reply"),
                &alice.token,
                json!({"macro_id": macro_id}),
            )
            .await;
        let replied = expect_status(res, StatusCode::CREATED).await;
        let subject = if id == acme_id {
            "Calls drop"
        } else {
            "Webhooks fail"
        };
        assert_eq!(
            replied["message"]["body"],
            format!(
                "Hi {tenant_name}, about “{subject}” ({id}): please send logs to us, not {email}. — alice"
            )
        );
        assert_eq!(replied["ticket_status"], "in_progress");
    }
    let acme_now = transcript(&app, acme_id).await;
    assert_eq!(acme_now["tags"], json!(["vip", "needs-logs"]));
    assert_eq!(acme_now["status"], "in_progress");
    assert!(acme_now["sla"]["first_response_at"].is_string());
    assert_eq!(
        transcript(&app, globex_id).await["tags"],
        json!(["needs-logs"])
    );
    // The tenant sees the rendered text, not the template nor the tags.
    let seen = expect_status(
        app.get(&format!("/v1/support/tickets/{acme_id}"), &acme.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(seen.to_string().contains("Hi Acme"), "{seen}");
    assert!(!seen.to_string().contains("{{"), "{seen}");

    // An explicit status wins over the macro's; `body` and `macro_id` together, or an unknown
    // macro, are refused and change nothing.
    let path = format!("/admin/support/tickets/{globex_id}/reply");
    let res = app
        .post(
            &path,
            &alice.token,
            json!({"macro_id": macro_id, "status": "resolved"}),
        )
        .await;
    assert_eq!(
        expect_status(res, StatusCode::CREATED).await["ticket_status"],
        "resolved"
    );
    let before = transcript(&app, globex_id).await["version"].clone();
    let unknown = format!("mac_{}", uuid::Uuid::now_v7().simple());
    for (bad, field) in [
        (json!({"macro_id": unknown}), "macro_id"),
        (json!({"macro_id": "nope"}), "macro_id"),
        (json!({"macro_id": macro_id, "body": "Both"}), "macro_id"),
    ] {
        let res = app.post(&path, &alice.token, bad).await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        )
        .await;
    }
    assert_eq!(transcript(&app, globex_id).await["version"], before);

    // Read, change, delete.
    let one = format!("/admin/macros/{macro_id}");
    let res = app
        .patch(
            &one,
            &alice.token,
            json!({"name": "Logs, please", "status": null, "tags": []}),
        )
        .await;
    let changed = expect_status(res, StatusCode::OK).await;
    assert_eq!(changed["name"], "Logs, please");
    assert_eq!(changed["status"], Value::Null);
    assert_eq!(changed["body"], body);
    let res = app
        .patch(&one, &alice.token, json!({"body": "{{nope}}"}))
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("body"),
    )
    .await;
    assert_eq!(
        expect_status(app.get(&one, &alice.token).await, StatusCode::OK).await["body"],
        body
    );
    let res = app.delete(&one, &alice.token).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get(&one, &alice.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    expect_error(
        app.delete(&one, &alice.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    expect_error(
        app.get("/admin/macros", &acme.key).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    )
    .await;
}
