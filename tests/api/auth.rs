//! docs/API.md §2 auth: missing, unknown, revoked keys; publishable scope; staff vs tenant sides.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, expect_error, expect_status};
use crate::on_both_backends;

on_both_backends!(
    missing_and_unknown_keys_are_401,
    secret_key_reaches_auth_me,
    publishable_key_scope,
    staff_and_tenant_sides,
    regenerated_key_kills_the_old_one_at_once,
    key_guessing_never_locks_out_a_valid_key,
);

async fn missing_and_unknown_keys_are_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for token in [
        None,
        Some("hl_sk_doesnotexist"),
        Some("garbage"),
        Some("hl_staff_nope"),
    ] {
        let res = app
            .request(Method::GET, "/v1/auth/me", token)
            .send()
            .await
            .expect("send");
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer realm=\"helpline\""),
        );
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    }
    let res = app
        .client
        .get(app.url("/v1/auth/me"))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let res = app
        .request(Method::GET, "/admin/tenants", None)
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}

async fn secret_key_reaches_auth_me(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("base", 42).await;
    let me = expect_status(app.get("/v1/auth/me", &tenant.key).await, StatusCode::OK).await;
    assert_eq!(me["tenant_id"], tenant.id.as_str());
    assert_eq!(me["plan"], "base");
    assert_eq!(me["balance_cents"], 42);
    assert_eq!(
        me["limits"],
        json!({"requests_per_minute": 300, "burst": 25})
    );
    assert_eq!(me["key"]["type"], "secret");
    let prefix = me["key"]["prefix"].as_str().expect("prefix");
    assert!(tenant.key.starts_with(prefix) && prefix.len() < tenant.key.len());
}

async fn publishable_key_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100).await;
    let created = expect_status(
        app.post(
            "/v1/keys/publishable",
            &tenant.key,
            json!({"label": "website"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let pk = created["key"]
        .as_str()
        .expect("full key at creation")
        .to_string();
    assert!(pk.starts_with("hl_pk_"));
    let pk_id = created["id"].as_str().expect("id").to_string();

    // Listed without the full key.
    let list = expect_status(
        app.get("/v1/keys/publishable", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 1);
    assert!(list["data"][0].get("key").is_none());
    assert_eq!(list["data"][0]["label"], "website");

    // A publishable key may not manage the account.
    for (method, path) in [
        (Method::GET, "/v1/auth/me"),
        (Method::GET, "/v1/keys/publishable"),
        (Method::POST, "/v1/auth/regenerate-key"),
    ] {
        let res = app
            .request(method, path, Some(&pk))
            .send()
            .await
            .expect("send");
        expect_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    }
    // Nor reach /admin.
    expect_error(
        app.get("/admin/tenants", &pk).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    )
    .await;

    // Deleted: dead at once.
    expect_status(
        app.delete(&format!("/v1/keys/publishable/{pk_id}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        app.get("/v1/auth/me", &pk).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    expect_error(
        app.delete(&format!("/v1/keys/publishable/{pk_id}"), &tenant.key)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
}

async fn staff_and_tenant_sides(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("free", 10).await;
    expect_error(
        app.get("/admin/tenants", &tenant.key).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    )
    .await;
    expect_error(
        app.get("/v1/auth/me", &app.admin_token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    )
    .await;

    // A token from `staff create` works like the bootstrap token.
    let name = helpline::domain::validate::Name::parse("Dana", "name").expect("name");
    let (_, token) = helpline::tenants::provision::create_staff(&app.state.db, name)
        .await
        .expect("staff");
    expect_status(
        app.get("/admin/tenants", &token.token).await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        app.get("/v1/auth/me", &token.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    )
    .await;
}

async fn regenerated_key_kills_the_old_one_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other_node = app.another_node(&[]).await;
    let tenant = app.create_tenant("base", 10).await;
    // Warm both nodes' caches.
    expect_status(app.get("/v1/auth/me", &tenant.key).await, StatusCode::OK).await;
    expect_status(
        other_node.get("/v1/auth/me", &tenant.key).await,
        StatusCode::OK,
    )
    .await;

    let res = app
        .request(Method::POST, "/v1/auth/regenerate-key", Some(&tenant.key))
        .send()
        .await
        .expect("send");
    let body = expect_status(res, StatusCode::OK).await;
    let new_key = body["secret_key"].as_str().expect("new key").to_string();
    assert_ne!(new_key, tenant.key);

    // Dead at once on the node that revoked it, and the new key works.
    expect_error(
        app.get("/v1/auth/me", &tenant.key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    expect_status(app.get("/v1/auth/me", &new_key).await, StatusCode::OK).await;

    // Dead within 5 s on the other node.
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    loop {
        let status = other_node.get("/v1/auth/me", &tenant.key).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "old key still accepted after 6 s"
        );
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A key minted before checksums (40 random characters), stored as the database keeps it.
async fn legacy_key(app: &TestApp, tenant_id: &str) -> String {
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let token = format!("hl_sk_{}", uuid::Uuid::new_v4().simple()) + "00000000";
    entities::api_keys::Entity::insert(entities::api_keys::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        tenant_id: Set(tenant_id.parse().expect("uuid")),
        kind: Set(entities::values::KeyKind::Secret),
        prefix: Set(token[..14].to_string()),
        key_hash: Set(helpline::auth::keys::hash_token(&token)),
        label: Set(None),
        created_at: Set(chrono::Utc::now()),
        revoked_at: Set(None),
        allowed_origins: Set(None),
    })
    .exec(&app.state.db)
    .await
    .expect("legacy key");
    token
}

/// Someone guessing keys from the same IP (say, behind one load balancer) never gets a valid
/// key refused: junk is told apart offline by the checksum new keys carry, and a key from
/// before checksums that authenticated here recently is looked up too.
async fn key_guessing_never_locks_out_a_valid_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fresh = app.create_tenant("pilot", 100).await;
    let other = app.create_tenant("pilot", 100).await;
    let (_, staff) = helpline::tenants::provision::create_staff(
        &app.state.db,
        helpline::domain::validate::Name::parse("dana", "name").expect("name"),
    )
    .await
    .expect("staff");
    let old = legacy_key(&app, &other.id).await;
    let unseen_old = legacy_key(&app, &other.id).await;
    assert_eq!(old.len(), "hl_sk_".len() + 40);
    expect_status(app.get("/v1/auth/me", &old).await, StatusCode::OK).await;

    let app_ref = &app;
    let guess = |n: usize| {
        let token = if n.is_multiple_of(2) {
            format!("hl_sk_guess{n}")
        } else {
            // Shaped like a new key, with a checksum that does not hold.
            format!("hl_sk_{}{n:0>14}", uuid::Uuid::new_v4().simple())
        };
        async move { app_ref.get("/v1/auth/me", &token).await }
    };
    let mut refused = 0;
    for n in 0..16 {
        if guess(n).await.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused >= 3, "the guesser is refused: {refused}");

    // Valid, never cached keys from the guesser's IP: answered.
    expect_status(app.get("/v1/auth/me", &fresh.key).await, StatusCode::OK).await;
    expect_status(
        app.get("/admin/tenants", &staff.token).await,
        StatusCode::OK,
    )
    .await;
    // A key from before checksums, once its cache entry expired: known here, answered.
    actix_web::rt::time::sleep(Duration::from_millis(5_200)).await;
    for n in 0..12 {
        guess(n).await;
    }
    expect_status(app.get("/v1/auth/me", &old).await, StatusCode::OK).await;
    // One never seen here looks like any guess while its IP is refused (rotating it gives
    // a key with a checksum).
    let res = app.get("/v1/auth/me", &unseen_old).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Still a valid key once the IP is no longer refused.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    expect_status(app.get("/v1/auth/me", &unseen_old).await, StatusCode::OK).await;
}
