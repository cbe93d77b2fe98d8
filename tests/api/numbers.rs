//! docs/API.md §8: bring-your-own-carrier numbers — every status code of register,
//! attach, list and remove, both path encodings, the cross-tenant race, tenant isolation.
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::agents::create_agent;
use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;

on_both_backends!(
    register_statuses,
    invalid_registrations_change_nothing,
    attach_statuses_and_path_encodings,
    list_shape_and_pagination,
    remove_statuses,
    two_tenants_racing_for_one_number,
    other_tenants_numbers_are_404,
);

async fn register(app: &TestApp, t: &TestTenant, body: Value) -> reqwest::Response {
    app.post("/v1/numbers", &t.key, body).await
}

async fn numbers_of(app: &TestApp, t: &TestTenant) -> Value {
    expect_status(app.get("/v1/numbers", &t.key).await, StatusCode::OK).await
}

async fn register_statuses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("pilot", 100).await;
    let other = app.create_tenant("pilot", 100).await;
    let agent = create_agent(&app, &t, "Front desk").await;
    let agent2 = create_agent(&app, &t, "Night shift").await;
    let foreign_agent = create_agent(&app, &other, "Not yours").await;

    // 201: new, without and with an agent.
    let res = register(&app, &t, json!({"number": "+15551234567"})).await;
    let body = expect_status(res, StatusCode::CREATED).await;
    assert_eq!(
        body,
        json!({"status": "registered", "number": "+15551234567", "agent_id": null})
    );
    let res = register(
        &app,
        &t,
        json!({"number": "+442071838750", "agent_id": agent}),
    )
    .await;
    let body = expect_status(res, StatusCode::CREATED).await;
    assert_eq!(
        body,
        json!({"status": "registered", "number": "+442071838750", "agent_id": agent})
    );

    // 200: already this tenant's; agent_id updated when given, kept when not.
    let res = register(
        &app,
        &t,
        json!({"number": "+15551234567", "agent_id": agent2}),
    )
    .await;
    let body = expect_status(res, StatusCode::OK).await;
    assert_eq!(
        body,
        json!({"status": "registered", "number": "+15551234567", "agent_id": agent2})
    );
    let res = register(&app, &t, json!({"number": "+15551234567"})).await;
    let body = expect_status(res, StatusCode::OK).await;
    assert_eq!(body["agent_id"], agent2.as_str());
    let res = register(
        &app,
        &t,
        json!({"number": " +15551234567 ", "agent_id": agent}),
    )
    .await;
    let body = expect_status(res, StatusCode::OK).await;
    assert_eq!(body["agent_id"], agent.as_str());
    assert_eq!(body["number"], "+15551234567");

    // 409: another tenant's number, with or without an agent of its own.
    let res = register(&app, &other, json!({"number": "+15551234567"})).await;
    expect_error(res, StatusCode::CONFLICT, "number_taken", None).await;
    let res = register(
        &app,
        &other,
        json!({"number": "+15551234567", "agent_id": foreign_agent}),
    )
    .await;
    expect_error(res, StatusCode::CONFLICT, "number_taken", None).await;

    // 404: unknown agent, another tenant's agent — for new and existing numbers alike.
    let unknown = uuid::Uuid::new_v4().to_string();
    for (number, agent_id) in [
        ("+15557654321", &unknown),
        ("+15557654321", &foreign_agent),
        ("+15551234567", &unknown),
        ("+15551234567", &foreign_agent),
    ] {
        let res = register(&app, &t, json!({"number": number, "agent_id": agent_id})).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found", Some("agent_id")).await;
    }

    // Nothing above changed what is registered.
    let list = numbers_of(&app, &t).await;
    assert_eq!(list["total"], 2);
    let owned: Vec<(&str, &str)> = list["numbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .map(|n| {
            (
                n["number"].as_str().expect("number"),
                n["agent_id"].as_str().expect("agent"),
            )
        })
        .collect();
    assert!(owned.contains(&("+15551234567", agent.as_str())), "{list}");
    assert!(owned.contains(&("+442071838750", agent.as_str())), "{list}");
    assert_eq!(numbers_of(&app, &other).await["total"], 0);
}

async fn invalid_registrations_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("pilot", 100).await;
    let agent = create_agent(&app, &t, "Front desk").await;

    for bad in [
        "15551234567",
        "+0123",
        "+1",
        "+",
        "",
        "+1234567890123456",
        "+1-555",
        "+1 555 123 4567",
        "+1555123456a",
        "++15551234567",
        "+١٢٣٤٥",
    ] {
        let res = register(&app, &t, json!({"number": bad})).await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("number"),
        )
        .await;
        let res = register(&app, &t, json!({"number": bad, "agent_id": agent})).await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("number"),
        )
        .await;
    }
    for (body, code, field) in [
        (json!({}), "validation_failed", "number"),
        (json!({"number": null}), "validation_failed", "number"),
        (
            json!({"number": 15551234567_u64}),
            "validation_failed",
            "number",
        ),
        (json!({"agent_id": agent}), "validation_failed", "number"),
        (
            json!({"number": "+15551234567", "agent_id": "not-a-uuid"}),
            "validation_failed",
            "agent_id",
        ),
        (
            json!({"number": "+15551234567", "agent_id": 7}),
            "validation_failed",
            "agent_id",
        ),
        (
            json!({"number": "+15551234567", "carrier": "twilio"}),
            "unknown_field",
            "carrier",
        ),
    ] {
        let res = register(&app, &t, body).await;
        expect_error(res, StatusCode::BAD_REQUEST, code, Some(field)).await;
    }
    // The largest and smallest valid forms are accepted.
    for good in ["+12", "+123456789012345"] {
        let res = register(&app, &t, json!({"number": good})).await;
        expect_status(res, StatusCode::CREATED).await;
    }
    assert_eq!(numbers_of(&app, &t).await["total"], 2);
}

async fn attach_statuses_and_path_encodings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("pilot", 100).await;
    let other = app.create_tenant("pilot", 100).await;
    let a1 = create_agent(&app, &t, "One").await;
    let a2 = create_agent(&app, &t, "Two").await;
    let foreign_agent = create_agent(&app, &other, "Theirs").await;
    expect_status(
        register(&app, &t, json!({"number": "+15551234567"})).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        register(&app, &other, json!({"number": "+15559999999"})).await,
        StatusCode::CREATED,
    )
    .await;

    // 201 through every spelling of the path segment.
    for (path, agent) in [
        ("/v1/numbers/+15551234567/attach", &a1),
        ("/v1/numbers/%2B15551234567/attach", &a2),
        ("/v1/numbers/%2b15551234567/attach", &a1),
        ("/v1/numbers/%2B15551234567/attach", &a1),
    ] {
        let res = app.post(path, &t.key, json!({"agent_id": agent})).await;
        let body = expect_status(res, StatusCode::CREATED).await;
        assert_eq!(
            body,
            json!({"status": "attached", "agent_id": agent, "number": "+15551234567"}),
            "{path}"
        );
        let list = numbers_of(&app, &t).await;
        assert_eq!(list["numbers"][0]["agent_id"], agent.as_str(), "{path}");
    }

    // 400: agent_id missing, null or malformed.
    for body in [
        json!({}),
        json!({"agent_id": null}),
        json!({"agent_id": ""}),
        json!({"agent_id": "nope"}),
    ] {
        let res = app
            .post("/v1/numbers/+15551234567/attach", &t.key, body)
            .await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("agent_id"),
        )
        .await;
    }
    let res = app
        .post(
            "/v1/numbers/+15551234567/attach",
            &t.key,
            json!({"agent_id": a2, "number": "+1"}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "unknown_field",
        Some("number"),
    )
    .await;

    // 404: unknown number (in either encoding), malformed number, another tenant's number.
    for path in [
        "/v1/numbers/+15550000000/attach",
        "/v1/numbers/%2B15550000000/attach",
        "/v1/numbers/15551234567/attach",
        "/v1/numbers/not-a-number/attach",
        "/v1/numbers/+15559999999/attach",
        "/v1/numbers/%2B15559999999/attach",
    ] {
        let res = app.post(path, &t.key, json!({"agent_id": a2})).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found", Some("number")).await;
    }
    // 404: unknown agent, another tenant's agent.
    for agent in [uuid::Uuid::new_v4().to_string(), foreign_agent.clone()] {
        let res = app
            .post(
                "/v1/numbers/%2B15551234567/attach",
                &t.key,
                json!({"agent_id": agent}),
            )
            .await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found", Some("agent_id")).await;
    }

    // None of the failures moved the number off its agent.
    let list = numbers_of(&app, &t).await;
    assert_eq!(list["numbers"][0]["agent_id"], a1.as_str());
    let theirs = numbers_of(&app, &other).await;
    assert_eq!(theirs["numbers"][0]["agent_id"], Value::Null);
}

async fn list_shape_and_pagination(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("pilot", 100).await;
    let agent = create_agent(&app, &t, "Front desk").await;

    let empty = numbers_of(&app, &t).await;
    assert_eq!(
        empty,
        json!({"numbers": [], "total": 0, "offset": 0, "limit": 50})
    );

    let mut registered = Vec::new();
    for i in 0..5 {
        let number = format!("+1555000000{i}");
        let agent_id = if i % 2 == 0 {
            json!(agent)
        } else {
            Value::Null
        };
        let res = register(&app, &t, json!({"number": number, "agent_id": agent_id})).await;
        expect_status(res, StatusCode::CREATED).await;
        registered.push(number);
    }

    let list = numbers_of(&app, &t).await;
    let mut top_keys: Vec<&str> = list
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    top_keys.sort_unstable();
    assert_eq!(top_keys, ["limit", "numbers", "offset", "total"]);
    assert_eq!(list["total"], 5);
    let items = list["numbers"].as_array().expect("numbers");
    assert_eq!(items.len(), 5);
    for n in items {
        let mut keys: Vec<&str> = n
            .as_object()
            .expect("number")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["agent_id", "created_at", "number"]);
        assert!(
            chrono::DateTime::parse_from_rfc3339(n["created_at"].as_str().expect("created_at"))
                .is_ok()
        );
    }
    let mut listed: Vec<String> = items
        .iter()
        .map(|n| n["number"].as_str().expect("number").to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, registered);

    // Pages cover the list exactly once.
    let mut paged = Vec::new();
    for offset in [0, 2, 4] {
        let page = expect_status(
            app.get(&format!("/v1/numbers?limit=2&offset={offset}"), &t.key)
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(page["total"], 5);
        assert_eq!(page["limit"], 2);
        assert_eq!(page["offset"], offset);
        for n in page["numbers"].as_array().expect("numbers") {
            paged.push(n["number"].as_str().expect("number").to_string());
        }
    }
    let full_order: Vec<String> = items
        .iter()
        .map(|n| n["number"].as_str().expect("number").to_string())
        .collect();
    assert_eq!(paged, full_order);

    let clamped = expect_status(
        app.get("/v1/numbers?limit=1000", &t.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(clamped["limit"], 200);
    let beyond = expect_status(
        app.get("/v1/numbers?offset=10", &t.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(beyond["numbers"], json!([]));
    assert_eq!(beyond["total"], 5);
    for bad in ["limit=-1", "limit=ten", "offset=x"] {
        let res = app.get(&format!("/v1/numbers?{bad}"), &t.key).await;
        expect_error(res, StatusCode::BAD_REQUEST, "validation_failed", None).await;
    }
}

async fn remove_statuses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("pilot", 100).await;
    let other = app.create_tenant("pilot", 100).await;
    for number in ["+15551110001", "+15551110002"] {
        expect_status(
            register(&app, &t, json!({"number": number})).await,
            StatusCode::CREATED,
        )
        .await;
    }

    // Another tenant cannot remove it.
    for path in ["/v1/numbers/+15551110001", "/v1/numbers/%2B15551110001"] {
        expect_error(
            app.delete(path, &other.key).await,
            StatusCode::NOT_FOUND,
            "not_found",
            Some("number"),
        )
        .await;
    }
    assert_eq!(numbers_of(&app, &t).await["total"], 2);

    // 200 in both encodings, then 404.
    for (path, number) in [
        ("/v1/numbers/+15551110001", "+15551110001"),
        ("/v1/numbers/%2B15551110002", "+15551110002"),
    ] {
        let body = expect_status(app.delete(path, &t.key).await, StatusCode::OK).await;
        assert_eq!(body, json!({"status": "removed", "number": number}));
        expect_error(
            app.delete(path, &t.key).await,
            StatusCode::NOT_FOUND,
            "not_found",
            Some("number"),
        )
        .await;
    }
    for path in [
        "/v1/numbers/+15550000000",
        "/v1/numbers/15551110001",
        "/v1/numbers/garbage",
    ] {
        expect_error(
            app.delete(path, &t.key).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        )
        .await;
    }
    assert_eq!(numbers_of(&app, &t).await["total"], 0);

    // A removed number is free for anyone to register.
    let res = register(&app, &other, json!({"number": "+15551110001"})).await;
    expect_status(res, StatusCode::CREATED).await;
}

async fn two_tenants_racing_for_one_number(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.create_tenant("enterprise", 100).await;
    let b = app.create_tenant("enterprise", 100).await;
    let mut won = [0, 0];
    for round in 0..10 {
        let number = format!("+1555200{round:04}");
        let body = json!({"number": number});
        let (ra, rb) = futures_util::join!(
            register(&app, &a, body.clone()),
            register(&app, &b, body.clone())
        );
        let (sa, sb) = (ra.status(), rb.status());
        let mut statuses = [sa.as_u16(), sb.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}: a={sa} b={sb}");
        let (winner, loser, loser_res) = if sa == StatusCode::CREATED {
            won[0] += 1;
            (&a, &b, rb)
        } else {
            won[1] += 1;
            (&b, &a, ra)
        };
        expect_error(loser_res, StatusCode::CONFLICT, "number_taken", None).await;
        let owned = numbers_of(&app, winner).await;
        assert!(
            owned["numbers"]
                .as_array()
                .expect("numbers")
                .iter()
                .any(|n| n["number"] == number.as_str()),
            "round {round}: the 201 tenant owns the number"
        );
        let lost = numbers_of(&app, loser).await;
        assert!(
            !lost["numbers"]
                .as_array()
                .expect("numbers")
                .iter()
                .any(|n| n["number"] == number.as_str())
        );
    }
    assert_eq!(won[0] + won[1], 10);

    // Many concurrent registrations of one number by the same tenant: one 201, the rest 200.
    let statuses: Vec<u16> =
        join_all((0..8).map(|_| register(&app, &a, json!({"number": "+15553000000"}))))
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        7,
        "{statuses:?}"
    );
}

async fn other_tenants_numbers_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.create_tenant("pilot", 100).await;
    let intruder = app.create_tenant("pilot", 100).await;
    let agent = create_agent(&app, &owner, "Owner's").await;
    let intruder_agent = create_agent(&app, &intruder, "Intruder's").await;
    let res = register(
        &app,
        &owner,
        json!({"number": "+15554440000", "agent_id": agent}),
    )
    .await;
    expect_status(res, StatusCode::CREATED).await;

    // Attach someone else's number, or attach one's own number to someone else's agent.
    let res = app
        .post(
            "/v1/numbers/+15554440000/attach",
            &intruder.key,
            json!({"agent_id": intruder_agent}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", Some("number")).await;
    expect_status(
        register(&app, &intruder, json!({"number": "+15554441111"})).await,
        StatusCode::CREATED,
    )
    .await;
    let res = app
        .post(
            "/v1/numbers/+15554441111/attach",
            &intruder.key,
            json!({"agent_id": agent}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", Some("agent_id")).await;
    let res = register(
        &app,
        &intruder,
        json!({"number": "+15554441111", "agent_id": agent}),
    )
    .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found", Some("agent_id")).await;
    expect_error(
        app.delete("/v1/numbers/+15554440000", &intruder.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;

    // The intruder's list shows only its own number; the owner's is untouched.
    let theirs = numbers_of(&app, &intruder).await;
    assert_eq!(theirs["total"], 1);
    assert_eq!(theirs["numbers"][0]["number"], "+15554441111");
    assert_eq!(theirs["numbers"][0]["agent_id"], Value::Null);
    let mine = numbers_of(&app, &owner).await;
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["numbers"][0]["agent_id"], agent.as_str());

    // Publishable keys and missing keys never reach the registry.
    let pk = expect_status(
        app.post("/v1/keys/publishable", &owner.key, json!({"label": "web"}))
            .await,
        StatusCode::CREATED,
    )
    .await["key"]
        .as_str()
        .expect("publishable key")
        .to_string();
    expect_error(
        app.get("/v1/numbers", &pk).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        None,
    )
    .await;
    let res = app
        .post("/v1/numbers", &pk, json!({"number": "+15554442222"}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    let res = app
        .request(reqwest::Method::GET, "/v1/agents", None)
        .send()
        .await
        .expect("GET");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}
