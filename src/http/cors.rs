//! CORS for the operations a publishable key may call (`auth::PUBLISHABLE_OPERATIONS`:
//! `POST /v1/support/tickets`, `GET /v1/support/status`), and for nothing else.
//!
//! - A preflight (`OPTIONS` with `Access-Control-Request-Method`) carries no
//!   `Authorization`, so it is answered per operation, never per key: `204` allowing the
//!   requesting origin whenever the requested method and path are one of those operations.
//!   Any other preflight gets the router's answer (`405`) without CORS headers.
//! - The actual request carries the key, and the key's `allowed_origins` are enforced then
//!   (`http::auth::middleware`: `403 origin_not_allowed`).
//! - CORS headers go only on answers to those operations, and only when the request carries
//!   a publishable key or no key at all (the banner needs none). A secret key, an operator
//!   token or anything else in `Authorization` never gets them: a browser then keeps the
//!   answer from the page, so a secret key pasted into a website does not work there.
//! - Refusals are readable (`401`, `403 origin_not_allowed`, `429` with `Retry-After`), so
//!   a developer sees why in the browser console. No credentials mode: these calls use a
//!   bearer key, never cookies.
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD,
    AUTHORIZATION, HeaderMap, HeaderValue, ORIGIN, VARY,
};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

use crate::auth::PUBLISHABLE_OPERATIONS;
use crate::auth::keys::PUBLISHABLE_KEY_PREFIX;
use crate::http::auth::middleware::bearer_token;
use crate::http::context::route_pattern;

/// Request headers a browser page may send on these operations.
pub const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key, X-Request-Id";
/// Response headers a page may read besides the CORS-safelisted ones.
pub const EXPOSED_HEADERS: &str = "X-Request-Id, Idempotent-Replayed, RateLimit-Limit, \
                                   RateLimit-Remaining, RateLimit-Reset, Retry-After, ETag";
/// How long a browser may reuse a preflight's answer (Chromium caps it at 2 h). The answer
/// never depends on a key, so nothing makes it stale.
pub const MAX_AGE_SECS: u32 = 7200;

/// The publishable operation `(method, pattern)` names, if any.
fn publishable_operation(method: &str, pattern: Option<&str>) -> Option<&'static str> {
    let pattern = pattern?;
    PUBLISHABLE_OPERATIONS
        .iter()
        .find(|(m, p)| m.eq_ignore_ascii_case(method) && *p == pattern)
        .map(|(m, _)| *m)
}

/// Whether the request may be answered with CORS headers: it carries a publishable key, or
/// no `Authorization` at all.
fn browser_safe_credentials(headers: &HeaderMap) -> bool {
    if !headers.contains_key(AUTHORIZATION) {
        return true;
    }
    bearer_token(headers).is_some_and(|t| t.starts_with(PUBLISHABLE_KEY_PREFIX))
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let origin = req.headers().get(ORIGIN).cloned();

    // A preflight is answered here, before routing: its pattern is found by matching the
    // path again. Every other request's is read after routing, which recorded it.
    if req.method() == Method::OPTIONS
        && let Some(origin) = &origin
        && let Some(requested) = req
            .headers()
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
        && let Some(method) =
            publishable_operation(requested, route_pattern(req.request()).as_deref())
    {
        let res = HttpResponse::NoContent()
            .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
            .insert_header((ACCESS_CONTROL_ALLOW_METHODS, method))
            .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
            .insert_header((ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECS))
            .insert_header((
                VARY,
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ))
            .finish();
        return Ok(req.into_response(res));
    }

    let mut res = next.call(req).await?.map_into_boxed_body();
    let request = res.request();
    let cors_operation =
        publishable_operation(request.method().as_str(), route_pattern(request).as_deref())
            .is_some();
    let allow_origin =
        origin.filter(|_| cors_operation && browser_safe_credentials(request.headers()));
    if cors_operation {
        let headers = res.headers_mut();
        headers.append(VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = allow_origin {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_publishable_operations_are_cors_operations() {
        assert_eq!(
            publishable_operation("POST", Some("/v1/support/tickets")),
            Some("POST")
        );
        assert_eq!(
            publishable_operation("GET", Some("/v1/support/status")),
            Some("GET")
        );
        assert_eq!(
            publishable_operation("GET", Some("/v1/support/tickets")),
            None
        );
        assert_eq!(
            publishable_operation("POST", Some("/v1/support/tickets/{id}/messages")),
            None
        );
        assert_eq!(publishable_operation("POST", None), None);
    }

    #[test]
    fn secret_keys_and_operator_tokens_never_get_cors() {
        let headers = |auth: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(a) = auth {
                h.insert(AUTHORIZATION, HeaderValue::from_str(a).expect("header"));
            }
            h
        };
        assert!(browser_safe_credentials(&headers(None)));
        assert!(browser_safe_credentials(&headers(Some("Bearer hl_pk_abc"))));
        assert!(!browser_safe_credentials(&headers(Some(
            "Bearer hl_sk_abc"
        ))));
        assert!(!browser_safe_credentials(&headers(Some(
            "Bearer hl_staff_abc"
        ))));
        assert!(!browser_safe_credentials(&headers(Some(
            "Basic dXNlcjpwdw=="
        ))));
    }
}
