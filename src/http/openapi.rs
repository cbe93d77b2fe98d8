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
use std::sync::LazyLock;

use serde_json::Value;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Required, Response};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::http::error::ErrorBody;
use crate::http::{
    account, admin, agents, banner, billing, erasure, keys, metrics, notifications, numbers,
    service, tickets, webhooks,
};

/// Security scheme names, as the handlers' `security(...)` attributes use them.
pub const SECRET_KEY: &str = "secret_key";
pub const PUBLISHABLE_KEY: &str = "publishable_key";
pub const STAFF_TOKEN: &str = "staff_token";

const INTRO: &str = r#"Helpline is a multi-tenant support desk for API platforms: tenants open support tickets, exchange a message thread with the platform's operators, and track status and SLA.

Conventions:
- Base path `/v1` for tenants, `/admin` for operators. JSON in and out, UTF-8, timestamps RFC 3339 UTC, money as integer cents.
- Authentication: `Authorization: Bearer <token>`. A secret key (`hl_sk_…`) has full access to the tenant's own resources; a publishable key (`hl_pk_…`) may only open tickets (and read the public status banner); an operator token (`hl_staff_…` or `HELPLINE_ADMIN_TOKEN`) is accepted on `/admin` only.
- Errors are always `{"error", "code", "detail"}`; `detail` names the field of a `validation_failed` or `unknown_field` error.
- Lists take `limit` (default 50, clamped to 200) and `offset`; ticket and ledger lists also take an opaque `cursor` and return `next_cursor`.
- Every `POST` under `/v1` honours `Idempotency-Key` (24 h, per tenant): the same key and body replay the stored answer with `Idempotent-Replayed: true`.
- Rate limits (per tenant, per publishable key and client IP, and per IP for failed authentication) answer `429 rate_limited` with `Retry-After`; limited responses carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`. The `enterprise` plan is unlimited.
- Tenant isolation: another tenant's ids answer `404`, exactly like unknown ones."#;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Helpline API",
        description = INTRO,
        license(name = "MIT", identifier = "MIT"),
    ),
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
        admin::banner::put_status,
        admin::queues::overview,
        admin::queues::list_jobs,
        admin::queues::retry_job,
        admin::staff::list_staff,
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
        (name = "account", description = "Account export and erasure of personal data"),
        (name = "admin", description = "Operators: inbox, tenants, status banner, queues (operator token)"),
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

/// The conventions every route shares (see the module docs).
struct Conventions;

/// A response shared by many operations: `components.responses[name]`.
struct Shared {
    name: &'static str,
    status: &'static str,
    description: &'static str,
    example: (&'static str, &'static str),
    headers: &'static [(&'static str, &'static str)],
}

const BAD_REQUEST: Shared = Shared {
    name: "BadRequest",
    status: "400",
    description: "`invalid_json`: the body is not JSON; `unknown_field` (detail: the field); \
        `validation_failed` (detail: the field or parameter that is missing or invalid)",
    example: (
        "validation_failed",
        "`subject` must be at least 3 characters",
    ),
    headers: &[],
};
const UNAUTHORIZED: Shared = Shared {
    name: "Unauthorized",
    status: "401",
    description: "`unauthorized`: the key is missing, unknown or revoked (on a public route: \
        only when an `Authorization` header with an invalid key is sent)",
    example: ("unauthorized", "Invalid or revoked API key"),
    headers: &[("WWW-Authenticate", "`Bearer realm=\"helpline\"`")],
};
const FORBIDDEN: Shared = Shared {
    name: "Forbidden",
    status: "403",
    description: "`insufficient_scope`: a publishable key on a route that needs the secret key; \
        `forbidden`: an operator token on `/v1` or a tenant key on `/admin`",
    example: (
        "insufficient_scope",
        "Publishable keys may only create tickets and read the status banner",
    ),
    headers: &[],
};
const IDEMPOTENCY_CONFLICT: Shared = Shared {
    name: "IdempotencyConflict",
    status: "409",
    description: "`idempotency_key_reused`: the `Idempotency-Key` was used with another request; \
        `idempotency_in_progress`: its first request is still running",
    example: (
        "idempotency_key_reused",
        "This Idempotency-Key was used with a different request",
    ),
    headers: &[],
};
const PAYLOAD_TOO_LARGE: Shared = Shared {
    name: "PayloadTooLarge",
    status: "413",
    description: "`payload_too_large`: the body is over 64 KiB",
    example: ("payload_too_large", "Request body is larger than 64 KiB"),
    headers: &[],
};
const UNSUPPORTED_MEDIA_TYPE: Shared = Shared {
    name: "UnsupportedMediaType",
    status: "415",
    description: "`unsupported_media_type`: the body is not sent as `application/json`",
    example: (
        "unsupported_media_type",
        "Request bodies must be JSON (Content-Type: application/json)",
    ),
    headers: &[],
};
const RATE_LIMITED: Shared = Shared {
    name: "RateLimited",
    status: "429",
    description: "`rate_limited` (detail: `tenant`, `publishable_key` or `ip`): over the rate \
        limit; retry after `Retry-After` seconds",
    example: ("rate_limited", "Rate limit exceeded; retry later"),
    headers: &[
        ("Retry-After", "Whole seconds to wait, at least 1"),
        ("RateLimit-Limit", "Requests allowed at once"),
        ("RateLimit-Remaining", "Requests left now"),
        (
            "RateLimit-Reset",
            "Seconds until the limit is fully restored",
        ),
    ],
};
const INTERNAL: Shared = Shared {
    name: "InternalError",
    status: "500",
    description: "`internal_error`: something went wrong on our side (no internals are shown)",
    example: ("internal_error", "Something went wrong on our side"),
    headers: &[],
};
const UNAVAILABLE: Shared = Shared {
    name: "Unavailable",
    status: "503",
    description: "`unavailable`: the database is unreachable or the tenant is busy; retry after \
        `Retry-After`",
    example: ("unavailable", "The database is unavailable; retry shortly"),
    headers: &[("Retry-After", "Seconds to wait")],
};

const ALL_SHARED: [&Shared; 9] = [
    &BAD_REQUEST,
    &UNAUTHORIZED,
    &FORBIDDEN,
    &IDEMPOTENCY_CONFLICT,
    &PAYLOAD_TOO_LARGE,
    &UNSUPPORTED_MEDIA_TYPE,
    &RATE_LIMITED,
    &INTERNAL,
    &UNAVAILABLE,
];

impl Shared {
    fn response(&self) -> Response {
        let (code, message) = self.example;
        let mut builder = ResponseBuilder::new()
            .description(self.description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                    .example(Some(serde_json::json!({"error": message, "code": code})))
                    .build(),
            );
        for (name, description) in self.headers {
            let schema = ObjectBuilder::new().schema_type(if name.starts_with("WWW") {
                Type::String
            } else {
                Type::Integer
            });
            builder = builder.header(
                *name,
                HeaderBuilder::new()
                    .schema(schema)
                    .description(Some(*description))
                    .build(),
            );
        }
        builder.build()
    }

    /// Adds the shared response to `op`; where the operation documents that status itself,
    /// its description is completed instead.
    fn apply(&self, op: &mut Operation) {
        match op.responses.responses.get_mut(self.status) {
            None => {
                op.responses.responses.insert(
                    self.status.to_string(),
                    RefOr::Ref(Ref::from_response_name(self.name)),
                );
            }
            Some(RefOr::T(own)) => {
                if !own.description.contains(self.description) {
                    own.description = format!("{}. Also: {}", own.description, self.description);
                }
            }
            Some(RefOr::Ref(_)) => {}
        }
    }
}

fn operations(item: &mut PathItem) -> [(&'static str, Option<&mut Operation>); 5] {
    [
        ("get", item.get.as_mut()),
        ("post", item.post.as_mut()),
        ("put", item.put.as_mut()),
        ("patch", item.patch.as_mut()),
        ("delete", item.delete.as_mut()),
    ]
}

fn bearer(format: &str, description: &str) -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format(format)
            .description(Some(description))
            .build(),
    )
}

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECRET_KEY,
            bearer(
                "hl_sk_…",
                "A tenant's secret key: full access to the tenant's own resources under `/v1`.",
            ),
        );
        components.add_security_scheme(
            PUBLISHABLE_KEY,
            bearer(
                "hl_pk_…",
                "A tenant's publishable key (frontend-safe): may only open tickets.",
            ),
        );
        components.add_security_scheme(
            STAFF_TOKEN,
            bearer(
                "hl_staff_…",
                "An operator token (`helpline staff create`) or `HELPLINE_ADMIN_TOKEN`: `/admin` only.",
            ),
        );
        for shared in ALL_SHARED {
            components
                .responses
                .insert(shared.name.to_string(), RefOr::T(shared.response()));
        }

        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                let Some(op) = op else { continue };
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let params = op.parameters.get_or_insert_with(Vec::new);
                let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
                if method == "post" && secured && path.starts_with("/v1/") {
                    params.push(
                        ParameterBuilder::new()
                            .name("Idempotency-Key")
                            .parameter_in(ParameterIn::Header)
                            .required(Required::False)
                            .description(Some(
                                "1–255 printable ASCII characters. The same key and body \
                                 within 24 h replay the stored answer (with \
                                 `Idempotent-Replayed: true`) and repeat no side effect.",
                            ))
                            .schema(Some(
                                ObjectBuilder::new()
                                    .schema_type(Type::String)
                                    .min_length(Some(1))
                                    .max_length(Some(255))
                                    .pattern(Some("^[ -~]+$")),
                            ))
                            .build(),
                    );
                    BAD_REQUEST.apply(op);
                    IDEMPOTENCY_CONFLICT.apply(op);
                    // The key's fingerprint reads the body, whatever the route.
                    PAYLOAD_TOO_LARGE.apply(op);
                }
                if op.parameters.as_ref().is_some_and(Vec::is_empty) {
                    op.parameters = None;
                }
                if op.request_body.is_some() {
                    BAD_REQUEST.apply(op);
                    PAYLOAD_TOO_LARGE.apply(op);
                    UNSUPPORTED_MEDIA_TYPE.apply(op);
                } else if has_query {
                    BAD_REQUEST.apply(op);
                }
                UNAUTHORIZED.apply(op);
                if secured {
                    FORBIDDEN.apply(op);
                }
                RATE_LIMITED.apply(op);
                INTERNAL.apply(op);
                UNAVAILABLE.apply(op);
            }
        }
    }
}

/// A plain, self-contained HTML rendering of the document: no scripts, no fonts, nothing
/// fetched, so `/docs` works offline and behind any firewall.
mod render {
    use std::fmt::Write;

    use serde_json::{Map, Value};

    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

    pub fn escape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
        out
    }

    /// Escapes and turns `code` spans into `<code>`.
    fn inline(text: &str) -> String {
        let mut out = String::new();
        for (i, part) in escape(text).split('`').enumerate() {
            if i % 2 == 1 {
                let _ = write!(out, "<code>{part}</code>");
            } else {
                out.push_str(part);
            }
        }
        out
    }

    /// Paragraphs (lines of a block joined) and `- ` lists: the little markdown the
    /// descriptions use.
    fn prose(text: &str) -> String {
        let mut out = String::new();
        for block in text.split("\n\n") {
            let mut paragraph: Vec<&str> = Vec::new();
            let mut items: Vec<String> = Vec::new();
            for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if let Some(item) = line.strip_prefix("- ") {
                    items.push(item.to_string());
                } else if let Some(last) = items.last_mut() {
                    // A continuation of the last item.
                    last.push(' ');
                    last.push_str(line);
                } else {
                    paragraph.push(line);
                }
            }
            if !paragraph.is_empty() {
                let _ = write!(out, "<p>{}</p>", inline(&paragraph.join(" ")));
            }
            if !items.is_empty() {
                out.push_str("<ul>");
                for item in &items {
                    let _ = write!(out, "<li>{}</li>", inline(item));
                }
                out.push_str("</ul>");
            }
        }
        out
    }

    fn ref_name(reference: &str) -> &str {
        reference.rsplit('/').next().unwrap_or(reference)
    }

    /// A one-line description of a schema's type, with links to named schemas.
    fn type_of(schema: &Value) -> String {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = escape(ref_name(r));
            return format!("<a href=\"#schema-{name}\">{name}</a>");
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(items) = schema.get(key).and_then(Value::as_array) {
                let sep = if key == "allOf" { " &amp; " } else { " | " };
                return items.iter().map(type_of).collect::<Vec<_>>().join(sep);
            }
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return values
                .iter()
                .map(|v| format!("<code>{}</code>", escape(&v.to_string())))
                .collect::<Vec<_>>()
                .join(" | ");
        }
        let types: Vec<String> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        if types.is_empty() {
            return "any".into();
        }
        let joined = types
            .iter()
            .map(|t| match t.as_str() {
                "array" => format!(
                    "array of {}",
                    schema.get("items").map_or("any".into(), type_of)
                ),
                other => escape(other),
            })
            .collect::<Vec<_>>()
            .join(" | ");
        match schema.get("format").and_then(Value::as_str) {
            Some(format) => format!("{joined} ({})", escape(format)),
            None => joined,
        }
    }

    /// A schema's description, or that of the first alternative that has one (utoipa puts
    /// a field's description next to the `$ref` inside `oneOf`).
    fn description_of(schema: &Value) -> Option<&str> {
        schema
            .get("description")
            .and_then(Value::as_str)
            .or_else(|| {
                ["oneOf", "anyOf", "allOf"]
                    .iter()
                    .filter_map(|k| schema.get(*k).and_then(Value::as_array))
                    .flatten()
                    .find_map(|s| s.get("description").and_then(Value::as_str))
            })
    }

    /// The example of a schema, following one `$ref`.
    fn example_of<'a>(doc: &'a Value, schema: &'a Value) -> Option<&'a Value> {
        schema.get("example").or_else(|| {
            let name = ref_name(schema.get("$ref")?.as_str()?);
            doc.pointer(&format!("/components/schemas/{name}/example"))
        })
    }

    fn constraints(schema: &Value) -> String {
        let mut parts = Vec::new();
        for (key, label) in [
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minimum", "min"),
            ("maximum", "max"),
            ("default", "default"),
            ("pattern", "pattern"),
        ] {
            if let Some(v) = schema.get(key) {
                parts.push(format!("{label} <code>{}</code>", escape(&v.to_string())));
            }
        }
        parts.join(", ")
    }

    fn properties_table(schema: &Value) -> String {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return String::new();
        };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = String::from(
            "<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>",
        );
        for (name, prop) in props {
            let description = description_of(prop).map(prose).unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                escape(name),
                type_of(prop),
                if required.contains(&name.as_str()) {
                    "yes"
                } else {
                    ""
                },
                description,
                constraints(prop),
            );
        }
        out.push_str("</table>");
        out
    }

    fn example(value: &Value) -> String {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        format!("<pre>{}</pre>", escape(&text))
    }

    fn operation(out: &mut String, doc: &Value, path: &str, method: &str, op: &Value) {
        let id = op.get("operationId").and_then(Value::as_str).unwrap_or("");
        let summary = op.get("summary").and_then(Value::as_str).unwrap_or("");
        let _ = write!(
            out,
            "<section class=\"op\" id=\"op-{id}\"><h3><span class=\"m {method}\">{}</span> \
             <code>{}</code> — {}</h3>",
            method.to_uppercase(),
            escape(path),
            escape(summary),
            id = escape(id),
        );
        if let Some(d) = op.get("description").and_then(Value::as_str) {
            out.push_str(&prose(d));
        }
        let security: Vec<String> = op
            .get("security")
            .and_then(Value::as_array)
            .map(|reqs| {
                reqs.iter()
                    .filter_map(Value::as_object)
                    .flat_map(|r| r.keys().map(|k| format!("<code>{}</code>", escape(k))))
                    .collect()
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            "<p class=\"auth\">Auth: {}</p>",
            if security.is_empty() {
                "none (public)".to_string()
            } else {
                security.join(" or ")
            }
        );
        if let Some(params) = op.get("parameters").and_then(Value::as_array) {
            out.push_str(
                "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>\
                 <th>required</th><th>description</th></tr>",
            );
            for p in params {
                let schema = p.get("schema").cloned().unwrap_or(Value::Null);
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                    escape(p.get("name").and_then(Value::as_str).unwrap_or("")),
                    escape(p.get("in").and_then(Value::as_str).unwrap_or("")),
                    type_of(&schema),
                    if p.get("required") == Some(&Value::Bool(true)) {
                        "yes"
                    } else {
                        ""
                    },
                    p.get("description")
                        .and_then(Value::as_str)
                        .map(prose)
                        .unwrap_or_default(),
                    constraints(&schema),
                );
            }
            out.push_str("</table>");
        }
        if let Some(body) = op.pointer("/requestBody/content/application~1json") {
            let schema = body.get("schema").cloned().unwrap_or(Value::Null);
            let _ = write!(out, "<h4>Request body</h4><p>{}</p>", type_of(&schema));
            if let Some(ex) = body.get("example").or_else(|| example_of(doc, &schema)) {
                out.push_str(&example(ex));
            }
        }
        out.push_str(
            "<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>",
        );
        if let Some(responses) = op.get("responses").and_then(Value::as_object) {
            for (status, response) in responses {
                let response = match response.get("$ref").and_then(Value::as_str) {
                    Some(r) => doc
                        .pointer(&format!("/components/responses/{}", ref_name(r)))
                        .unwrap_or(response),
                    None => response,
                };
                let content = response.get("content").and_then(Value::as_object);
                let body = content
                    .and_then(|c| c.values().next())
                    .and_then(|c| c.get("schema"))
                    .map(type_of)
                    .unwrap_or_default();
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(status),
                    prose(
                        response
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    ),
                    body
                );
            }
        }
        out.push_str("</table>");
        if let Some(ex) = op
            .pointer("/responses/200/content/application~1json/example")
            .or_else(|| op.pointer("/responses/201/content/application~1json/example"))
        {
            out.push_str("<h4>Example response</h4>");
            out.push_str(&example(ex));
        }
        out.push_str("</section>");
    }

    const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;\
        padding:0 1rem;color:#222;line-height:1.45}code,pre{font-family:ui-monospace,monospace;\
        font-size:.9em}pre{background:#f5f5f5;padding:.75rem;overflow:auto}table{border-collapse:\
        collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .5rem;\
        text-align:left;vertical-align:top}th{background:#fafafa}.op{border-top:1px solid #ccc;\
        padding-top:.5rem;margin-top:1.5rem}.m{display:inline-block;min-width:4.5rem;color:#fff;\
        border-radius:3px;padding:0 .4rem;text-align:center;font-size:.85em}.get{background:#2b7a3d}\
        .post{background:#2456a6}.put{background:#8a5a00}.patch{background:#6b3fa0}\
        .delete{background:#b02a2a}.auth{color:#555}nav li{margin:.1rem 0}td p,li p{margin:0}";

    /// The whole page.
    pub fn page(doc: &Value) -> String {
        let empty = Map::new();
        let title = doc
            .pointer("/info/title")
            .and_then(Value::as_str)
            .unwrap_or("API");
        let version = doc
            .pointer("/info/version")
            .and_then(Value::as_str)
            .unwrap_or("");
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let tags: Vec<(String, String)> = doc
            .get("tags")
            .and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .map(|t| {
                        let field = |k: &str| {
                            t.get(k)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string()
                        };
                        (field("name"), field("description"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ops_of = |tag: &str| {
            let mut found = Vec::new();
            for (path, item) in paths {
                for method in METHODS {
                    if let Some(op) = item.get(method)
                        && op
                            .get("tags")
                            .and_then(Value::as_array)
                            .is_some_and(|t| t.iter().any(|x| x.as_str() == Some(tag)))
                    {
                        found.push((path.as_str(), method, op));
                    }
                }
            }
            found
        };

        let mut out = String::new();
        let _ = write!(
            out,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{t}</title><style>{STYLE}</style></head><body><h1>{t} <small>{v}</small></h1>\
             <p>The machine-readable document: <a href=\"/openapi.json\">/openapi.json</a> \
             (OpenAPI {o}).</p>",
            t = escape(title),
            v = escape(version),
            o = escape(doc.get("openapi").and_then(Value::as_str).unwrap_or("")),
        );
        if let Some(d) = doc.pointer("/info/description").and_then(Value::as_str) {
            out.push_str(&prose(d));
        }
        out.push_str("<nav><h2>Contents</h2><ul>");
        for (tag, description) in &tags {
            let _ = write!(
                out,
                "<li><a href=\"#tag-{t}\">{t}</a> — {}<ul>",
                inline(description),
                t = escape(tag)
            );
            for (path, method, op) in ops_of(tag) {
                let _ = write!(
                    out,
                    "<li><a href=\"#op-{}\">{} {}</a></li>",
                    escape(op.get("operationId").and_then(Value::as_str).unwrap_or("")),
                    method.to_uppercase(),
                    escape(path)
                );
            }
            out.push_str("</ul></li>");
        }
        out.push_str("<li><a href=\"#schemas\">Schemas</a></li></ul></nav>");
        for (tag, description) in &tags {
            let _ = write!(
                out,
                "<h2 id=\"tag-{t}\">{t}</h2><p>{}</p>",
                inline(description),
                t = escape(tag)
            );
            for (path, method, op) in ops_of(tag) {
                operation(&mut out, doc, path, method, op);
            }
        }
        out.push_str("<h2 id=\"schemas\">Schemas</h2>");
        if let Some(schemas) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, schema) in schemas {
                let _ = write!(
                    out,
                    "<section id=\"schema-{n}\"><h3>{n}</h3>",
                    n = escape(name)
                );
                if let Some(d) = schema.get("description").and_then(Value::as_str) {
                    out.push_str(&prose(d));
                }
                let table = properties_table(schema);
                if table.is_empty() {
                    let _ = write!(out, "<p>{}</p>", type_of(schema));
                } else {
                    out.push_str(&table);
                }
                if let Some(ex) = schema.get("example") {
                    out.push_str("<p>Example:</p>");
                    out.push_str(&example(ex));
                }
                out.push_str("</section>");
            }
        }
        out.push_str("</body></html>");
        out
    }
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
        for name in [SECRET_KEY, PUBLISHABLE_KEY, STAFF_TOKEN] {
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
        assert!(doc["paths"]["/healthz"]["get"].get("security").is_none());
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
