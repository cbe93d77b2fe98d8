//! Resolves `Authorization: Bearer` into a [`Principal`] and applies the rate limits that
//! depend on who is calling, before any handler (and any database work past the cached
//! key lookup) runs.
use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, ORIGIN};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};

use crate::app::AppState;
use crate::auth::keys::{self, Shape};
use crate::auth::{KeyKind, Principal, TenantPrincipal};
use crate::http::context::route_pattern;
use crate::http::error::{ApiError, rate_limited};
use crate::ratelimit::Verdict;

enum Credentials<'a> {
    None,
    Bearer(&'a str),
    Malformed,
}

fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    let Some(value) = headers.get(AUTHORIZATION) else {
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

/// The bearer token of a request, if it has a well-formed one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    match credentials(headers) {
        Credentials::Bearer(token) => Some(token),
        Credentials::None | Credentials::Malformed => None,
    }
}

/// The client's address: the socket peer, or the nearest untrusted `X-Forwarded-For` hop when
/// the peer is a trusted proxy. A hop may carry a port (`ip:port`, `[v6]:port`); a hop that
/// is not an address at all ends the walk (the peer is used), so nothing a client wrote
/// before it can win.
pub fn client_ip(req: &ServiceRequest, trusted: &[IpAddr]) -> IpAddr {
    client_ip_of(req.peer_addr().map(|a| a.ip()), req.headers(), trusted)
}

/// [`client_ip`] from the socket peer and the headers (for handlers, which hold an
/// `HttpRequest`).
pub fn client_ip_of(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(hops) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) else {
        return peer;
    };
    for hop in hops.rsplit(',') {
        let hop = hop.trim();
        let Some(ip) = hop
            .parse::<IpAddr>()
            .ok()
            .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        else {
            return peer;
        };
        if !trusted.contains(&ip) {
            return ip;
        }
    }
    peer
}

/// The address a client's limits are counted under: IPv6 by its /64 (one host usually owns
/// a whole /64, so counting single addresses would give it 2^64 budgets).
pub fn limit_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
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
    let token = match credentials(req.headers()) {
        Credentials::None => return next.call(req).await.map(|r| r.map_into_boxed_body()),
        Credentials::Bearer(token) => Some(token.to_string()),
        Credentials::Malformed => None,
    };
    let ip = limit_bucket(client_ip(&req, &state.config.trusted_proxies));
    let resolved = match token {
        Some(token) => match state.auth.cached(&token) {
            Some(principal) => Some(principal),
            None => {
                let worth_a_lookup = match keys::shape(&token) {
                    // Never a key of ours: refused without a lookup (at once while the
                    // IP is refused for guessing, else below as a failure).
                    Shape::Junk => {
                        if let Some(v) = state.limits.failed_auth_blocked(ip) {
                            return Ok(refuse(&state, req, rate_limited(&v)).await);
                        }
                        false
                    }
                    // A well-formed key is always looked up, whatever others did from its IP.
                    Shape::Checked => true,
                    // A key from before checksums looks like a guess: an IP refused for key
                    // guessing gets its 429 before any lookup, unless this very key
                    // authenticated here recently.
                    Shape::Legacy => {
                        if !state.auth.seen_valid(&token)
                            && let Some(v) = state.limits.failed_auth_blocked(ip)
                        {
                            return Ok(refuse(&state, req, rate_limited(&v)).await);
                        }
                        true
                    }
                };
                if worth_a_lookup {
                    match state.auth.resolve(&token).await {
                        Ok(found) => found,
                        Err(e) => return Ok(reject(req, e.into())),
                    }
                } else {
                    None
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
        // A bot has a budget of its own, counted like a tenant's.
        Principal::Bot(b) => state.limits.check_tenant(b.id, BOT_RATE, None).await,
        Principal::Staff(_) => None,
    };
    if let Some(v) = verdict
        && !v.allowed()
    {
        return Ok(refuse(&state, req, rate_limited(&v)).await);
    }
    // The key's scope is settled here, before the idempotency layer or a handler runs.
    if let Principal::Tenant(t) = &principal
        && t.kind == KeyKind::Publishable
        && !crate::auth::publishable_may_call(
            req.method().as_str(),
            route_pattern(req.request()).as_deref(),
        )
    {
        return Ok(reject(req, super::insufficient_scope()));
    }
    // A browser request (it has an `Origin`) from an origin the publishable key does not
    // list. Requests without `Origin` (servers, scripts) are not browsers' and pass.
    if let Principal::Tenant(t) = &principal
        && let Some(origin) = req.headers().get(ORIGIN)
        && !origin.to_str().is_ok_and(|o| t.origin_allowed(o))
    {
        let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        return Ok(reject(req, super::origin_not_allowed(origin)));
    }
    if let Principal::Bot(_) = &principal
        && !crate::auth::bot_may_call(
            req.method().as_str(),
            route_pattern(req.request()).as_deref(),
        )
    {
        return Ok(reject(req, super::bot_out_of_scope()));
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

/// A bot's rate limit: the `base` plan's (docs/RATE_LIMITS.md).
const BOT_RATE: crate::ratelimit::RateSpec = crate::ratelimit::RateSpec::Limited {
    per_minute: 300,
    burst: 25,
};

/// Charges a tenant request to its limits (for a publishable key: its client IP, the key,
/// then the tenant) and returns the refusal or the tightest verdict; `None` if unlimited.
async fn limit_tenant(state: &AppState, t: &TenantPrincipal, ip: IpAddr) -> Option<Verdict> {
    let publishable = (t.kind == KeyKind::Publishable).then_some((t.key_id, ip));
    state
        .limits
        .check_tenant(t.tenant_id, t.limits, publishable)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn from_proxy(forwarded: &str) -> IpAddr {
        let req = TestRequest::default()
            .peer_addr("10.0.0.1:4000".parse().expect("addr"))
            .insert_header(("x-forwarded-for", forwarded))
            .to_srv_request();
        client_ip(&req, &["10.0.0.1".parse().expect("ip")])
    }

    #[test]
    fn forwarded_hops_with_ports_count_and_junk_ends_the_walk() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            from_proxy("198.51.100.7, 203.0.113.9:4242"),
            ip("203.0.113.9")
        );
        assert_eq!(
            from_proxy("198.51.100.7, [2001:db8::5]:443"),
            ip("2001:db8::5")
        );
        assert_eq!(from_proxy("198.51.100.7, 203.0.113.9"), ip("203.0.113.9"));
        assert_eq!(from_proxy("198.51.100.7, unknown"), ip("10.0.0.1"));
        assert_eq!(from_proxy("198.51.100.7, 10.0.0.1"), ip("198.51.100.7"));
    }

    #[test]
    fn ipv6_is_limited_by_its_64() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(limit_bucket(ip("2001:db8:1:2::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            limit_bucket(ip("2001:db8:1:2:ffff:1:2:3")),
            limit_bucket(ip("2001:db8:1:2::9"))
        );
        assert_ne!(limit_bucket(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_bucket(ip("203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(limit_bucket(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
    }
}
