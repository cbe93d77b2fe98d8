//! In-process GCRA limiters (governor). Per-tenant limiters carry their own rate, so an
//! override replaces the tenant's limiter; keyed limiters (IPs, publishable keys) share one
//! quota each. Idle state is dropped by `sweep`, so a flood of distinct IPs cannot grow
//! memory without bound. Generic over governor's clock so tests need no sleeping.
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};
use uuid::Uuid;

use super::{Bucket, Buckets, FixedLimits, LimitKind, Rate, Verdict, ceil_secs, combine};

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>;
type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, StateInformationMiddleware>;

pub fn quota(rate: Rate) -> Quota {
    Quota::per_minute(rate.per_minute()).allow_burst(rate.burst())
}

struct TenantBucket<C: Clock> {
    rate: Rate,
    limiter: Direct<C>,
    /// Nanoseconds (since the limiter's epoch) after which the bucket has refilled
    /// completely and may be dropped.
    idle_after: AtomicU64,
}

pub struct LocalLimiter<C: Clock = DefaultClock> {
    clock: C,
    epoch: C::Instant,
    fixed: FixedLimits,
    tenants: DashMap<Uuid, TenantBucket<C>>,
    publishable_tenants: DashMap<Uuid, TenantBucket<C>>,
    publishable_keys: Keyed<Uuid, C>,
    public_ips: Keyed<IpAddr, C>,
    failed_auth_ips: Keyed<IpAddr, C>,
    /// IPs refused for failed authentication, until (nanoseconds since the epoch) their
    /// `Retry-After` has passed: lets the middleware refuse them before any database lookup.
    blocked_ips: DashMap<IpAddr, u64>,
}

impl LocalLimiter<DefaultClock> {
    pub fn new(fixed: FixedLimits) -> Self {
        Self::with_clock(fixed, DefaultClock::default())
    }
}

impl<C> LocalLimiter<C>
where
    C: Clock + Clone,
{
    pub fn with_clock(fixed: FixedLimits, clock: C) -> Self {
        Self {
            fixed,
            epoch: clock.now(),
            tenants: DashMap::new(),
            publishable_tenants: DashMap::new(),
            publishable_keys: RateLimiter::dashmap_with_clock(
                quota(fixed.publishable_key),
                clock.clone(),
            )
            .with_middleware(),
            public_ips: RateLimiter::dashmap_with_clock(quota(fixed.public_ip), clock.clone())
                .with_middleware(),
            failed_auth_ips: RateLimiter::dashmap_with_clock(
                quota(fixed.failed_auth_ip),
                clock.clone(),
            )
            .with_middleware(),
            blocked_ips: DashMap::new(),
            clock,
        }
    }

    /// Charges the buckets in order; see [`combine`].
    pub fn check_all(&self, buckets: &Buckets) -> Option<Verdict> {
        // `combine` stops at the first refusal, so later buckets are not charged.
        combine(buckets.iter().map(|b| self.check(b)))
    }

    /// Charges one request to one bucket.
    pub fn check(&self, bucket: &Bucket) -> Verdict {
        let rate = bucket.rate(&self.fixed);
        let kind = bucket.kind();
        match bucket {
            Bucket::Tenant { id, rate } => self.check_tenant(*id, *rate),
            Bucket::TenantPublishable { id, rate } => {
                self.check_in(&self.publishable_tenants, *id, *rate)
            }
            Bucket::PublishableKey(key) => {
                self.verdict(kind, rate, self.publishable_keys.check_key(key))
            }
            Bucket::PublicIp(ip) => self.verdict(kind, rate, self.public_ips.check_key(ip)),
            Bucket::FailedAuth(ip) => {
                let verdict = self.verdict(kind, rate, self.failed_auth_ips.check_key(ip));
                if let Some(secs) = verdict.retry_after_secs {
                    self.block_failed_auth(*ip, Duration::from_secs(secs));
                }
                verdict
            }
        }
    }

    /// One tenant request. The common case takes only a shard read lock; a new tenant or a
    /// changed rate (an override) installs a fresh bucket.
    pub fn check_tenant(&self, tenant: Uuid, rate: Rate) -> Verdict {
        self.check_in(&self.tenants, tenant, rate)
    }

    fn check_in(
        &self,
        tenants: &DashMap<Uuid, TenantBucket<C>>,
        tenant: Uuid,
        rate: Rate,
    ) -> Verdict {
        if let Some(bucket) = tenants.get(&tenant)
            && bucket.rate == rate
        {
            return self.check_bucket(&bucket);
        }
        let mut bucket = tenants
            .entry(tenant)
            .or_insert_with(|| self.new_bucket(rate));
        if bucket.rate != rate {
            *bucket = self.new_bucket(rate);
        }
        self.check_bucket(&bucket)
    }

    fn new_bucket(&self, rate: Rate) -> TenantBucket<C> {
        TenantBucket {
            rate,
            limiter: RateLimiter::direct_with_clock(quota(rate), self.clock.clone())
                .with_middleware(),
            idle_after: AtomicU64::new(0),
        }
    }

    fn check_bucket(&self, bucket: &TenantBucket<C>) -> Verdict {
        let outcome = bucket.limiter.check();
        // Refilled completely at the latest one full refill from now.
        let full_refill = bucket.rate.interval() * bucket.rate.burst().get();
        bucket
            .idle_after
            .fetch_max(self.nanos_now() + nanos(full_refill), Ordering::Relaxed);
        self.verdict(LimitKind::Tenant, bucket.rate, outcome)
    }

    /// Remembers that `ip` is refused for failed authentication for `wait`.
    pub fn block_failed_auth(&self, ip: IpAddr, wait: Duration) {
        let until = self.nanos_now() + nanos(wait);
        self.blocked_ips
            .entry(ip)
            .and_modify(|u| *u = (*u).max(until))
            .or_insert(until);
    }

    /// `Some(refusal)` while `ip` is refused for failed authentication; charges nothing.
    pub fn failed_auth_blocked(&self, ip: IpAddr) -> Option<Verdict> {
        if self.blocked_ips.is_empty() {
            return None;
        }
        let until = *self.blocked_ips.get(&ip)?;
        let now = self.nanos_now();
        if until <= now {
            return None;
        }
        let rate = self.fixed.failed_auth_ip;
        let wait = Duration::from_nanos(until - now);
        Some(Verdict {
            kind: LimitKind::Ip,
            limit: rate.burst().get(),
            remaining: 0,
            reset_secs: ceil_secs(wait + rate.interval() * (rate.burst().get() - 1)),
            retry_after_secs: Some(ceil_secs(wait).max(1)),
        })
    }

    /// Forgets a tenant's state, e.g. after its limits changed.
    pub fn reset_tenant(&self, tenant: Uuid) {
        self.tenants.remove(&tenant);
        self.publishable_tenants.remove(&tenant);
    }

    /// Drops state that has refilled completely: it is indistinguishable from a fresh start.
    pub fn sweep(&self) {
        let now = self.nanos_now();
        self.tenants
            .retain(|_, bucket| bucket.idle_after.load(Ordering::Relaxed) > now);
        self.tenants.shrink_to_fit();
        self.publishable_tenants
            .retain(|_, bucket| bucket.idle_after.load(Ordering::Relaxed) > now);
        self.publishable_tenants.shrink_to_fit();
        self.publishable_keys.retain_recent();
        self.publishable_keys.shrink_to_fit();
        self.public_ips.retain_recent();
        self.public_ips.shrink_to_fit();
        self.failed_auth_ips.retain_recent();
        self.failed_auth_ips.shrink_to_fit();
        self.blocked_ips.retain(|_, until| *until > now);
        self.blocked_ips.shrink_to_fit();
    }

    /// How many limiter states are held (tenants, keys and IPs).
    pub fn tracked(&self) -> usize {
        self.tenants.len()
            + self.publishable_tenants.len()
            + self.publishable_keys.len()
            + self.public_ips.len()
            + self.failed_auth_ips.len()
            + self.blocked_ips.len()
    }

    fn nanos_now(&self) -> u64 {
        self.clock.now().duration_since(self.epoch).as_u64()
    }

    fn verdict(
        &self,
        kind: LimitKind,
        rate: Rate,
        outcome: Result<StateSnapshot, NotUntil<C::Instant>>,
    ) -> Verdict {
        let limit = rate.burst().get();
        let interval = rate.interval();
        match outcome {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Verdict {
                    kind,
                    limit,
                    remaining,
                    // Each missing request comes back after one interval.
                    reset_secs: ceil_secs(interval * limit.saturating_sub(remaining)),
                    retry_after_secs: None,
                }
            }
            Err(not_until) => {
                // The next request conforms after `wait`; the rest of the burst after that.
                let wait = not_until.wait_time_from(self.clock.now());
                Verdict {
                    kind,
                    limit,
                    remaining: 0,
                    reset_secs: ceil_secs(wait + interval * (limit - 1)),
                    retry_after_secs: Some(ceil_secs(wait).max(1)),
                }
            }
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{RateSpec, default_fixed_limits};
    use governor::clock::FakeRelativeClock;

    fn limiter() -> (LocalLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            LocalLimiter::with_clock(default_fixed_limits(), clock.clone()),
            clock,
        )
    }

    fn rate(per_minute: u32, burst: u32) -> Rate {
        Rate::new(per_minute, burst).expect("valid rate")
    }

    fn free() -> Rate {
        rate(60, 5)
    }

    #[test]
    fn burst_then_refusal() {
        let (lim, _clock) = limiter();
        let tenant = Uuid::now_v7();
        for expected_remaining in (0..5).rev() {
            let v = lim.check_tenant(tenant, free());
            assert!(v.allowed());
            assert_eq!(v.kind, LimitKind::Tenant);
            assert_eq!(v.limit, 5);
            assert_eq!(v.remaining, expected_remaining);
        }
        let refused = lim.check_tenant(tenant, free());
        assert!(!refused.allowed());
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.kind.as_str(), "tenant");
        // Another tenant has its own budget.
        assert!(lim.check_tenant(Uuid::now_v7(), free()).allowed());
    }

    #[test]
    fn retry_after_is_whole_seconds_and_exactly_when_a_retry_succeeds() {
        let (lim, clock) = limiter();
        let tenant = Uuid::now_v7();
        // 6/min: one request back every 10 s.
        let slow = rate(6, 2);
        assert!(lim.check_tenant(tenant, slow).allowed());
        assert!(lim.check_tenant(tenant, slow).allowed());
        clock.advance(Duration::from_millis(2_500));
        let refused = lim.check_tenant(tenant, slow);
        // 7.5 s to go: rounded up to 8.
        assert_eq!(refused.retry_after_secs, Some(8));
        clock.advance(Duration::from_millis(7_499));
        assert!(!lim.check_tenant(tenant, slow).allowed(), "too early");
        clock.advance(Duration::from_millis(1));
        assert!(lim.check_tenant(tenant, slow).allowed(), "exactly on time");

        // Less than a second to wait is still `Retry-After: 1`, and 1 s later it passes.
        let tenant = Uuid::now_v7();
        for _ in 0..5 {
            assert!(lim.check_tenant(tenant, free()).allowed());
        }
        clock.advance(Duration::from_millis(999));
        let refused = lim.check_tenant(tenant, free());
        assert_eq!(refused.retry_after_secs, Some(1));
        clock.advance(Duration::from_secs(1));
        assert!(lim.check_tenant(tenant, free()).allowed());
    }

    #[test]
    fn remaining_and_reset_headers() {
        let (lim, clock) = limiter();
        let tenant = Uuid::now_v7();
        let first = lim.check_tenant(tenant, free());
        assert_eq!((first.remaining, first.reset_secs), (4, 1));
        let second = lim.check_tenant(tenant, free());
        assert_eq!((second.remaining, second.reset_secs), (3, 2));
        for _ in 0..3 {
            lim.check_tenant(tenant, free());
        }
        let refused = lim.check_tenant(tenant, free());
        // Empty: 1 s until the next request, 5 s until the whole burst is back.
        assert_eq!(
            (
                refused.remaining,
                refused.retry_after_secs,
                refused.reset_secs
            ),
            (0, Some(1), 5)
        );
        let headers = refused.headers();
        assert_eq!(headers[0].0, "ratelimit-limit");
        assert_eq!(headers[0].1, 5);
        assert_eq!(headers[1].1, 0);
        assert_eq!(headers[2].1, 5);
        // After a full refill the bucket reports the whole burst again.
        clock.advance(Duration::from_secs(5));
        let v = lim.check_tenant(tenant, free());
        assert_eq!((v.remaining, v.reset_secs), (4, 1));
    }

    #[test]
    fn override_replaces_the_bucket() {
        let (lim, _clock) = limiter();
        let tenant = Uuid::now_v7();
        for _ in 0..5 {
            lim.check_tenant(tenant, free());
        }
        assert!(!lim.check_tenant(tenant, free()).allowed());
        // A new rate is a new bucket: allowed at once, with the new limit.
        let custom = rate(600, 50);
        let v = lim.check_tenant(tenant, custom);
        assert!(v.allowed());
        assert_eq!((v.limit, v.remaining), (50, 49));
        // Tighter again: a fresh bucket of 2.
        let tight = rate(1, 2);
        assert!(lim.check_tenant(tenant, tight).allowed());
        assert!(lim.check_tenant(tenant, tight).allowed());
        assert!(!lim.check_tenant(tenant, tight).allowed());
        // reset_tenant forgets the state.
        lim.reset_tenant(tenant);
        assert!(lim.check_tenant(tenant, tight).allowed());
    }

    #[test]
    fn unlimited_tenants_take_no_bucket() {
        let (lim, _clock) = limiter();
        let buckets = Buckets::tenant(Uuid::now_v7(), RateSpec::Unlimited, None);
        assert!(buckets.is_empty());
        assert_eq!(lim.check_all(&buckets), None);
        assert_eq!(lim.tracked(), 0);
    }

    #[test]
    fn publishable_traffic_is_limited_per_ip_then_per_key_then_per_tenant() {
        let (lim, _clock) = limiter();
        let tenant = Uuid::now_v7();
        let key = Uuid::now_v7();
        let ip: IpAddr = "203.0.113.7".parse().expect("ip");
        let spec = RateSpec::Limited {
            per_minute: 1000,
            burst: 100,
        };
        let req = |ip| Buckets::tenant(tenant, spec, Some((key, ip)));
        for remaining in (0..5).rev() {
            let v = lim.check_all(&req(ip)).expect("limited");
            assert!(v.allowed());
            // The tightest limit is the per-IP one (burst 5).
            assert_eq!(
                (v.kind, v.limit, v.remaining),
                (LimitKind::Ip, 5, remaining)
            );
        }
        let refused = lim.check_all(&req(ip)).expect("limited");
        assert_eq!(refused.kind, LimitKind::Ip);
        assert!(!refused.allowed());
        // Another IP passes until the key's own limit (burst 20) is spent.
        let mut last = None;
        for n in 0..40u8 {
            let v = lim
                .check_all(&req(IpAddr::from([198, 51, 100, n])))
                .expect("limited");
            if !v.allowed() {
                last = Some(v);
                break;
            }
        }
        let refused = last.expect("the key's limit is reached");
        assert_eq!(refused.kind, LimitKind::PublishableKey);
        assert_eq!(refused.kind.as_str(), "publishable_key");
    }

    #[test]
    fn publishable_traffic_has_its_own_tenant_budget() {
        let (lim, _clock) = limiter();
        let tenant = Uuid::now_v7();
        let spec = RateSpec::Limited {
            per_minute: 60,
            burst: 5,
        };
        let visitor = |n: u8| {
            Buckets::tenant(
                tenant,
                spec,
                Some((Uuid::now_v7(), IpAddr::from([198, 51, 100, n]))),
            )
        };
        for n in 0..5 {
            assert!(lim.check_all(&visitor(n)).expect("limited").allowed());
        }
        let refused = lim.check_all(&visitor(5)).expect("limited");
        assert_eq!(
            (refused.kind, refused.allowed()),
            (LimitKind::Tenant, false)
        );
        let own = lim
            .check_all(&Buckets::tenant(tenant, spec, None))
            .expect("limited");
        assert_eq!((own.allowed(), own.remaining), (true, 4));
        lim.reset_tenant(tenant);
        assert!(lim.check_all(&visitor(6)).expect("limited").allowed());
    }

    #[test]
    fn failed_auth_is_limited_per_ip_and_remembered() {
        let (lim, clock) = limiter();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..10 {
            assert!(lim.check(&Bucket::FailedAuth(ip)).allowed());
            assert_eq!(lim.failed_auth_blocked(ip), None);
        }
        let refused = lim.check(&Bucket::FailedAuth(ip));
        assert_eq!(refused.kind, LimitKind::Ip);
        assert_eq!(refused.retry_after_secs, Some(2), "30/min: one every 2 s");
        let blocked = lim.failed_auth_blocked(ip).expect("blocked");
        assert_eq!(blocked.retry_after_secs, Some(2));
        assert_eq!(
            lim.failed_auth_blocked("192.0.2.2".parse().expect("ip")),
            None
        );
        clock.advance(Duration::from_secs(2));
        assert_eq!(lim.failed_auth_blocked(ip), None);
        assert!(lim.check(&Bucket::FailedAuth(ip)).allowed());
    }

    #[test]
    fn sweep_drops_idle_state_so_memory_stays_bounded() {
        let (lim, clock) = limiter();
        for n in 0..100_000u32 {
            let ip = IpAddr::from(n.to_be_bytes());
            lim.check(&Bucket::FailedAuth(ip));
            lim.check(&Bucket::PublicIp(ip));
        }
        for _ in 0..1_000 {
            lim.check_tenant(Uuid::now_v7(), free());
        }
        let busy = Uuid::now_v7();
        assert_eq!(lim.tracked(), 201_000);
        // Not yet refilled: nothing is dropped.
        lim.sweep();
        assert_eq!(lim.tracked(), 201_000);
        // Once every bucket has refilled, only the still-busy tenant stays.
        clock.advance(Duration::from_secs(61));
        lim.check_tenant(busy, free());
        lim.sweep();
        assert_eq!(lim.tracked(), 1);
        // Forgotten state behaves like a fresh start.
        assert_eq!(
            lim.check(&Bucket::PublicIp(IpAddr::from([0, 0, 0, 1])))
                .remaining,
            4
        );
    }
}
