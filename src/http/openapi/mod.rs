//! The OpenAPI 3.1 description of the API (`GET /openapi.json`) and its HTML rendering
//! (`GET /docs`), both generated from the code.
//!
//! Each handler carries its own `#[utoipa::path]` (path, parameters, body, the responses
//! particular to it, security) next to its code; [`ApiDoc`] lists them. What holds for
//! every route by convention (docs/API.md §2) is added once, by [`Conventions`]:
//! - the three bearer security schemes;
//! - `401`, `429`, `500` and `503` on every operation (authentication runs before routing,
//!   so even a public route answers `401` to an invalid key), `403` on every secured one;
//! - `400`, `413` and `415` on every operation with a JSON body, `400` on every one with
//!   query parameters;
//! - the `Idempotency-Key` header, and its `400`/`409`/`413`, on every `POST` under `/v1`.
//!
//! Routes are registered in each module's `routes` and documented here: the integration
//! test `tests/api/openapi.rs` checks that the router and this document agree both ways.
mod conventions;
mod render;

use std::sync::LazyLock;

use serde_json::Value;
use utoipa::OpenApi;

use conventions::Conventions;

use crate::http::error::ErrorBody;
use crate::http::{
    account, admin, agents, banner, billing, erasure, events, keys, metrics, notifications,
    numbers, portal, service, tickets, webhooks,
};

/// Security scheme names, as the handlers' `security(...)` attributes use them.
pub const SECRET_KEY: &str = "secret_key";
pub const PUBLISHABLE_KEY: &str = "publishable_key";
pub const STAFF_TOKEN: &str = "staff_token";
pub const BOT_TOKEN: &str = "bot_token";

const INTRO: &str = r#"Helpline is a multi-tenant support desk for API platforms: tenants open support tickets, exchange a message thread with the platform's operators, and track status and SLA.

Conventions:
- Base path `/v1` for tenants, `/admin` for operators. JSON in and out, UTF-8, timestamps RFC 3339 UTC, money as integer cents.
- Authentication: `Authorization: Bearer <token>`. A secret key (`hl_sk_…`) has full access to the tenant's own resources; a publishable key (`hl_pk_…`) may only open tickets (and read the public status banner), also from web pages on other origins (CORS on those two operations only, restricted by the key's `allowed_origins`); an operator token (`hl_staff_…` or `HELPLINE_ADMIN_TOKEN`) is accepted on `/admin` only.
- Errors are always `{"error", "code", "detail"}`; `detail` names the field of a `validation_failed` or `unknown_field` error.
- Lists take `limit` (default 50, clamped to 200) and `offset`; ticket and ledger lists also take an opaque `cursor` and return `next_cursor`.
- Every `POST` under `/v1` honours `Idempotency-Key` (24 h, per API key): the same key, method, path and body from the same API key replay the stored answer with `Idempotent-Replayed: true`; another API key never sees it.
- Rate limits (per tenant, per publishable key and client IP, and per IP for failed authentication) answer `429 rate_limited` with `Retry-After`; limited responses carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`. The `enterprise` plan is unlimited.
- Tenant isolation: another tenant's ids answer `404`, exactly like unknown ones."#;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Helpline API",
        description = INTRO,
        license(name = "MIT", identifier = "MIT"),
        contact(name = "Helpline maintainers"),
    ),
    servers((url = "/", description = "The server that serves this document")),
    paths(
        tickets::create_ticket,
        tickets::list_tickets,
        tickets::get_ticket,
        tickets::update_ticket,
        tickets::list_messages,
        tickets::create_message,
        tickets::list_events,
        banner::get_status,
        billing::balance,
        billing::list_ledger,
        billing::spend,
        notifications::list_notifications,
        notifications::read_all,
        notifications::get_preferences,
        notifications::put_preferences,
        notifications::read_one,
        webhooks::list_endpoints,
        webhooks::create_endpoint,
        webhooks::get_endpoint,
        webhooks::update_endpoint,
        webhooks::delete_endpoint,
        webhooks::rotate_secret,
        webhooks::send_test,
        webhooks::list_deliveries,
        webhooks::retry_delivery,
        agents::list_agents,
        agents::create_agent,
        agents::get_agent,
        agents::replace_agent,
        agents::delete_agent,
        numbers::list_numbers,
        numbers::register_number,
        numbers::remove_number,
        numbers::attach_number,
        keys::me,
        keys::regenerate_key,
        keys::list_publishable_keys,
        keys::create_publishable_key,
        keys::delete_publishable_key,
        account::export_account,
        erasure::get_erasure,
        erasure::request_erasure,
        events::feed_stream,
        events::feed_page,
        portal::sessions::create_portal_session,
        admin::tickets::inbox,
        admin::tickets::transcript,
        admin::tickets::update_ticket,
        admin::tickets::reply,
        admin::tickets::confirm_bounty,
        admin::tickets::merge,
        admin::tenants::list_tenants,
        admin::tenants::create_tenant,
        admin::tenants::get_tenant,
        admin::tenants::update_tenant,
        admin::tenants::credit_tenant,
        admin::erasure::admin_request_erasure,
        admin::events::admin_feed_stream,
        admin::events::admin_feed_page,
        admin::banner::put_status,
        admin::queues::overview,
        admin::queues::list_jobs,
        admin::queues::retry_job,
        admin::staff::list_staff,
        admin::macros::list_macros,
        admin::macros::create_macro,
        admin::macros::get_macro,
        admin::macros::update_macro,
        admin::macros::delete_macro,
        admin::bots::list_bots,
        admin::bots::create_bot,
        admin::bots::revoke_bot,
        metrics::metrics,
        service::healthz,
        service::readyz,
        service::openapi_json,
        service::docs,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Conventions),
    tags(
        (name = "tickets", description = "Support tickets and their threads (secret key; a publishable key may open tickets)"),
        (name = "status", description = "The public system-status banner"),
        (name = "billing", description = "Balance, ledger and spend"),
        (name = "notifications", description = "The in-app notification feed and preferences"),
        (name = "webhooks", description = "Webhook endpoints and their deliveries (Standard Webhooks signatures)"),
        (name = "numbers", description = "Bring-your-own-carrier numbers and the agents they attach to"),
        (name = "keys", description = "Who am I, secret-key rotation, publishable keys"),
        (name = "events", description = "The ordered, resumable event feed: Server-Sent Events and JSON pages"),
        (name = "portal", description = "The tenant's Support tab: single-use links that sign a browser into it"),
        (name = "account", description = "Account export and erasure of personal data"),
        (name = "admin", description = "Operators: inbox, tenants, status banner, queues, macros, bots (operator token; a bot token may read tickets and reply)"),
        (name = "operations", description = "Health, readiness and this document (no key needed)"),
    ),
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not serialize the OpenAPI document");
        Value::Null
    });
    fix_link_keys(&mut doc);
    doc
}

/// utoipa 5.5 writes the fixed fields of a Link Object in snake case (`operation_id`,
/// `operation_ref`, `request_body`); OpenAPI spells them `operationId`, `operationRef`,
/// `requestBody`, and tools ignore the others.
fn fix_link_keys(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let links = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links").and_then(Value::as_object_mut))
        .flat_map(|links| links.values_mut())
        .filter_map(Value::as_object_mut);
    for link in links {
        for (from, to) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(from) {
                link.insert(to.to_string(), value);
            }
        }
    }
}

/// The document, serialized once.
static JSON: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string_pretty(&document()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not serialize the OpenAPI document");
        String::from("{}")
    })
});

/// The HTML reference, rendered once.
static HTML: LazyLock<String> = LazyLock::new(|| render::page(&document()));

/// `GET /openapi.json`.
pub fn json() -> String {
    JSON.clone()
}

/// `GET /docs`.
pub fn html() -> String {
    HTML.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_openapi_3_1_with_conventions() {
        let doc: Value = serde_json::from_str(&json()).expect("valid JSON");
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
        );
        let schemes = &doc["components"]["securitySchemes"];
        for name in [SECRET_KEY, PUBLISHABLE_KEY, STAFF_TOKEN, BOT_TOKEN] {
            assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
        }
        let create = &doc["paths"]["/v1/support/tickets"]["post"];
        for status in [
            "200", "400", "401", "402", "403", "409", "413", "415", "429",
        ] {
            assert!(create["responses"].get(status).is_some(), "{status}");
        }
        assert!(
            create["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["name"] == "Idempotency-Key"))
        );
        assert_eq!(
            doc["paths"]["/healthz"]["get"]["security"],
            serde_json::json!([])
        );
    }

    #[test]
    fn links_use_openapi_field_names_and_name_real_operations() {
        let doc = document();
        let ids: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().expect("item").values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let link =
            &doc["paths"]["/v1/notifications"]["get"]["responses"]["200"]["links"]["MarkRead"];
        assert_eq!(link["operationId"], "read_one");
        assert!(link.get("operation_id").is_none());
        let mut seen = 0;
        for item in doc["paths"].as_object().expect("paths").values() {
            for op in item.as_object().expect("item").values() {
                for response in op["responses"].as_object().expect("responses").values() {
                    for link in response["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        let target = link["operationId"].as_str().expect("operationId");
                        assert!(ids.contains(&target), "link to unknown {target}");
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen >= 3);
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc: Value = serde_json::from_str(&json()).expect("valid JSON");
        let mut seen = std::collections::HashSet::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for op in item.as_object().expect("item").values() {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    assert!(seen.insert(id.to_string()), "duplicate operationId {id}");
                }
            }
        }
    }

    #[test]
    fn html_escapes_and_links() {
        assert_eq!(
            render::escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let page = html();
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("/v1/support/tickets"));
        assert!(page.contains("id=\"schema-ErrorBody\""));
        assert!(!page.contains("<script"));
    }
}
