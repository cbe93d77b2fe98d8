//! Bots: a token shown once and stored hashed; bots read tickets and reply as `triage_bot`
//! without answering as an operator (no first response, no status change); every other
//! route answers `403`; they are rate-limited; operators list and revoke them.
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_error, expect_status};
use crate::on_both_backends;
use crate::tickets::open_ticket;

on_both_backends!(
    a_bot_reads_and_replies_without_answering,
    a_bot_is_refused_everywhere_else,
    bots_are_listed_revoked_and_rate_limited,
);

async fn create_bot(app: &TestApp, name: &str) -> Value {
    let res = app
        .post("/admin/bots", &app.admin_token, json!({"name": name}))
        .await;
    expect_status(res, StatusCode::CREATED).await
}

async fn a_bot_reads_and_replies_without_answering(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = create_bot(&app, "Triage").await;
    let token = created["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("hl_bot_"), "{token}");
    assert_eq!(created["bot"]["name"], "Triage");
    assert!(token.starts_with(created["bot"]["prefix"].as_str().expect("prefix")));
    // Stored hashed: the token itself is nowhere in the table.
    let row = entities::bots::Entity::find()
        .one(&app.state.db)
        .await
        .expect("bots")
        .expect("one bot");
    assert_ne!(row.token_hash, token);
    assert_eq!(row.token_hash, helpline::auth::keys::hash_token(&token));

    let tenant = app.create_tenant("pilot", 1000).await;
    let ticket = open_ticket(&app, &tenant, "Calls drop").await;
    let id = ticket["id"].as_str().expect("id");
    let inbox = expect_status(
        app.get("/admin/support/tickets", &token).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        inbox["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|t| t["id"] == id)
    );
    expect_status(
        app.get(&format!("/admin/support/tickets/{id}"), &token)
            .await,
        StatusCode::OK,
    )
    .await;

    let res = app
        .post(
            &format!("/admin/support/tickets/{id}/reply"),
            &token,
            json!({"body": "Triage: probably the SIP trunk."}),
        )
        .await;
    let replied = expect_status(res, StatusCode::CREATED).await;
    assert_eq!(replied["message"]["author"], "triage_bot");
    assert_eq!(replied["message"]["author_name"], "Triage");
    assert_eq!(replied["ticket_status"], "open", "a bot changes no status");
    let res = app
        .post(
            &format!("/admin/support/tickets/{id}/reply"),
            &token,
            json!({"body": "Looks like a duplicate of an older ticket.", "internal": true}),
        )
        .await;
    let note = expect_status(res, StatusCode::CREATED).await;
    assert_eq!(note["message"]["internal"], true);

    let seen = expect_status(
        app.get(&format!("/v1/support/tickets/{id}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    let ticket = if seen.get("ticket").is_some() {
        &seen["ticket"]
    } else {
        &seen
    };
    assert_eq!(ticket["status"], "open");
    assert!(
        ticket["sla"]["first_response_at"].is_null(),
        "a bot is no first response: {ticket}"
    );
    assert!(ticket["sla"]["first_response_due_at"].is_string());
    let authors: Vec<&str> = ticket["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["author"].as_str())
        .collect();
    assert_eq!(
        authors,
        ["customer", "triage_bot"],
        "the tenant sees the public bot message only"
    );

    // An operator's reply after the bot is the first response.
    let res = app
        .post(
            &format!("/admin/support/tickets/{id}/reply"),
            &app.admin_token,
            json!({"body": "Confirmed, fixing."}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let after = expect_status(
        app.get(&format!("/admin/support/tickets/{id}"), &app.admin_token)
            .await,
        StatusCode::OK,
    )
    .await;
    let after = if after.get("ticket").is_some() {
        &after["ticket"]
    } else {
        &after
    };
    assert!(after["sla"]["first_response_at"].is_string(), "{after}");
}

async fn a_bot_is_refused_everywhere_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = create_bot(&app, "triage_bot").await["token"]
        .as_str()
        .expect("token")
        .to_string();
    let tenant = app.create_tenant("pilot", 1000).await;
    let ticket = open_ticket(&app, &tenant, "Calls drop").await;
    let id = ticket["id"].as_str().expect("id");
    let tenant_path = format!("/admin/tenants/{}", tenant.id);
    let ticket_path = format!("/admin/support/tickets/{id}");
    let refused: Vec<(Method, String, Value)> = vec![
        (Method::GET, "/v1/support/tickets".into(), Value::Null),
        (Method::GET, "/v1/auth/me".into(), Value::Null),
        (
            Method::POST,
            "/v1/support/tickets".into(),
            crate::tickets::ticket_body("x"),
        ),
        (Method::GET, "/admin/tenants".into(), Value::Null),
        (Method::GET, tenant_path, Value::Null),
        (
            Method::POST,
            "/admin/tenants".into(),
            json!({"name": "x", "email": "x@y.test"}),
        ),
        (Method::GET, "/admin/bots".into(), Value::Null),
        (
            Method::POST,
            "/admin/bots".into(),
            json!({"name": "another"}),
        ),
        (Method::GET, "/admin/staff".into(), Value::Null),
        (Method::GET, "/admin/macros".into(), Value::Null),
        (Method::GET, "/admin/queues".into(), Value::Null),
        (Method::GET, "/admin/events".into(), Value::Null),
        (
            Method::PATCH,
            ticket_path.clone(),
            json!({"status": "closed"}),
        ),
        (
            Method::POST,
            format!("{ticket_path}/merge"),
            json!({"into": id}),
        ),
        (Method::POST, format!("{ticket_path}/bounty"), Value::Null),
        (
            Method::PUT,
            "/admin/support/status".into(),
            json!({"status": "operational"}),
        ),
    ];
    for (method, path, body) in refused {
        let mut req = app.request(method.clone(), &path, Some(&token));
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        expect_error(res, StatusCode::FORBIDDEN, "forbidden", None).await;
    }
    // On the reply route itself, operators' fields are refused and nothing is written.
    for body in [
        json!({"body": "Closing.", "status": "closed"}),
        json!({"macro_id": "mac_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b"}),
    ] {
        let res = app
            .post(&format!("{ticket_path}/reply"), &token, body.clone())
            .await;
        expect_error(res, StatusCode::FORBIDDEN, "forbidden", None).await;
    }
    let transcript = expect_status(
        app.get(&ticket_path, &app.admin_token).await,
        StatusCode::OK,
    )
    .await;
    let transcript = if transcript.get("ticket").is_some() {
        &transcript["ticket"]
    } else {
        &transcript
    };
    assert_eq!(transcript["status"], "open");
    assert_eq!(
        transcript["messages"].as_array().expect("messages").len(),
        1
    );
}

async fn bots_are_listed_revoked_and_rate_limited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = create_bot(&app, "first").await;
    let second = create_bot(&app, "second").await;
    let listed = expect_status(
        app.get("/admin/bots", &app.admin_token).await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert_eq!(names, ["second", "first"]);
    assert!(
        listed.to_string().find("\"token\"").is_none(),
        "tokens are shown once"
    );

    let res = app
        .post("/admin/bots", &app.admin_token, json!({"name": "  "}))
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "validation_failed", None).await;
    let res = app
        .post(
            "/admin/bots",
            &app.admin_token,
            json!({"name": "x", "admin": true}),
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "unknown_field", Some("admin")).await;

    // Rate limits: the base plan's burst of 25, then 429 with Retry-After.
    let token = second["token"].as_str().expect("token");
    let mut limited = None;
    for _ in 0..60 {
        let res = app.get("/admin/support/tickets?limit=1", token).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(res);
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get("ratelimit-limit").is_some());
    }
    let limited = limited.expect("a bot is rate-limited");
    assert!(limited.headers().get("retry-after").is_some());

    let id = first["bot"]["id"].as_str().expect("id");
    let revoked = expect_status(
        app.delete(&format!("/admin/bots/{id}"), &app.admin_token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(revoked["revoked_at"].is_string());
    let old = first["token"].as_str().expect("token");
    expect_error(
        app.get("/admin/support/tickets", old).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    expect_error(
        app.delete(&format!("/admin/bots/{id}"), &app.admin_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    expect_error(
        app.delete("/admin/bots/bot_nope", &app.admin_token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let listed = expect_status(
        app.get("/admin/bots", &app.admin_token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"].as_array().expect("data").len(), 1);
}
