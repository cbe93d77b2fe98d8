//! docs/API.md §8 agents: CRUD, validation, deleting detaches numbers, tenant isolation.
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;

on_both_backends!(
    agent_crud,
    invalid_agent_input_changes_nothing,
    deleting_an_agent_detaches_its_numbers,
    other_tenants_agents_are_404,
);

pub async fn create_agent(app: &TestApp, tenant: &TestTenant, name: &str) -> String {
    let res = app
        .post("/v1/agents", &tenant.key, json!({"name": name}))
        .await;
    expect_status(res, StatusCode::CREATED).await["id"]
        .as_str()
        .expect("agent id")
        .to_string()
}

pub async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.request(Method::PUT, path, Some(token))
        .json(&body)
        .send()
        .await
        .expect("PUT")
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

async fn agent_crud(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("pilot", 100).await;

    let res = app
        .post(
            "/v1/agents",
            &t.key,
            json!({"name": "  Sales bot ", "description": "Answers sales calls"}),
        )
        .await;
    let created = expect_status(res, StatusCode::CREATED).await;
    assert_eq!(
        keys(&created),
        [
            "created_at",
            "description",
            "id",
            "name",
            "object",
            "updated_at"
        ]
    );
    assert_eq!(created["object"], "agent");
    assert_eq!(created["name"], "Sales bot");
    assert_eq!(created["description"], "Answers sales calls");
    let id = created["id"].as_str().expect("id").to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    // Description is optional.
    let second = app
        .post("/v1/agents", &t.key, json!({"name": "Support bot"}))
        .await;
    let second = expect_status(second, StatusCode::CREATED).await;
    assert_eq!(second["description"], Value::Null);
    let second_id = second["id"].as_str().expect("id").to_string();

    // List: newest first, paginated.
    let list = expect_status(app.get("/v1/agents", &t.key).await, StatusCode::OK).await;
    assert_eq!(keys(&list), ["agents", "limit", "offset", "total"]);
    assert_eq!(list["total"], 2);
    assert_eq!(list["limit"], 50);
    assert_eq!(list["offset"], 0);
    assert_eq!(list["agents"][0]["id"], second_id.as_str());
    assert_eq!(list["agents"][1]["id"], id.as_str());
    let page = expect_status(
        app.get("/v1/agents?limit=1&offset=1", &t.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["limit"], 1);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["agents"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["agents"][0]["id"], id.as_str());

    // Get one.
    let path = format!("/v1/agents/{id}");
    let got = expect_status(app.get(&path, &t.key).await, StatusCode::OK).await;
    assert_eq!(got, created);

    // PUT replaces both fields: an absent description is cleared.
    let res = put(&app, &path, &t.key, json!({"name": "Sales bot v2"})).await;
    let replaced = expect_status(res, StatusCode::OK).await;
    assert_eq!(replaced["name"], "Sales bot v2");
    assert_eq!(replaced["description"], Value::Null);
    assert_eq!(replaced["created_at"], created["created_at"]);
    let res = put(
        &app,
        &path,
        &t.key,
        json!({"name": "Sales bot v3", "description": "Now with prices"}),
    )
    .await;
    let replaced = expect_status(res, StatusCode::OK).await;
    assert_eq!(replaced["description"], "Now with prices");
    let got = expect_status(app.get(&path, &t.key).await, StatusCode::OK).await;
    assert_eq!(got["name"], "Sales bot v3");

    // Delete, then it is gone.
    let deleted = expect_status(app.delete(&path, &t.key).await, StatusCode::OK).await;
    assert_eq!(
        deleted,
        json!({"id": id, "object": "agent", "deleted": true})
    );
    expect_error(
        app.get(&path, &t.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    expect_error(
        app.delete(&path, &t.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let res = put(&app, &path, &t.key, json!({"name": "ghost"})).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", None).await;

    // Malformed and unknown ids answer like each other.
    for bad in [
        "nope",
        "123",
        "00000000-0000-0000-0000-00000000000g",
        &uuid::Uuid::new_v4().to_string(),
    ] {
        let path = format!("/v1/agents/{bad}");
        expect_error(
            app.get(&path, &t.key).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        )
        .await;
        expect_error(
            app.delete(&path, &t.key).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        )
        .await;
        let res = put(&app, &path, &t.key, json!({"name": "x"})).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    }
    let list = expect_status(app.get("/v1/agents", &t.key).await, StatusCode::OK).await;
    assert_eq!(list["total"], 1);
}

async fn invalid_agent_input_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("pilot", 100).await;
    let id = create_agent(&app, &t, "Original").await;
    let path = format!("/v1/agents/{id}");
    let before = expect_status(app.get(&path, &t.key).await, StatusCode::OK).await;

    let long_name = "n".repeat(201);
    let long_description = "d".repeat(1001);
    let cases = [
        (json!({}), "validation_failed", "name"),
        (json!({"name": null}), "validation_failed", "name"),
        (json!({"name": "   "}), "validation_failed", "name"),
        (json!({"name": 42}), "validation_failed", "name"),
        (json!({"name": long_name}), "validation_failed", "name"),
        (
            json!({"name": "ok", "description": long_description}),
            "validation_failed",
            "description",
        ),
        (
            json!({"name": "ok", "description": ["x"]}),
            "validation_failed",
            "description",
        ),
        (
            json!({"name": "ok", "persona": "x"}),
            "unknown_field",
            "persona",
        ),
    ];
    for (body, code, field) in &cases {
        let res = app.post("/v1/agents", &t.key, body.clone()).await;
        expect_error(res, StatusCode::BAD_REQUEST, code, Some(field)).await;
        let res = put(&app, &path, &t.key, body.clone()).await;
        expect_error(res, StatusCode::BAD_REQUEST, code, Some(field)).await;
    }
    let res = app
        .request(Method::POST, "/v1/agents", Some(&t.key))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("POST");
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_json", None).await;
    let res = app
        .request(Method::POST, "/v1/agents", Some(&t.key))
        .body("name=x")
        .send()
        .await
        .expect("POST");
    expect_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    )
    .await;

    let after = expect_status(app.get(&path, &t.key).await, StatusCode::OK).await;
    assert_eq!(after, before);
    let list = expect_status(app.get("/v1/agents", &t.key).await, StatusCode::OK).await;
    assert_eq!(list["total"], 1);
}

async fn deleting_an_agent_detaches_its_numbers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("pilot", 100).await;
    let doomed = create_agent(&app, &t, "Doomed").await;
    let kept = create_agent(&app, &t, "Kept").await;
    for (number, agent) in [
        ("+15550000001", &doomed),
        ("+15550000002", &doomed),
        ("+15550000003", &kept),
    ] {
        let res = app
            .post(
                "/v1/numbers",
                &t.key,
                json!({"number": number, "agent_id": agent}),
            )
            .await;
        expect_status(res, StatusCode::CREATED).await;
    }
    let res = app.delete(&format!("/v1/agents/{doomed}"), &t.key).await;
    expect_status(res, StatusCode::OK).await;

    let list = expect_status(app.get("/v1/numbers", &t.key).await, StatusCode::OK).await;
    assert_eq!(list["total"], 3, "numbers survive their agent");
    for n in list["numbers"].as_array().expect("numbers") {
        let expected = if n["number"] == "+15550000003" {
            json!(kept)
        } else {
            Value::Null
        };
        assert_eq!(n["agent_id"], expected, "{n}");
    }
    // The deleted agent can no longer be attached.
    let res = app
        .post(
            "/v1/numbers/+15550000001/attach",
            &t.key,
            json!({"agent_id": doomed}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", Some("agent_id")).await;
}

async fn other_tenants_agents_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.create_tenant("pilot", 100).await;
    let intruder = app.create_tenant("pilot", 100).await;
    let id = create_agent(&app, &owner, "Private").await;
    let path = format!("/v1/agents/{id}");
    let before = expect_status(app.get(&path, &owner.key).await, StatusCode::OK).await;

    expect_error(
        app.get(&path, &intruder.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let res = put(&app, &path, &intruder.key, json!({"name": "Hijacked"})).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    expect_error(
        app.delete(&path, &intruder.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let list = expect_status(app.get("/v1/agents", &intruder.key).await, StatusCode::OK).await;
    assert_eq!(list["total"], 0);
    assert_eq!(list["agents"], json!([]));

    let after = expect_status(app.get(&path, &owner.key).await, StatusCode::OK).await;
    assert_eq!(after, before);
}
