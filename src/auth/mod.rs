//! Who is calling: the principal resolved from `Authorization: Bearer`, and the extractors
//! that enforce each route's scope (SPEC §2).
pub mod cache;
pub mod keys;
pub mod middleware;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};
use std::future::{Ready, ready};
use uuid::Uuid;

use crate::error::ApiError;
pub use keys::KeyKind;

#[derive(Debug, Clone)]
pub struct TenantPrincipal {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub kind: KeyKind,
    pub prefix: String,
    pub key_hash: String,
    /// The tenant's effective rate limit when the key was loaded.
    pub limits: crate::ratelimit::RateSpec,
}

#[derive(Debug, Clone)]
pub struct StaffPrincipal {
    /// `None` for the bootstrap `HELPLINE_ADMIN_TOKEN`.
    pub id: Option<Uuid>,
    pub name: String,
}

#[derive(Debug, Clone)]
pub enum Principal {
    Tenant(TenantPrincipal),
    Staff(StaffPrincipal),
}

fn principal(req: &HttpRequest) -> Option<Principal> {
    req.extensions().get::<Principal>().cloned()
}

fn missing_key() -> ApiError {
    ApiError::unauthorized("Missing API key: send Authorization: Bearer <key>")
}

fn staff_on_tenant_side() -> ApiError {
    ApiError::forbidden(
        "forbidden",
        "Operator tokens are only accepted on /admin; use a tenant API key on /v1",
    )
}

/// The only operations (method, route pattern) a publishable key may call; every other
/// route needs the secret key. The authentication middleware refuses the rest before the
/// idempotency layer runs, so a publishable key can neither claim nor replay a record on a
/// secret-key route. `tests/api/openapi.rs` checks this list against the document.
pub const PUBLISHABLE_OPERATIONS: &[(&str, &str)] = &[
    ("POST", "/v1/support/tickets"),
    ("GET", "/v1/support/status"),
];

/// Whether a publishable key may call this `/v1` route. No route (`None`) answers `404`
/// anyway, and `/admin` refuses every tenant key itself.
pub fn publishable_may_call(method: &str, pattern: Option<&str>) -> bool {
    pattern.is_none_or(|pattern| {
        !pattern.starts_with("/v1/")
            || PUBLISHABLE_OPERATIONS
                .iter()
                .any(|(m, p)| *m == method && *p == pattern)
    })
}

fn insufficient_scope() -> ApiError {
    ApiError::forbidden(
        "insufficient_scope",
        "Publishable keys may only create tickets and read the status banner",
    )
}

/// A tenant's secret key: full access to its own resources.
pub struct SecretKey(pub TenantPrincipal);

impl FromRequest for SecretKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match principal(req) {
            Some(Principal::Tenant(t)) if t.kind == KeyKind::Secret => Ok(SecretKey(t)),
            Some(Principal::Tenant(_)) => Err(insufficient_scope()),
            Some(Principal::Staff(_)) => Err(staff_on_tenant_side()),
            None => Err(missing_key()),
        })
    }
}

/// A tenant's secret or publishable key (the routes a frontend may call).
pub struct AnyTenantKey(pub TenantPrincipal);

impl FromRequest for AnyTenantKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match principal(req) {
            Some(Principal::Tenant(t)) => Ok(AnyTenantKey(t)),
            Some(Principal::Staff(_)) => Err(staff_on_tenant_side()),
            None => Err(missing_key()),
        })
    }
}

/// An operator: a `hl_staff_` token or `HELPLINE_ADMIN_TOKEN`.
pub struct Staff(pub StaffPrincipal);

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match principal(req) {
            Some(Principal::Staff(s)) => Ok(Staff(s)),
            Some(Principal::Tenant(_)) => Err(ApiError::forbidden(
                "forbidden",
                "Tenant keys are not accepted on /admin",
            )),
            None => Err(ApiError::unauthorized(
                "Missing operator token: send Authorization: Bearer <token>",
            )),
        })
    }
}
