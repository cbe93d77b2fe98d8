//! What holds for every route by convention, added to the document once (see the module
//! documentation of `super`): security schemes, shared error responses, `Idempotency-Key`.
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Required, Response};
use utoipa::{Modify, ToSchema};

use super::{BOT_TOKEN, PUBLISHABLE_KEY, SECRET_KEY, STAFF_TOKEN};
use crate::http::error::ErrorBody;

/// The conventions every route shares (see the module docs).
pub(super) struct Conventions;

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
        `forbidden`: an operator token on `/v1`, a tenant key on `/admin`, or a bot token \
        anywhere but reading tickets and replying",
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
        `idempotency_in_progress`: its first request is still running; \
        `limit_reached` (detail `idempotency_keys`): a new key past the tenant's 100,000 a UTC day",
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

/// Drops the schemas nothing refers to: utoipa registers the extra field of a generic list
/// (`PageOut<T, X>`) as a component even though the page inlines it, and the linters reject
/// unused components.
fn drop_unreferenced_schemas(doc: &mut utoipa::openapi::OpenApi) {
    loop {
        let Ok(text) = serde_json::to_string(&*doc) else {
            return;
        };
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        let unused: Vec<String> = components
            .schemas
            .keys()
            .filter(|name| !text.contains(&format!("\"#/components/schemas/{name}\"")))
            .cloned()
            .collect();
        if unused.is_empty() {
            return;
        }
        for name in unused {
            components.schemas.remove(&name);
        }
    }
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
        components.add_security_scheme(
            BOT_TOKEN,
            bearer(
                "hl_bot_…",
                "A bot token (`POST /admin/bots`): may only list and read tickets and reply to them.",
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
                                "1–255 printable ASCII characters. The same key, method, path \
                                 and body from the same API key within 24 h replay the stored \
                                 answer (with `Idempotent-Replayed: true`) and repeat no side \
                                 effect. Records are the API key's own.",
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
                } else {
                    // Explicitly public: no credentials needed (rather than "unspecified").
                    op.security = Some(Vec::new());
                }
                RATE_LIMITED.apply(op);
                INTERNAL.apply(op);
                UNAVAILABLE.apply(op);
            }
        }
        drop_unreferenced_schemas(doc);
    }
}
