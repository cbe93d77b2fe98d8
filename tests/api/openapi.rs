//! `GET /openapi.json` (docs/API.md §11): an OpenAPI 3.1 document, and the document and the router
//! agree both ways — every route is documented, and every documented operation is routed.
use std::collections::{BTreeSet, HashSet};

use actix_web::{App, test as actix_test};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_status, shutdown_all};

/// Every route of docs/API.md, plus the document itself and its HTML page.
const CONTRACT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    // §4 tickets
    ("POST", "/v1/support/tickets"),
    ("GET", "/v1/support/tickets"),
    ("GET", "/v1/support/tickets/{id}"),
    ("PATCH", "/v1/support/tickets/{id}"),
    ("GET", "/v1/support/tickets/{id}/messages"),
    ("POST", "/v1/support/tickets/{id}/messages"),
    ("GET", "/v1/support/tickets/{id}/events"),
    ("GET", "/v1/billing/balance"),
    ("GET", "/v1/billing/ledger"),
    ("GET", "/v1/analytics/spend"),
    ("GET", "/v1/support/status"),
    // §5 webhooks
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{id}"),
    ("PATCH", "/v1/webhooks/{id}"),
    ("DELETE", "/v1/webhooks/{id}"),
    ("POST", "/v1/webhooks/{id}/rotate-secret"),
    ("POST", "/v1/webhooks/{id}/test"),
    ("GET", "/v1/webhooks/{id}/deliveries"),
    ("POST", "/v1/webhooks/{id}/deliveries/{delivery}/retry"),
    // §6 notifications
    ("GET", "/v1/notifications"),
    ("PUT", "/v1/notifications/{id}/read"),
    ("PUT", "/v1/notifications/read-all"),
    ("GET", "/v1/notifications/preferences"),
    ("PUT", "/v1/notifications/preferences"),
    // §7 operators
    ("GET", "/admin/support/tickets"),
    ("GET", "/admin/support/tickets/{id}"),
    ("PATCH", "/admin/support/tickets/{id}"),
    ("POST", "/admin/support/tickets/{id}/reply"),
    ("POST", "/admin/support/tickets/{id}/bounty"),
    ("POST", "/admin/support/tickets/{id}/merge"),
    ("GET", "/admin/staff"),
    ("GET", "/admin/macros"),
    ("POST", "/admin/macros"),
    ("GET", "/admin/macros/{id}"),
    ("PATCH", "/admin/macros/{id}"),
    ("DELETE", "/admin/macros/{id}"),
    ("GET", "/admin/bots"),
    ("POST", "/admin/bots"),
    ("DELETE", "/admin/bots/{id}"),
    ("POST", "/admin/tenants"),
    ("GET", "/admin/tenants"),
    ("GET", "/admin/tenants/{id}"),
    ("PATCH", "/admin/tenants/{id}"),
    ("POST", "/admin/tenants/{id}/credits"),
    ("POST", "/admin/tenants/{id}/erasure"),
    ("PUT", "/admin/support/status"),
    ("GET", "/admin/queues"),
    ("GET", "/admin/queues/{queue}/jobs"),
    ("POST", "/admin/queues/{queue}/jobs/{id}/retry"),
    // §8 numbers and agents
    ("POST", "/v1/agents"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/agents/{id}"),
    ("PUT", "/v1/agents/{id}"),
    ("DELETE", "/v1/agents/{id}"),
    ("POST", "/v1/numbers"),
    ("GET", "/v1/numbers"),
    ("POST", "/v1/numbers/{number}/attach"),
    ("DELETE", "/v1/numbers/{number}"),
    // §9 keys and account
    ("GET", "/v1/auth/me"),
    ("POST", "/v1/auth/regenerate-key"),
    ("GET", "/v1/keys/publishable"),
    ("POST", "/v1/keys/publishable"),
    ("DELETE", "/v1/keys/publishable/{id}"),
    ("GET", "/v1/account/export"),
    ("POST", "/v1/account/erasure"),
    ("GET", "/v1/account/erasure"),
    // the event feed
    ("GET", "/v1/events"),
    ("GET", "/v1/events/stream"),
    ("GET", "/admin/events"),
    ("GET", "/admin/events/stream"),
    // the Support tab
    ("POST", "/v1/portal/sessions"),
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `(METHOD, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let upper = method.to_uppercase();
            if METHODS.contains(&upper.as_str()) {
                ops.insert((upper, path.clone()));
            }
        }
    }
    ops
}

/// Every `$ref` in `value`, recursively.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(r) = v.as_str()
                {
                    out.push(r);
                }
                refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

pub async fn fetch_document(app: &TestApp) -> Value {
    let res = app
        .request(Method::GET, "/openapi.json", None)
        .send()
        .await
        .expect("GET /openapi.json");
    assert!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "content type"
    );
    expect_status(res, StatusCode::OK).await
}

#[actix_web::test]
async fn document_is_openapi_3_1_and_covers_the_spec() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = fetch_document(&app).await;

    // The shape OpenAPI 3.1 requires.
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "openapi: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        doc["info"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    let schemes = &doc["components"]["securitySchemes"];
    for name in ["secret_key", "publishable_key", "staff_token", "bot_token"] {
        assert_eq!(schemes[name]["type"], "http", "{name}");
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
    }
    let mut all_refs = Vec::new();
    refs(&doc, &mut all_refs);
    assert!(!all_refs.is_empty());
    for r in all_refs {
        let pointer = r.strip_prefix('#').expect("local $ref");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    let mut operation_ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(operation_ids.insert(id.to_string()), "duplicate {id}");
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success response"
            );
            for status in ["401", "429", "500"] {
                assert!(responses.contains_key(status), "{method} {path}: {status}");
            }
            let path_params: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(templated, path_params, "{method} {path}: path parameters");
            // Security: public routes have none; the rest name known schemes.
            let public = matches!(
                path.as_str(),
                "/healthz" | "/readyz" | "/openapi.json" | "/docs" | "/v1/support/status"
            );
            match op["security"].as_array().filter(|reqs| !reqs.is_empty()) {
                None => {
                    assert!(public, "{method} {path} has no security");
                    assert_eq!(
                        op["security"],
                        json!([]),
                        "{method} {path}: explicitly public"
                    );
                }
                Some(reqs) => {
                    assert!(!public, "{method} {path} is public");
                    assert!(responses.contains_key("403"), "{method} {path}: 403");
                    for req in reqs {
                        for name in req.as_object().expect("requirement").keys() {
                            assert!(schemes.get(name).is_some(), "{method} {path}: {name}");
                        }
                    }
                    let expected = if path.starts_with("/admin") || path == "/metrics" {
                        "staff_token"
                    } else {
                        "secret_key"
                    };
                    assert!(
                        reqs.iter().any(|r| r.get(expected).is_some()),
                        "{method} {path} needs {expected}"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
        }
    }
    // Only ticket creation accepts a publishable key.
    let create = &doc["paths"]["/v1/support/tickets"]["post"];
    assert!(
        create["security"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r.get("publishable_key").is_some()))
    );
    // Examples of ticket creation.
    assert!(create["requestBody"]["content"]["application/json"]["example"]["subject"].is_string());
    assert!(
        create["responses"]["200"]["content"]["application/json"]["example"]["ticket"]["id"]
            .is_string()
    );

    let spec: BTreeSet<(String, String)> = CONTRACT_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let documented = documented(&doc);
    let missing: Vec<_> = spec.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&spec).collect();
    assert!(
        missing.is_empty(),
        "contract routes not documented: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "documented routes not in the contract: {extra:?}"
    );

    let res = app
        .request(Method::GET, "/docs", None)
        .send()
        .await
        .expect("GET /docs");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
    );
    let page = res.text().await.expect("page");
    for (_, path) in CONTRACT_ROUTES {
        assert!(page.contains(path), "/docs lacks {path}");
    }
    shutdown_all().await;
}

/// A concrete path for a documented template.
fn concrete(template: &str) -> String {
    template
        .replace("{number}", "%2B15550001111")
        .replace("{queue}", "email")
        .split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The router's own 404 (no route), as opposed to a handler's "no such resource".
async fn is_unrouted(res: reqwest::Response) -> (StatusCode, bool) {
    let status = res.status();
    if status != StatusCode::METHOD_NOT_ALLOWED && status != StatusCode::NOT_FOUND {
        // Routed. (An event stream's body never ends: it is not read.)
        return (status, false);
    }
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["error"] == "No such route");
    (status, unrouted)
}

#[actix_web::test]
async fn every_documented_operation_is_routed_and_nothing_else() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.create_tenant("enterprise", 1_000).await;
    let doc = fetch_document(&app).await;
    let documented = documented(&doc);

    // Regenerating the key revokes it: probe that one last.
    let mut ops: Vec<_> = documented.iter().collect();
    ops.sort_by_key(|(_, p)| p == "/v1/auth/regenerate-key");
    for (method, path) in ops {
        let token = if path.starts_with("/admin") {
            app.admin_token.as_str()
        } else {
            tenant.key.as_str()
        };
        let method: Method = method.parse().expect("method");
        let mut req = app.request(method.clone(), &concrete(path), Some(token));
        if doc["paths"][path][method.as_str().to_lowercase()]
            .get("requestBody")
            .is_some()
        {
            req = req.json(&json!({}));
        }
        let (status, unrouted) = is_unrouted(req.send().await.expect("send")).await;
        assert!(
            !unrouted,
            "{method} {path} is documented but not routed ({status})"
        );
    }

    // Methods a documented path does not document are not routed either.
    let tenant = app.create_tenant("enterprise", 1_000).await;
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let token = if path.starts_with("/admin") {
            app.admin_token.as_str()
        } else {
            tenant.key.as_str()
        };
        for method in METHODS {
            if documented.contains(&(method.to_string(), path.clone())) {
                continue;
            }
            let res = app
                .request(
                    method.parse().expect("method"),
                    &concrete(path),
                    Some(token),
                )
                .send()
                .await
                .expect("send");
            assert_eq!(
                res.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} answers but is not documented"
            );
        }
    }
    shutdown_all().await;
}

/// The router's template for each documented path is that very template (same segments,
/// same parameter names), checked against actix's own resource map.
#[actix_web::test]
async fn documented_templates_are_the_router_templates() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = fetch_document(&app).await;
    let service = actix_test::init_service(App::new().configure(helpline::app::configure)).await;
    let res = actix_test::call_service(
        &service,
        actix_test::TestRequest::get().uri("/healthz").to_request(),
    )
    .await;
    assert!(res.status().is_success());
    let map = res.request().resource_map();
    for (_, path) in documented(&doc) {
        assert_eq!(
            map.match_pattern(&path).as_deref(),
            Some(path.as_str()),
            "the router's template for {path}"
        );
    }
    shutdown_all().await;
}

/// Every `web::resource(...)` registered under `src/http`, with its methods, is documented;
/// the browser pages (`src/http/web/`: the console, its assets) are not the JSON API and are
/// listed in docs/API.md instead.
#[test]
fn every_registered_resource_is_documented() {
    let doc: Value =
        serde_json::from_str(&helpline::http::openapi::json()).expect("document is JSON");
    let documented = documented(&doc);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = vec![root.clone()];
    let mut registered = Vec::new();
    while let Some(dir) = files.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/http") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if path != root.join("web") {
                    files.push(path);
                }
                continue;
            }
            // The Support tab's HTML pages, like the console's, are not JSON API routes.
            if path == root.join("portal").join("pages.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let chunks: Vec<&str> = text.split("web::resource(\"").skip(1).collect();
            for chunk in chunks {
                let Some((pattern, rest)) = chunk.split_once('"') else {
                    continue;
                };
                // The routes chained on this resource, up to the next registration.
                let chain = rest.split(".service(").next().unwrap_or(rest);
                let chain = chain.split("\n}").next().unwrap_or(chain);
                for method in ["get", "post", "put", "patch", "delete"] {
                    if chain.contains(&format!("web::{method}()")) {
                        registered.push((method.to_uppercase(), pattern.to_string()));
                    }
                }
            }
        }
    }
    assert!(registered.len() >= CONTRACT_ROUTES.len(), "{registered:?}");
    for (method, pattern) in registered {
        let found = ["", "/v1", "/admin"]
            .iter()
            .any(|scope| documented.contains(&(method.clone(), format!("{scope}{pattern}"))));
        assert!(found, "{method} {pattern} is registered but not documented");
    }
}

/// The operations the authentication layer lets a publishable key call are exactly the
/// `/v1` operations the document says accept one.
#[test]
fn publishable_scope_matches_the_document() {
    let doc: Value =
        serde_json::from_str(&helpline::http::openapi::json()).expect("document is JSON");
    let mut accepting = BTreeSet::new();
    for (method, path) in documented(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let schemes: Vec<&str> = op["security"]
            .as_array()
            .map(|reqs| {
                reqs.iter()
                    .filter_map(|r| r.as_object())
                    .flat_map(|r| r.keys().map(String::as_str))
                    .collect()
            })
            .unwrap_or_default();
        // No security at all: public, so a publishable key is as good as none.
        if path.starts_with("/v1/") && (schemes.is_empty() || schemes.contains(&"publishable_key"))
        {
            accepting.insert((method, path));
        }
    }
    let allowed: BTreeSet<(String, String)> = helpline::auth::PUBLISHABLE_OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(allowed, accepting);
    for (method, path) in &accepting {
        assert!(helpline::auth::publishable_may_call(method, Some(path)));
    }
    assert!(!helpline::auth::publishable_may_call(
        "POST",
        Some("/v1/auth/regenerate-key")
    ));
    assert!(helpline::auth::publishable_may_call(
        "GET",
        Some("/admin/tenants")
    ));
}

/// The operations the authentication layer lets a bot token call are exactly those the
/// document says accept one.
#[test]
fn bot_scope_matches_the_document() {
    let doc: Value =
        serde_json::from_str(&helpline::http::openapi::json()).expect("document is JSON");
    let accepting: BTreeSet<(String, String)> = documented(&doc)
        .into_iter()
        .filter(|(method, path)| {
            doc["paths"][path][method.to_lowercase()]["security"]
                .as_array()
                .is_some_and(|reqs| reqs.iter().any(|r| r.get("bot_token").is_some()))
        })
        .collect();
    let allowed: BTreeSet<(String, String)> = helpline::auth::BOT_OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(allowed, accepting);
    assert!(!helpline::auth::bot_may_call("GET", Some("/admin/bots")));
    assert!(!helpline::auth::bot_may_call(
        "GET",
        Some("/v1/support/tickets")
    ));
}
