//! Rate limits of SPEC §3: per tenant, per publishable key, per client IP on publishable-key
//! traffic, and per IP on failed authentication. GCRA everywhere: `burst` at once, refilled
//! at `per_minute`. Decisions are made before any database work.
pub mod local;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use crate::error::ApiError;

/// A limit as configured: unlimited, or GCRA parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateSpec {
    Unlimited,
    Limited { per_minute: u32, burst: u32 },
}

/// Which limit a decision was about; also the `detail` of a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Tenant,
    PublishableKey,
    Ip,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Tenant => "tenant",
            LimitKind::PublishableKey => "publishable_key",
            LimitKind::Ip => "ip",
        }
    }
}

/// The outcome of one check, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub kind: LimitKind,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// `Some(seconds)` when the request is refused.
    pub retry_after_secs: Option<u64>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.retry_after_secs.is_none()
    }

    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        [
            (
                HeaderName::from_static("ratelimit-limit"),
                HeaderValue::from(self.limit),
            ),
            (
                HeaderName::from_static("ratelimit-remaining"),
                HeaderValue::from(self.remaining),
            ),
            (
                HeaderName::from_static("ratelimit-reset"),
                HeaderValue::from(self.reset_secs),
            ),
        ]
    }

    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in self.headers() {
            headers.insert(name, value);
        }
    }

    /// The `429` for a refused verdict.
    pub fn to_error(&self) -> ApiError {
        let retry_after = self.retry_after_secs.unwrap_or(1);
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests; retry after the Retry-After header's seconds",
        )
        .with_detail(self.kind.as_str())
        .with_header(RETRY_AFTER, retry_after);
        err.headers.extend(self.headers());
        err
    }
}

/// Whole seconds, rounded up.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The limits every request goes through, on the configured backend.
pub struct RateLimits {
    local: local::LocalLimiter,
}

impl RateLimits {
    pub fn new(fixed: local::FixedLimits) -> Self {
        Self {
            local: local::LocalLimiter::new(fixed),
        }
    }

    /// `None` when the tenant is unlimited.
    pub fn check_tenant(&self, tenant: uuid::Uuid, spec: RateSpec) -> Option<Verdict> {
        self.local.check_tenant(tenant, spec)
    }

    /// Publishable-key traffic: the client IP first, then the key.
    pub fn check_publishable(&self, key: uuid::Uuid, ip: std::net::IpAddr) -> Verdict {
        let by_ip = self.local.check_public_ip(ip);
        if !by_ip.allowed() {
            return by_ip;
        }
        self.local.check_publishable_key(key)
    }

    pub fn check_failed_auth(&self, ip: std::net::IpAddr) -> Verdict {
        self.local.check_failed_auth(ip)
    }

    pub fn reset_tenant(&self, tenant: uuid::Uuid) {
        self.local.reset_tenant(tenant);
    }

    pub fn sweep(&self) {
        self.local.sweep();
    }

    pub fn tracked(&self) -> usize {
        self.local.tracked()
    }
}

/// The defaults of SPEC §3 for the limits that are not per plan.
pub fn default_fixed_limits() -> local::FixedLimits {
    let q = |per_minute, burst| {
        local::quota(per_minute, burst)
            .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN))
    };
    local::FixedLimits {
        publishable_key: q(120, 20),
        public_ip: q(10, 5),
        failed_auth_ip: q(30, 10),
    }
}
