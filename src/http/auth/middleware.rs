//! Resolves `Authorization: Bearer` into a [`Principal`] and applies the rate limits that
//! depend on who is calling, before any handler (and any database work past the cached
//! key lookup) runs.
use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};

use crate::app::AppState;
use crate::auth::{KeyKind, Principal, TenantPrincipal};
use crate::http::error::{ApiError, rate_limited};
use crate::ratelimit::Verdict;

enum Credentials<'a> {
    None,
    Bearer(&'a str),
    Malformed,
}

fn credentials(req: &ServiceRequest) -> Credentials<'_> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Credentials::None;
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed;
    };
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Credentials::Bearer(token.trim())
        }
        _ => Credentials::Malformed,
    }
}

/// The client's address: the socket peer, or the nearest untrusted `X-Forwarded-For` hop when
/// the peer is a trusted proxy.
pub fn client_ip(req: &ServiceRequest, trusted: &[IpAddr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !trusted.contains(&peer) {
        return peer;
    }
    req.headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.rsplit(',')
                .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
                .find(|ip| !trusted.contains(ip))
        })
        .unwrap_or(peer)
}

fn reject(req: ServiceRequest, err: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(err.error_response())
}

/// A `429`, sent once refusals may go out (see `ratelimit::pacing`).
async fn refuse(state: &AppState, req: ServiceRequest, err: ApiError) -> ServiceResponse<BoxBody> {
    state.refusal_pacing.before_refusal().await;
    reject(req, err)
}

pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(reject(req, ApiError::internal("application state missing")));
    };
    let token = match credentials(&req) {
        Credentials::None => return next.call(req).await.map(|r| r.map_into_boxed_body()),
        Credentials::Bearer(token) => Some(token.to_string()),
        Credentials::Malformed => None,
    };
    let ip = client_ip(&req, &state.config.trusted_proxies);
    let resolved = match token {
        Some(token) => match state.auth.cached(&token) {
            Some(principal) => Some(principal),
            None => {
                // An IP already refused for failed authentication (key guessing) gets its
                // 429 before any database lookup.
                if let Some(v) = state.limits.failed_auth_blocked(ip) {
                    return Ok(refuse(&state, req, rate_limited(&v)).await);
                }
                match state.auth.resolve(&token).await {
                    Ok(found) => found,
                    Err(e) => return Ok(reject(req, e.into())),
                }
            }
        },
        None => None,
    };
    let Some(principal) = resolved else {
        let verdict = state.limits.check_failed_auth(ip).await;
        if !verdict.allowed() {
            return Ok(refuse(&state, req, rate_limited(&verdict)).await);
        }
        let err = verdict.headers().into_iter().fold(
            ApiError::unauthorized("Invalid or revoked API key"),
            |err, (name, value)| err.with_header(HeaderName::from_static(name), value),
        );
        return Ok(reject(req, err));
    };

    let verdict = match &principal {
        Principal::Tenant(t) => limit_tenant(&state, t, ip).await,
        Principal::Staff(_) => None,
    };
    if let Some(v) = verdict
        && !v.allowed()
    {
        return Ok(refuse(&state, req, rate_limited(&v)).await);
    }
    req.extensions_mut().insert(principal);
    let _admitted = state.refusal_pacing.admit();
    let mut res = next.call(req).await?.map_into_boxed_body();
    if let Some(v) = verdict {
        for (name, value) in v.headers() {
            res.headers_mut()
                .insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
    Ok(res)
}

/// Charges a tenant request to its limits (for a publishable key: its client IP, the key,
/// then the tenant) and returns the refusal or the tightest verdict; `None` if unlimited.
async fn limit_tenant(state: &AppState, t: &TenantPrincipal, ip: IpAddr) -> Option<Verdict> {
    let publishable = (t.kind == KeyKind::Publishable).then_some((t.key_id, ip));
    state
        .limits
        .check_tenant(t.tenant_id, t.limits, publishable)
        .await
}
