//! Rate limits of docs/API.md §3: per tenant, per publishable key, per client IP on publishable-key
//! traffic, and per IP on failed authentication. GCRA everywhere: `burst` at once, refilled
//! at `per_minute`. Decisions are made before any database work.
//!
//! [`RateLimits`] is the one API for both backends: `local` (in-process, [`local`]) and
//! `redis` (one atomic Lua GCRA shared by every node, [`redis`]). The redis backend falls back
//! to the local limiter whenever Redis is unreachable or errors. See `docs/RATE_LIMITS.md`.
pub mod local;
pub mod pacing;
pub mod redis;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use uuid::Uuid;

use crate::config::{Config, RateLimitBackend};

/// A limit as configured: unlimited, or GCRA parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateSpec {
    Unlimited,
    Limited { per_minute: u32, burst: u32 },
}

impl RateSpec {
    /// The GCRA parameters, `None` when unlimited (or when a zero makes no sense as a limit).
    pub fn rate(self) -> Option<Rate> {
        match self {
            RateSpec::Unlimited => None,
            RateSpec::Limited { per_minute, burst } => Rate::new(per_minute, burst),
        }
    }
}

/// GCRA parameters: `burst` requests at once, refilled at `per_minute`. Both at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    per_minute: NonZeroU32,
    burst: NonZeroU32,
}

impl Rate {
    pub fn new(per_minute: u32, burst: u32) -> Option<Self> {
        Some(Self {
            per_minute: NonZeroU32::new(per_minute)?,
            burst: NonZeroU32::new(burst)?,
        })
    }

    pub fn per_minute(self) -> NonZeroU32 {
        self.per_minute
    }

    pub fn burst(self) -> NonZeroU32 {
        self.burst
    }

    /// Time to earn back one request.
    pub fn interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute.get()
    }
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

/// One GCRA bucket a request is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// A tenant's secret-key traffic, at the tenant's effective rate.
    Tenant { id: Uuid, rate: Rate },
    /// All publishable keys of a tenant together, at the same rate but apart from its
    /// secret-key traffic, so a widget's visitors never spend the tenant's own budget.
    TenantPublishable { id: Uuid, rate: Rate },
    /// One publishable key.
    PublishableKey(Uuid),
    /// One client IP sending publishable-key traffic.
    PublicIp(IpAddr),
    /// One client IP whose requests fail authentication.
    FailedAuth(IpAddr),
}

impl Bucket {
    pub fn kind(&self) -> LimitKind {
        match self {
            Bucket::Tenant { .. } | Bucket::TenantPublishable { .. } => LimitKind::Tenant,
            Bucket::PublishableKey(_) => LimitKind::PublishableKey,
            Bucket::PublicIp(_) | Bucket::FailedAuth(_) => LimitKind::Ip,
        }
    }

    pub fn rate(&self, fixed: &FixedLimits) -> Rate {
        match self {
            Bucket::Tenant { rate, .. } | Bucket::TenantPublishable { rate, .. } => *rate,
            Bucket::PublishableKey(_) => fixed.publishable_key,
            Bucket::PublicIp(_) => fixed.public_ip,
            Bucket::FailedAuth(_) => fixed.failed_auth_ip,
        }
    }
}

/// Limits that are not per plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedLimits {
    pub publishable_key: Rate,
    pub public_ip: Rate,
    pub failed_auth_ip: Rate,
}

/// The defaults of docs/API.md §3 for the limits that are not per plan (and 120/min, burst 20 per
/// publishable key, which the API reference leaves open).
pub fn default_fixed_limits() -> FixedLimits {
    let rate = |per_minute, burst| Rate::new(per_minute, burst).unwrap_or(Rate::MIN);
    FixedLimits {
        publishable_key: rate(120, 20),
        public_ip: rate(10, 5),
        failed_auth_ip: rate(30, 10),
    }
}

impl Rate {
    const MIN: Rate = Rate {
        per_minute: NonZeroU32::MIN,
        burst: NonZeroU32::MIN,
    };
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

    /// What the `RateLimit-*` headers report: limit, remaining, seconds to reset.
    pub fn headers(&self) -> [(&'static str, u64); 3] {
        [
            ("ratelimit-limit", u64::from(self.limit)),
            ("ratelimit-remaining", u64::from(self.remaining)),
            ("ratelimit-reset", self.reset_secs),
        ]
    }

    /// The whole seconds a refused client is told to wait (at least 1).
    pub fn retry_after(&self) -> u64 {
        self.retry_after_secs.unwrap_or(1).max(1)
    }
}

/// Whole seconds, rounded up.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Folds the verdicts of one request's buckets, in order: the first refusal wins (later
/// buckets are not charged); otherwise the tightest (fewest remaining) is reported.
pub fn combine(verdicts: impl IntoIterator<Item = Verdict>) -> Option<Verdict> {
    let mut tightest: Option<Verdict> = None;
    for v in verdicts {
        if !v.allowed() {
            return Some(v);
        }
        tightest = match tightest {
            Some(t) if t.remaining <= v.remaining => Some(t),
            _ => Some(v),
        };
    }
    tightest
}

/// The buckets of one request (at most three).
#[derive(Debug, Clone, Copy)]
pub struct Buckets {
    items: [Option<Bucket>; 3],
}

impl Buckets {
    /// A tenant request: for a publishable key its client IP, then the key, then the
    /// tenant's publishable budget; for the secret key the tenant's own budget.
    pub fn tenant(tenant: Uuid, spec: RateSpec, publishable: Option<(Uuid, IpAddr)>) -> Self {
        let (ip, key, tenant) = match publishable {
            Some((key, ip)) => (
                Some(Bucket::PublicIp(ip)),
                Some(Bucket::PublishableKey(key)),
                spec.rate()
                    .map(|rate| Bucket::TenantPublishable { id: tenant, rate }),
            ),
            None => (
                None,
                None,
                spec.rate().map(|rate| Bucket::Tenant { id: tenant, rate }),
            ),
        };
        Self {
            items: [ip, key, tenant],
        }
    }

    /// A single bucket.
    pub fn one(bucket: Bucket) -> Self {
        Self {
            items: [Some(bucket), None, None],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Bucket> {
        self.items.iter().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.items.iter().all(Option::is_none)
    }
}

/// The limits every request goes through, on the configured backend.
pub struct RateLimits {
    fixed: FixedLimits,
    local: local::LocalLimiter,
    shared: Option<redis::RedisLimiter>,
}

impl RateLimits {
    /// In-process limits only.
    pub fn new(fixed: FixedLimits) -> Self {
        Self {
            fixed,
            local: local::LocalLimiter::new(fixed),
            shared: None,
        }
    }

    /// Limits shared through Redis at `url`, keys under `prefix`; this node's local limiter
    /// answers while Redis does not. Connects lazily, so Redis may be down at start.
    pub fn with_redis(fixed: FixedLimits, url: &str, prefix: &str) -> Result<Self, String> {
        Ok(Self {
            shared: Some(redis::RedisLimiter::new(url, prefix)?),
            ..Self::new(fixed)
        })
    }

    /// The backend `HELPLINE_RATE_LIMIT_BACKEND` asks for, with the default fixed limits.
    pub fn from_config(config: &Config) -> Self {
        let fixed = default_fixed_limits();
        match (config.rate_limit_backend, &config.redis_url) {
            (RateLimitBackend::Redis, Some(url)) => {
                Self::with_redis(fixed, url, &config.redis_prefix).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "REDIS_URL is unusable; rate limits are local to this node");
                    Self::new(fixed)
                })
            }
            _ => Self::new(fixed),
        }
    }

    /// Charges one tenant request (and, for a publishable key, its key and client IP).
    /// `None` when nothing limits it (an unlimited tenant on a secret key).
    pub async fn check_tenant(
        &self,
        tenant: Uuid,
        spec: RateSpec,
        publishable: Option<(Uuid, IpAddr)>,
    ) -> Option<Verdict> {
        let buckets = Buckets::tenant(tenant, spec, publishable);
        if buckets.is_empty() {
            return None;
        }
        self.check(buckets).await
    }

    /// Counts one failed authentication from `ip`.
    pub async fn check_failed_auth(&self, ip: IpAddr) -> Verdict {
        let verdict = match self.check(Buckets::one(Bucket::FailedAuth(ip))).await {
            Some(v) => v,
            None => self.local.check(&Bucket::FailedAuth(ip)),
        };
        if let Some(secs) = verdict.retry_after_secs {
            self.local.block_failed_auth(ip, Duration::from_secs(secs));
        }
        verdict
    }

    /// `Some(429 verdict)` while `ip` is known to be over its failed-authentication limit, so
    /// a key-guessing flood is refused without a database lookup. Costs nothing otherwise.
    pub fn failed_auth_blocked(&self, ip: IpAddr) -> Option<Verdict> {
        self.local.failed_auth_blocked(ip)
    }

    async fn check(&self, buckets: Buckets) -> Option<Verdict> {
        // Boxed: the Redis future is large, and every local decision would pay for moving it.
        if let Some(shared) = &self.shared
            && let Ok(verdict) = Box::pin(shared.check(&buckets, &self.fixed)).await
        {
            return verdict;
        }
        self.local.check_all(&buckets)
    }

    /// Forgets a tenant's local state, e.g. after its limits changed. (Redis buckets are
    /// keyed by the rate itself, so a changed rate starts a fresh bucket there too.)
    pub fn reset_tenant(&self, tenant: Uuid) {
        self.local.reset_tenant(tenant);
    }

    /// Drops local state that has refilled completely. Redis keys expire by themselves.
    pub fn sweep(&self) {
        self.local.sweep();
        if let Some(shared) = &self.shared {
            shared.sweep();
        }
    }

    /// How many local limiter states are held.
    pub fn tracked(&self) -> usize {
        self.local.tracked()
    }

    /// The local limiter (the whole backend, or the redis backend's fallback).
    pub fn local(&self) -> &local::LocalLimiter {
        &self.local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(remaining: u32, retry: Option<u64>) -> Verdict {
        Verdict {
            kind: LimitKind::Tenant,
            limit: 5,
            remaining,
            reset_secs: 1,
            retry_after_secs: retry,
        }
    }

    #[test]
    fn combine_reports_the_first_refusal_or_the_tightest() {
        assert_eq!(combine([]), None);
        assert_eq!(
            combine([verdict(3, None), verdict(1, None), verdict(2, None)]),
            Some(verdict(1, None))
        );
        assert_eq!(
            combine([verdict(3, None), verdict(0, Some(2)), verdict(0, Some(9))]),
            Some(verdict(0, Some(2)))
        );
    }

    #[test]
    fn rates() {
        assert_eq!(Rate::new(0, 5), None);
        assert_eq!(Rate::new(5, 0), None);
        let free = Rate::new(60, 5).expect("rate");
        assert_eq!(free.interval(), Duration::from_secs(1));
        assert_eq!(RateSpec::Unlimited.rate(), None);
        assert_eq!(
            ceil_secs(Duration::from_millis(1001)),
            2,
            "rounds up to whole seconds"
        );
        assert_eq!(ceil_secs(Duration::from_secs(1)), 1);
    }
}
