//! Admin tenant endpoints: create (key once), get, list, plan and limits, credits.
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, expect_error, expect_status};
use crate::on_both_backends;

on_both_backends!(admin_tenant_lifecycle, credits_go_through_the_ledger);

async fn admin_tenant_lifecycle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token.clone();
    let created = expect_status(
        app.post(
            "/admin/tenants",
            &admin,
            json!({"name": "Globex", "email": "Ops@Globex.Example"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let tenant = &created["tenant"];
    assert_eq!(tenant["plan"], "free");
    assert_eq!(
        tenant["balance_cents"], 100,
        "HELPLINE_START_BALANCE_CENTS default"
    );
    assert_eq!(tenant["email"], "Ops@globex.example");
    assert_eq!(
        tenant["limits"],
        json!({"requests_per_minute": 60, "burst": 5})
    );
    let id = tenant["id"].as_str().expect("id").to_string();
    assert!(
        created["secret_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("hl_sk_"))
    );

    let fetched = expect_status(
        app.get(&format!("/admin/tenants/{id}"), &admin).await,
        StatusCode::OK,
    )
    .await;
    assert!(fetched.get("secret_key").is_none(), "the key is shown once");
    assert_eq!(fetched["name"], "Globex");

    let patched = expect_status(
        app.patch(
            &format!("/admin/tenants/{id}"),
            &admin,
            json!({"plan": "enterprise"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["limits"], "unlimited");
    let patched = expect_status(
        app.patch(
            &format!("/admin/tenants/{id}"),
            &admin,
            json!({"limits": {"requests_per_minute": 5, "burst": 2}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        patched["limits"],
        json!({"requests_per_minute": 5, "burst": 2})
    );
    assert_eq!(patched["limits_source"], "override");
    let patched = expect_status(
        app.patch(
            &format!("/admin/tenants/{id}"),
            &admin,
            json!({"limits": null}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["limits"], "unlimited");
    assert_eq!(patched["limits_source"], "plan");
    let res = app
        .patch(
            &format!("/admin/tenants/{id}"),
            &admin,
            json!({"limits": {"requests_per_minute": 0, "burst": 2}}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("limits.requests_per_minute"),
    )
    .await;
    let res = app
        .patch(
            &format!("/admin/tenants/{id}"),
            &admin,
            json!({"limits": "lots"}),
        )
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("limits"),
    )
    .await;

    for missing in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        expect_error(
            app.get(&format!("/admin/tenants/{missing}"), &admin).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        )
        .await;
    }
}

async fn credits_go_through_the_ledger(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token.clone();
    let tenant = app.create_tenant("base", 5).await;
    let path = format!("/admin/tenants/{}/credits", tenant.id);
    let credited = expect_status(
        app.post(
            &path,
            &admin,
            json!({"amount_cents": 250, "note": "goodwill"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(credited["balance_cents"], 255);
    assert_eq!(credited["entry"]["kind"], "top_up");
    assert_eq!(credited["entry"]["amount_cents"], 250);
    for bad in [
        json!({"amount_cents": 0}),
        json!({"amount_cents": -5}),
        json!({}),
    ] {
        expect_error(
            app.post(&path, &admin, bad).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("amount_cents"),
        )
        .await;
    }
    // 20 parallel credits all land.
    let futures = (0..20).map(|_| app.post(&path, &admin, json!({"amount_cents": 1})));
    for res in futures_util::future::join_all(futures).await {
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let me = expect_status(app.get("/v1/auth/me", &tenant.key).await, StatusCode::OK).await;
    assert_eq!(me["balance_cents"], 275);
}
