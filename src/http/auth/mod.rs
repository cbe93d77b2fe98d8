//! The extractors that enforce each route's scope, reading the [`Principal`] that
//! [`middleware::authenticate`] resolved from `Authorization: Bearer`.
pub mod middleware;

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};

use crate::auth::{BotPrincipal, KeyKind, Principal, StaffPrincipal, TenantPrincipal};
use crate::http::error::ApiError;

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

/// A publishable key on a route that needs the secret key.
pub fn insufficient_scope() -> ApiError {
    ApiError::forbidden(
        "insufficient_scope",
        "Publishable keys may only create tickets and read the status banner",
    )
}

/// A publishable key used by a page on an origin the key does not list.
pub fn origin_not_allowed(origin: String) -> ApiError {
    ApiError::forbidden(
        "origin_not_allowed",
        "This publishable key may not be used from this website's origin; add it to the key's allowed_origins",
    )
    .with_detail(origin)
}

/// A bot token on a route bots may not call.
pub fn bot_out_of_scope() -> ApiError {
    ApiError::forbidden(
        "forbidden",
        "Bot tokens may only read tickets and reply to them",
    )
}

fn tenant_on_admin_side() -> ApiError {
    ApiError::forbidden("forbidden", "Tenant keys are not accepted on /admin")
}

fn missing_operator_token() -> ApiError {
    ApiError::unauthorized("Missing operator token: send Authorization: Bearer <token>")
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
            Some(Principal::Bot(_)) => Err(bot_out_of_scope()),
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
            Some(Principal::Bot(_)) => Err(bot_out_of_scope()),
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
            Some(Principal::Bot(_)) => Err(bot_out_of_scope()),
            Some(Principal::Tenant(_)) => Err(tenant_on_admin_side()),
            None => Err(missing_operator_token()),
        })
    }
}

/// Who reads and answers tickets on `/admin`: an operator or a bot.
#[derive(Debug, Clone)]
pub enum Responder {
    Operator(StaffPrincipal),
    Bot(BotPrincipal),
}

/// An operator or a bot (the ticket routes bots may call).
pub struct StaffOrBot(pub Responder);

impl FromRequest for StaffOrBot {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match principal(req) {
            Some(Principal::Staff(s)) => Ok(StaffOrBot(Responder::Operator(s))),
            Some(Principal::Bot(b)) => Ok(StaffOrBot(Responder::Bot(b))),
            Some(Principal::Tenant(_)) => Err(tenant_on_admin_side()),
            None => Err(missing_operator_token()),
        })
    }
}
