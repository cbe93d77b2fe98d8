//! In-process GCRA limiters (governor). Per-tenant limiters carry their own quota, so an
//! override replaces the tenant's limiter; keyed limiters (IPs, publishable keys) share one
//! quota each. Idle state is dropped by `sweep`, so a flood of distinct IPs cannot grow
//! memory without bound.
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use super::{LimitKind, RateSpec, Verdict, ceil_secs};

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>;
type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, StateInformationMiddleware>;

pub fn quota(per_minute: u32, burst: u32) -> Option<Quota> {
    let per_minute = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new(burst)?;
    Some(Quota::per_minute(per_minute).allow_burst(burst))
}

struct TenantBucket<C: Clock> {
    spec: RateSpec,
    limiter: Arc<Direct<C>>,
    /// After this instant the bucket has refilled completely and may be dropped.
    full_again_at: Instant,
}

pub struct LocalLimiter<C: Clock = DefaultClock> {
    clock: C,
    fixed: FixedLimits,
    tenants: DashMap<Uuid, TenantBucket<C>>,
    publishable_keys: Keyed<Uuid, C>,
    public_ips: Keyed<IpAddr, C>,
    failed_auth_ips: Keyed<IpAddr, C>,
}

/// Limits that are not per plan.
#[derive(Debug, Clone, Copy)]
pub struct FixedLimits {
    pub publishable_key: Quota,
    pub public_ip: Quota,
    pub failed_auth_ip: Quota,
}

impl LocalLimiter<DefaultClock> {
    pub fn new(fixed: FixedLimits) -> Self {
        Self::with_clock(fixed, DefaultClock::default())
    }
}

impl<C> LocalLimiter<C>
where
    C: Clock + Clone,
    C::Instant: governor::clock::Reference,
{
    pub fn with_clock(fixed: FixedLimits, clock: C) -> Self {
        Self {
            fixed,
            tenants: DashMap::new(),
            publishable_keys: RateLimiter::dashmap_with_clock(fixed.publishable_key, clock.clone())
                .with_middleware(),
            public_ips: RateLimiter::dashmap_with_clock(fixed.public_ip, clock.clone())
                .with_middleware(),
            failed_auth_ips: RateLimiter::dashmap_with_clock(fixed.failed_auth_ip, clock.clone())
                .with_middleware(),
            clock,
        }
    }

    /// `None` when the tenant is unlimited.
    pub fn check_tenant(&self, tenant: Uuid, spec: RateSpec) -> Option<Verdict> {
        let RateSpec::Limited { per_minute, burst } = spec else {
            self.tenants.remove(&tenant);
            return None;
        };
        let quota = quota(per_minute, burst)?;
        let limiter = {
            let mut bucket = self.tenants.entry(tenant).or_insert_with(|| TenantBucket {
                spec,
                limiter: Arc::new(self.direct(quota)),
                full_again_at: Instant::now(),
            });
            if bucket.spec != spec {
                bucket.spec = spec;
                bucket.limiter = Arc::new(self.direct(quota));
            }
            bucket.full_again_at = Instant::now() + quota.burst_size_replenished_in();
            Arc::clone(&bucket.limiter)
        };
        Some(self.verdict(LimitKind::Tenant, quota, limiter.check()))
    }

    pub fn check_publishable_key(&self, key: Uuid) -> Verdict {
        let outcome = self.publishable_keys.check_key(&key);
        self.verdict(
            LimitKind::PublishableKey,
            self.fixed.publishable_key,
            outcome,
        )
    }

    pub fn check_public_ip(&self, ip: IpAddr) -> Verdict {
        let outcome = self.public_ips.check_key(&ip);
        self.verdict(LimitKind::Ip, self.fixed.public_ip, outcome)
    }

    /// Counts one failed authentication from `ip`.
    pub fn check_failed_auth(&self, ip: IpAddr) -> Verdict {
        let outcome = self.failed_auth_ips.check_key(&ip);
        self.verdict(LimitKind::Ip, self.fixed.failed_auth_ip, outcome)
    }

    /// Forgets a tenant's state, e.g. after its limits changed.
    pub fn reset_tenant(&self, tenant: Uuid) {
        self.tenants.remove(&tenant);
    }

    /// Drops state that has refilled completely: it is indistinguishable from a fresh start.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.tenants.retain(|_, bucket| bucket.full_again_at > now);
        self.tenants.shrink_to_fit();
        self.publishable_keys.retain_recent();
        self.publishable_keys.shrink_to_fit();
        self.public_ips.retain_recent();
        self.public_ips.shrink_to_fit();
        self.failed_auth_ips.retain_recent();
        self.failed_auth_ips.shrink_to_fit();
    }

    /// How many limiter states are held (tenants, keys and IPs).
    pub fn tracked(&self) -> usize {
        self.tenants.len()
            + self.publishable_keys.len()
            + self.public_ips.len()
            + self.failed_auth_ips.len()
    }

    fn direct(&self, quota: Quota) -> Direct<C> {
        RateLimiter::direct_with_clock(quota, self.clock.clone()).with_middleware()
    }

    fn verdict(
        &self,
        kind: LimitKind,
        quota: Quota,
        outcome: Result<governor::middleware::StateSnapshot, governor::NotUntil<C::Instant>>,
    ) -> Verdict {
        let limit = quota.burst_size().get();
        let interval = quota.replenish_interval();
        match outcome {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = limit.saturating_sub(remaining);
                Verdict {
                    kind,
                    limit,
                    remaining,
                    reset_secs: ceil_secs(interval * missing),
                    retry_after_secs: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Verdict {
                    kind,
                    limit,
                    remaining: 0,
                    reset_secs: ceil_secs(interval * limit),
                    retry_after_secs: Some(ceil_secs(wait).max(1)),
                }
            }
        }
    }
}
