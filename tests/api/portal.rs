//! Publishable keys in browsers (CORS on the two publishable operations, `allowed_origins`,
//! `403 origin_not_allowed`) and the Support tab's single-use links
//! (`POST /v1/portal/sessions`).
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;
use crate::tickets::ticket_body;

on_both_backends!(
    preflights_are_answered_per_operation,
    cors_headers_only_for_publishable_operations_and_never_secret_keys,
    allowed_origins_are_validated_listed_and_enforced,
    refusals_stay_readable_in_the_browser,
    portal_links_are_secret_key_only_and_validated,
    portal_links_open_once_within_five_minutes,
);

const SITE: &str = "https://acme.example";
const OTHER_SITE: &str = "https://evil.example";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn allowed_origin(res: &Response) -> Option<String> {
    header(res.headers(), "access-control-allow-origin").map(str::to_string)
}

fn varies_on_origin(res: &Response) -> bool {
    res.headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case("origin"))
        })
}

/// Each call comes from its own client address (through a trusted proxy), so the per-IP
/// limit on publishable-key traffic (burst 5) never gets in the way of what is tested.
async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[("HELPLINE_TRUSTED_PROXIES", "127.0.0.1")]).await
}

fn from_browser(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    origin: &str,
) -> reqwest::RequestBuilder {
    let ip = format!("203.0.113.{}", rand_octet());
    app.request(method, path, key)
        .header("Origin", origin)
        .header("X-Forwarded-For", ip)
}

fn rand_octet() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed).max(1)
}

async fn preflight(app: &TestApp, path: &str, method: &str, origin: &str) -> Response {
    app.request(Method::OPTIONS, path, None)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .expect("preflight")
}

async fn publishable_key(app: &TestApp, tenant: &TestTenant, body: Value) -> Value {
    expect_status(
        app.post("/v1/keys/publishable", &tenant.key, body).await,
        StatusCode::CREATED,
    )
    .await
}

async fn ticket_count(app: &TestApp) -> u64 {
    entities::tickets::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count")
}

async fn preflights_are_answered_per_operation(backend: Backend) {
    let app = spawn(backend).await;
    for (path, method) in [
        ("/v1/support/tickets", "POST"),
        ("/v1/support/status", "GET"),
    ] {
        let res = preflight(&app, path, method, SITE).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{method} {path}");
        let h = res.headers();
        assert_eq!(header(h, "access-control-allow-origin"), Some(SITE));
        assert_eq!(header(h, "access-control-allow-methods"), Some(method));
        let allowed = header(h, "access-control-allow-headers")
            .expect("allow-headers")
            .to_ascii_lowercase();
        for needed in ["authorization", "content-type", "idempotency-key"] {
            assert!(allowed.contains(needed), "{allowed} lacks {needed}");
        }
        assert_eq!(header(h, "access-control-max-age"), Some("7200"));
        assert!(varies_on_origin(&res));
        assert!(
            header(h, "access-control-allow-credentials").is_none(),
            "no credentials mode"
        );
    }
    // Any origin gets the preflight: it carries no key, so origins are judged on the
    // request itself.
    let res = preflight(&app, "/v1/support/tickets", "POST", OTHER_SITE).await;
    assert_eq!(allowed_origin(&res).as_deref(), Some(OTHER_SITE));

    // Preflights for anything a publishable key cannot call: the router's answer, no CORS.
    for (path, method) in [
        ("/v1/support/tickets", "GET"),
        ("/v1/support/tickets", "DELETE"),
        ("/v1/support/status", "PUT"),
        (
            "/v1/support/tickets/tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b",
            "PATCH",
        ),
        (
            "/v1/support/tickets/tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b/messages",
            "POST",
        ),
        ("/v1/billing/balance", "GET"),
        ("/v1/portal/sessions", "POST"),
        ("/v1/keys/publishable", "POST"),
        ("/admin/support/tickets", "GET"),
        ("/v1/nowhere", "GET"),
    ] {
        let res = preflight(&app, path, method, SITE).await;
        assert_ne!(res.status(), StatusCode::NO_CONTENT, "{method} {path}");
        assert_eq!(allowed_origin(&res), None, "{method} {path}");
        assert!(
            header(res.headers(), "access-control-allow-methods").is_none(),
            "{method} {path}"
        );
    }
}

async fn cors_headers_only_for_publishable_operations_and_never_secret_keys(backend: Backend) {
    let app = spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 1000).await;
    let pk = publishable_key(&app, &tenant, json!({"label": "site"})).await["key"]
        .as_str()
        .expect("key")
        .to_string();

    // A publishable key from a page: readable, with the headers a page needs exposed.
    let res = from_browser(&app, Method::POST, "/v1/support/tickets", Some(&pk), SITE)
        .header("Idempotency-Key", "browser-1")
        .json(&ticket_body("Widget cannot load"))
        .send()
        .await
        .expect("create");
    assert_eq!(allowed_origin(&res).as_deref(), Some(SITE));
    assert!(varies_on_origin(&res));
    let exposed = header(res.headers(), "access-control-expose-headers")
        .expect("expose")
        .to_ascii_lowercase();
    for needed in [
        "x-request-id",
        "idempotent-replayed",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "retry-after",
    ] {
        assert!(exposed.contains(needed), "{exposed} lacks {needed}");
    }
    expect_status(res, StatusCode::OK).await;

    // The banner needs no key at all.
    let res = from_browser(&app, Method::GET, "/v1/support/status", None, SITE)
        .send()
        .await
        .expect("status");
    assert_eq!(allowed_origin(&res).as_deref(), Some(SITE));
    let banner = expect_status(res, StatusCode::OK).await;
    assert_eq!(banner["status"], "operational");
    let res = from_browser(&app, Method::GET, "/v1/support/status", Some(&pk), SITE)
        .send()
        .await
        .expect("status");
    assert_eq!(allowed_origin(&res).as_deref(), Some(SITE));

    // A secret key never gets CORS, not even on the publishable operations: the browser
    // keeps the answer from the page.
    let before = ticket_count(&app).await;
    for (method, path) in [
        (Method::POST, "/v1/support/tickets"),
        (Method::GET, "/v1/support/status"),
        (Method::GET, "/v1/support/tickets"),
        (Method::GET, "/v1/billing/balance"),
    ] {
        let mut req = from_browser(&app, method.clone(), path, Some(&tenant.key), SITE);
        if method == Method::POST {
            req = req.json(&ticket_body("Secret key in a page"));
        }
        let res = req.send().await.expect("secret");
        assert!(
            res.status().is_success(),
            "{method} {path}: {}",
            res.status()
        );
        assert_eq!(allowed_origin(&res), None, "{method} {path}");
        assert!(
            header(res.headers(), "access-control-expose-headers").is_none(),
            "{method} {path}"
        );
    }
    assert_eq!(ticket_count(&app).await, before + 1);
    // Nor does an operator token.
    let res = from_browser(
        &app,
        Method::GET,
        "/v1/support/status",
        Some(&app.admin_token),
        SITE,
    )
    .send()
    .await
    .expect("staff");
    assert_eq!(allowed_origin(&res), None);

    // Routes a publishable key cannot call: no CORS, whoever calls.
    let ticket_id = {
        let res = app
            .post(
                "/v1/support/tickets",
                &tenant.key,
                ticket_body("Server side"),
            )
            .await;
        expect_status(res, StatusCode::OK).await["ticket"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    for (method, path) in [
        (Method::GET, "/v1/support/tickets".to_string()),
        (Method::GET, format!("/v1/support/tickets/{ticket_id}")),
        (
            Method::POST,
            format!("/v1/support/tickets/{ticket_id}/messages"),
        ),
        (Method::GET, "/v1/keys/publishable".to_string()),
    ] {
        let res = from_browser(&app, method.clone(), &path, Some(&pk), SITE)
            .json(&json!({"body": "hi"}))
            .send()
            .await
            .expect("scope");
        assert_eq!(allowed_origin(&res), None, "{method} {path}");
        assert!(!varies_on_origin(&res), "{method} {path}");
        expect_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    }

    // Without `Origin` (a server calling) nothing CORS is added, but caches are told the
    // answer depends on it.
    let res = app
        .request(Method::GET, "/v1/support/status", None)
        .send()
        .await
        .expect("status");
    assert_eq!(allowed_origin(&res), None);
    assert!(varies_on_origin(&res));
}

async fn allowed_origins_are_validated_listed_and_enforced(backend: Backend) {
    let app = spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 1000).await;

    // Validation: each refusal names the field and creates nothing.
    let too_many: Vec<String> = (0..21).map(|i| format!("https://s{i}.example")).collect();
    for bad in [
        json!(["https://acme.example/app"]),
        json!(["https://*.acme.example"]),
        json!(["acme.example"]),
        json!(["ftp://acme.example"]),
        json!(["https://acme.example?x=1"]),
        json!([]),
        json!(too_many),
    ] {
        let res = app
            .post(
                "/v1/keys/publishable",
                &tenant.key,
                json!({"label": "site", "allowed_origins": bad}),
            )
            .await;
        expect_error(
            res,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("allowed_origins"),
        )
        .await;
    }
    let res = app
        .post(
            "/v1/keys/publishable",
            &tenant.key,
            json!({"allowed_origins": "https://acme.example"}),
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "validation_failed", None).await;
    let listed = expect_status(
        app.get("/v1/keys/publishable", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["total"], 0, "refused keys were not created");

    // Origins are kept as browsers send them; a key without a list allows any origin.
    let restricted = publishable_key(
        &app,
        &tenant,
        json!({"label": "site", "allowed_origins": ["https://ACME.example/", "http://localhost:3000", "https://acme.example"]}),
    )
    .await;
    assert_eq!(
        restricted["allowed_origins"],
        json!(["https://acme.example", "http://localhost:3000"])
    );
    let open = publishable_key(&app, &tenant, json!({"label": "anywhere"})).await;
    assert_eq!(open["allowed_origins"], Value::Null);
    let listed = expect_status(
        app.get("/v1/keys/publishable", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    let by_label = |label: &str| {
        listed["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|k| k["label"] == label)
            .cloned()
            .expect("listed")
    };
    assert_eq!(
        by_label("site")["allowed_origins"],
        json!(["https://acme.example", "http://localhost:3000"])
    );
    assert_eq!(by_label("anywhere")["allowed_origins"], Value::Null);
    assert!(
        by_label("site").get("key").is_none(),
        "the key is shown once"
    );

    let restricted_key = restricted["key"].as_str().expect("key");
    let open_key = open["key"].as_str().expect("key");
    let create = |key: &str, origin: Option<&str>, subject: &str| {
        let mut req = app
            .request(Method::POST, "/v1/support/tickets", Some(key))
            .header("X-Forwarded-For", format!("198.51.100.{}", rand_octet()))
            .json(&ticket_body(subject));
        if let Some(origin) = origin {
            req = req.header("Origin", origin);
        }
        req.send()
    };

    // A listed origin, and no origin at all (a server), are served.
    let res = create(restricted_key, Some(SITE), "From the listed site")
        .await
        .expect("send");
    assert_eq!(allowed_origin(&res).as_deref(), Some(SITE));
    expect_status(res, StatusCode::OK).await;
    let res = create(restricted_key, Some("http://localhost:3000"), "From dev")
        .await
        .expect("send");
    expect_status(res, StatusCode::OK).await;
    let res = create(restricted_key, None, "From a server")
        .await
        .expect("send");
    expect_status(res, StatusCode::OK).await;

    // Another origin: 403 origin_not_allowed, and nothing is created.
    let before = ticket_count(&app).await;
    for origin in [
        OTHER_SITE,
        "https://acme.example:8443",
        "http://acme.example",
        "null",
    ] {
        let res = create(restricted_key, Some(origin), "From elsewhere")
            .await
            .expect("send");
        expect_error(
            res,
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            Some(origin),
        )
        .await;
    }
    let res = from_browser(
        &app,
        Method::GET,
        "/v1/support/status",
        Some(restricted_key),
        OTHER_SITE,
    )
    .send()
    .await
    .expect("status");
    expect_error(res, StatusCode::FORBIDDEN, "origin_not_allowed", None).await;
    assert_eq!(ticket_count(&app).await, before);

    // The unrestricted key works from anywhere.
    let res = create(open_key, Some(OTHER_SITE), "From anywhere")
        .await
        .expect("send");
    assert_eq!(allowed_origin(&res).as_deref(), Some(OTHER_SITE));
    expect_status(res, StatusCode::OK).await;
}

async fn refusals_stay_readable_in_the_browser(backend: Backend) {
    let app = spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 1000).await;
    let restricted = publishable_key(&app, &tenant, json!({"allowed_origins": [SITE]})).await;
    let key = restricted["key"].as_str().expect("key");

    // A disallowed origin can read why it was refused.
    let res = from_browser(
        &app,
        Method::POST,
        "/v1/support/tickets",
        Some(key),
        OTHER_SITE,
    )
    .json(&ticket_body("Elsewhere"))
    .send()
    .await
    .expect("send");
    assert_eq!(allowed_origin(&res).as_deref(), Some(OTHER_SITE));
    expect_error(res, StatusCode::FORBIDDEN, "origin_not_allowed", None).await;

    // A missing or unknown key too (a page that forgot its key).
    let res = from_browser(&app, Method::POST, "/v1/support/tickets", None, SITE)
        .json(&ticket_body("No key"))
        .send()
        .await
        .expect("send");
    assert_eq!(allowed_origin(&res).as_deref(), Some(SITE));
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;

    // A rate-limited page reads its Retry-After: one client address over its burst of 5.
    let mut last = None;
    for i in 0..8 {
        let res = app
            .request(Method::POST, "/v1/support/tickets", Some(key))
            .header("Origin", SITE)
            .header("X-Forwarded-For", "192.0.2.77")
            .json(&ticket_body(&format!("Burst {i}")))
            .send()
            .await
            .expect("send");
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            last = Some(res);
            break;
        }
    }
    let limited = last.expect("the per-IP limit refuses within 8 requests");
    assert_eq!(allowed_origin(&limited).as_deref(), Some(SITE));
    assert!(header(limited.headers(), "retry-after").is_some());
    expect_error(
        limited,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        Some("ip"),
    )
    .await;
}

async fn portal_link_rows(app: &TestApp) -> Vec<entities::portal_links::Model> {
    entities::portal_links::Entity::find()
        .all(&app.state.db)
        .await
        .expect("links")
}

fn token_of(url: &str) -> String {
    url.split_once("token=").expect("token").1.to_string()
}

async fn portal_links_are_secret_key_only_and_validated(backend: Backend) {
    let app = spawn(backend).await;
    let tenant = app.create_tenant("base", 100).await;
    let pk = publishable_key(&app, &tenant, json!({"label": "site"})).await["key"]
        .as_str()
        .expect("key")
        .to_string();

    // Only the secret key: not a publishable key, an operator token or no key.
    let res = app.post("/v1/portal/sessions", &pk, json!({})).await;
    expect_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    let res = app
        .post("/v1/portal/sessions", &app.admin_token, json!({}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden", None).await;
    let res = app
        .request(Method::POST, "/v1/portal/sessions", None)
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;

    // Bad bodies: a clear error, nothing stored.
    for (body, code, detail) in [
        (
            json!({"return_url": "http://console.acme.example/"}),
            "validation_failed",
            "return_url",
        ),
        (
            json!({"return_url": "javascript:alert(1)"}),
            "validation_failed",
            "return_url",
        ),
        (
            json!({"return_url": "/settings"}),
            "validation_failed",
            "return_url",
        ),
        (json!({"return_url": 7}), "validation_failed", "return_url"),
        (json!({"customer": "x"}), "unknown_field", "customer"),
    ] {
        let res = app.post("/v1/portal/sessions", &tenant.key, body).await;
        expect_error(res, StatusCode::BAD_REQUEST, code, Some(detail)).await;
    }
    let res = app
        .request(Method::POST, "/v1/portal/sessions", Some(&tenant.key))
        .header("Content-Type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("send");
    expect_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    )
    .await;
    assert!(portal_link_rows(&app).await.is_empty());

    // No body at all, or `{}`: a link on the public URL (here the server's own address).
    let started = chrono::Utc::now();
    let res = app
        .request(Method::POST, "/v1/portal/sessions", Some(&tenant.key))
        .send()
        .await
        .expect("send");
    assert_eq!(allowed_origin(&res), None, "no CORS on a secret-key route");
    let link = expect_status(res, StatusCode::CREATED).await;
    assert_eq!(link["object"], "portal_session");
    let url = link["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("{}/portal/start?token=", app.base)),
        "{url}"
    );
    let expires: chrono::DateTime<chrono::Utc> = link["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("rfc3339");
    let ttl = expires - started;
    assert!(
        ttl > chrono::Duration::seconds(290) && ttl <= chrono::Duration::seconds(305),
        "{ttl}"
    );
    assert_eq!(link["return_url"], Value::Null);

    let with_return = expect_status(
        app.post(
            "/v1/portal/sessions",
            &tenant.key,
            json!({"return_url": "https://console.acme.example/settings?tab=support"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        with_return["return_url"],
        "https://console.acme.example/settings?tab=support"
    );
    let local = expect_status(
        app.post(
            "/v1/portal/sessions",
            &tenant.key,
            json!({"return_url": "http://localhost:3000/back"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(local["return_url"], "http://localhost:3000/back");

    // Stored hashed: no row holds a token.
    let rows = portal_link_rows(&app).await;
    assert_eq!(rows.len(), 3);
    let dump = format!("{rows:?}");
    for made in [&link, &with_return, &local] {
        let token = token_of(made["url"].as_str().expect("url"));
        assert!(token.len() >= 40, "{token}");
        assert!(!dump.contains(&token), "a token is stored in clear");
    }

    // An Idempotency-Key replays the same link rather than minting a second one.
    let send = || {
        app.request(Method::POST, "/v1/portal/sessions", Some(&tenant.key))
            .header("Idempotency-Key", "portal-1")
            .json(&json!({}))
            .send()
    };
    let first = expect_status(send().await.expect("send"), StatusCode::CREATED).await;
    let replay = send().await.expect("send");
    assert_eq!(
        header(replay.headers(), "idempotent-replayed"),
        Some("true")
    );
    let replay = expect_status(replay, StatusCode::CREATED).await;
    assert_eq!(first["url"], replay["url"]);
    assert_eq!(portal_link_rows(&app).await.len(), 4);

    // HELPLINE_PUBLIC_URL is the links' base.
    let public = TestApp::spawn_with(
        backend,
        &[("HELPLINE_PUBLIC_URL", "https://support.example.com/")],
    )
    .await;
    let other = public.create_tenant("base", 100).await;
    let link = expect_status(
        public
            .post("/v1/portal/sessions", &other.key, json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert!(
        link["url"]
            .as_str()
            .expect("url")
            .starts_with("https://support.example.com/portal/start?token="),
        "{link}"
    );
}

async fn portal_links_open_once_within_five_minutes(backend: Backend) {
    use helpline::portal::{PortalError, links};
    let app = spawn(backend).await;
    let tenant = app.create_tenant("base", 100).await;
    let create = || async {
        let link = expect_status(
            app.post(
                "/v1/portal/sessions",
                &tenant.key,
                json!({"return_url": "https://console.acme.example/"}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        token_of(link["url"].as_str().expect("url"))
    };
    let db = &app.state.db;
    let now = chrono::Utc::now;

    // Eight opens at once on one link: exactly one wins, the rest see it used.
    let token = create().await;
    let opens: Vec<_> = (0..8).map(|_| links::open(db, &token, now())).collect();
    let results = futures_util::future::join_all(opens).await;
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert_eq!(won[0].tenant_id.to_string(), tenant.id);
    assert_eq!(
        won[0].return_url.as_deref(),
        Some("https://console.acme.example/")
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, PortalError::LinkUsed { .. })),
        "{results:?}"
    );
    // And later too.
    assert!(matches!(
        links::open(db, &token, now()).await,
        Err(PortalError::LinkUsed { .. })
    ));

    // Past its five minutes a link no longer opens, and stays unused.
    let token = create().await;
    let later = now() + chrono::Duration::seconds(301);
    assert!(matches!(
        links::open(db, &token, later).await,
        Err(PortalError::LinkExpired { .. })
    ));
    let just_in_time = now() + chrono::Duration::seconds(295);
    assert!(links::open(db, &token, just_in_time).await.is_ok());

    // A token that was never issued.
    assert!(matches!(
        links::open(db, "not-a-token", now()).await,
        Err(PortalError::UnknownLink)
    ));

    // Expired links are purged a day after they expire.
    let purged = links::purge_expired(db, now() + chrono::Duration::days(2))
        .await
        .expect("purge");
    assert_eq!(purged, 2);
    assert!(portal_link_rows(&app).await.is_empty());
}

#[actix_web::test]
async fn openapi_documents_portal_links_and_allowed_origins() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = crate::openapi::fetch_document(&app).await;
    let op = &doc["paths"]["/v1/portal/sessions"]["post"];
    assert!(op["responses"].get("201").is_some(), "{op}");
    assert_eq!(op["security"], json!([{"secret_key": []}]));
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["PublishableKeyIn"]["properties"]
            .get("allowed_origins")
            .is_some()
    );
    assert!(
        schemas["PublishableKeyOut"]["properties"]
            .get("allowed_origins")
            .is_some()
    );
    let create = &doc["paths"]["/v1/support/tickets"]["post"];
    assert!(
        create["description"]
            .as_str()
            .is_some_and(|d| d.contains("origin_not_allowed")),
        "{create}"
    );
    crate::helpers::shutdown_all().await;
}
