//! The shared backend: one atomic GCRA Lua script in Redis (`gcra.lua`) per request, keyed
//! by tenant (and by publishable key / client IP), so a limit holds across every API node.
//!
//! Redis trouble never fails a request: on an error or a timeout the caller uses its local
//! limiter instead, Redis is left alone for [`RETRY_AFTER`], then one request probes it again.
//! The outage is logged when it starts, every [`LOG_EVERY`] while it lasts, and when it ends.
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Script};

use super::{Bucket, Buckets, FixedLimits, Verdict, ceil_secs, combine};

/// Longest a rate-limit decision waits for Redis before falling back.
pub const TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is left alone after a failure.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often a continuing outage is logged again.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// Redis could not decide; use the local limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

pub struct RedisLimiter {
    client: Client,
    prefix: String,
    script: Script,
    conn: RwLock<Option<MultiplexedConnection>>,
    connecting: tokio::sync::Mutex<()>,
    health: Health,
    /// Single-bucket refusals Redis gave, by bucket key, until the bucket allows a request
    /// again: a flood past its limit is refused here without a Redis round trip. Exact, not
    /// an approximation: other nodes' requests only push a bucket's next allowed time later,
    /// and an override changes the bucket key (see [`Self::key`]).
    refused: DashMap<String, Refusal>,
}

/// A refusal remembered until `until` (this node's clock, taken before asking Redis, so it is
/// never later than the bucket's real next allowed time).
#[derive(Debug, Clone, Copy)]
struct Refusal {
    until: Instant,
    full_at: Instant,
    verdict: Verdict,
}

impl RedisLimiter {
    /// Parses the URL; connects lazily on the first decision.
    pub fn new(url: &str, prefix: &str) -> Result<Self, String> {
        let client = Client::open(url).map_err(|e| format!("invalid REDIS_URL: {e}"))?;
        Ok(Self {
            client,
            prefix: prefix.to_string(),
            script: Script::new(include_str!("gcra.lua")),
            conn: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
            health: Health::new(),
            refused: DashMap::new(),
        })
    }

    /// The Redis key of a bucket. A tenant's key names its rate, so an override starts a
    /// fresh bucket on every node; old keys expire once they would be full.
    pub fn key(&self, bucket: &Bucket) -> String {
        let p = &self.prefix;
        match bucket {
            Bucket::Tenant { id, rate } => {
                format!("{p}rl:tenant:{id}:{}:{}", rate.per_minute(), rate.burst())
            }
            Bucket::TenantPublishable { id, rate } => {
                format!(
                    "{p}rl:tenant-pk:{id}:{}:{}",
                    rate.per_minute(),
                    rate.burst()
                )
            }
            Bucket::PublishableKey(key) => format!("{p}rl:pk:{key}"),
            Bucket::PublicIp(ip) => format!("{p}rl:pk-ip:{ip}"),
            Bucket::FailedAuth(ip) => format!("{p}rl:auth-ip:{ip}"),
        }
    }

    /// Charges the buckets in order (see [`combine`]), or `Err(Unavailable)`.
    pub async fn check(
        &self,
        buckets: &Buckets,
        fixed: &FixedLimits,
    ) -> Result<Option<Verdict>, Unavailable> {
        if buckets.is_empty() {
            return Ok(None);
        }
        // Only single-bucket requests: with several, the buckets before the refusing one are
        // charged by the script, which a local refusal would skip.
        let single = match (buckets.iter().next(), buckets.iter().nth(1)) {
            (Some(bucket), None) => Some(self.key(bucket)),
            _ => None,
        };
        let asked_at = Instant::now();
        if let Some(key) = &single
            && let Some(verdict) = self.refused_locally(key, asked_at)
        {
            return Ok(Some(verdict));
        }
        if !self.health.should_try() {
            return Err(Unavailable);
        }
        let outcome = match tokio::time::timeout(TIMEOUT, self.eval(buckets, fixed)).await {
            Ok(Ok(values)) => parse(buckets, fixed, &values),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {TIMEOUT:?}")),
        };
        match outcome {
            Ok((verdict, wait)) => {
                self.health.succeeded();
                if let (Some(key), Some(v), Some((retry, reset))) = (single, verdict, wait) {
                    self.refused.insert(
                        key,
                        Refusal {
                            until: asked_at + retry,
                            full_at: asked_at + reset,
                            verdict: v,
                        },
                    );
                }
                Ok(verdict)
            }
            Err(error) => {
                // A fresh connection for the next probe.
                *self.conn.write().unwrap_or_else(|e| e.into_inner()) = None;
                self.health.failed(&error);
                Err(Unavailable)
            }
        }
    }

    /// The remembered refusal of the bucket `key`, while it holds.
    fn refused_locally(&self, key: &str, now: Instant) -> Option<Verdict> {
        let refusal = *self.refused.get(key)?;
        if now >= refusal.until {
            self.refused.remove_if(key, |_, r| now >= r.until);
            return None;
        }
        Some(Verdict {
            reset_secs: ceil_secs(refusal.full_at.saturating_duration_since(now)),
            retry_after_secs: Some(ceil_secs(refusal.until - now).max(1)),
            ..refusal.verdict
        })
    }

    /// Forgets refusals that no longer hold.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.refused.retain(|_, r| r.until > now);
        self.refused.shrink_to_fit();
    }

    async fn eval(&self, buckets: &Buckets, fixed: &FixedLimits) -> redis::RedisResult<Vec<i64>> {
        let mut invocation = self.script.prepare_invoke();
        for bucket in buckets.iter() {
            let rate = bucket.rate(fixed);
            let interval_us = u64::try_from(rate.interval().as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            invocation
                .key(self.key(bucket))
                .arg(interval_us)
                .arg(rate.burst().get());
        }
        let mut conn = self.connection().await?;
        invocation.invoke_async(&mut conn).await
    }

    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *self.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
        Ok(conn)
    }

    fn current(&self) -> Option<MultiplexedConnection> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The exact wait of a refused single-bucket request: (until allowed, until full).
type Wait = Option<(Duration, Duration)>;

/// The script's 4 integers per decided bucket → the request's verdict (and, for a refused
/// single bucket, its exact wait).
fn parse(
    buckets: &Buckets,
    fixed: &FixedLimits,
    values: &[i64],
) -> Result<(Option<Verdict>, Wait), String> {
    if values.is_empty() || !values.len().is_multiple_of(4) {
        return Err(format!("unexpected reply from the GCRA script: {values:?}"));
    }
    let micros = |v: i64| Duration::from_micros(v.max(0).unsigned_abs());
    let wait =
        (values.len() == 4 && values[0] == 0).then(|| (micros(values[2]), micros(values[3])));
    let verdicts = buckets
        .iter()
        .zip(values.chunks_exact(4))
        .map(|(bucket, v)| Verdict {
            kind: bucket.kind(),
            limit: bucket.rate(fixed).burst().get(),
            remaining: u32::try_from(v[1].max(0)).unwrap_or(u32::MAX),
            reset_secs: ceil_secs(micros(v[3])),
            retry_after_secs: (v[0] == 0).then(|| ceil_secs(micros(v[2])).max(1)),
        });
    Ok((combine(verdicts), wait))
}

/// Whether Redis is worth asking, and the rate-limited log of its outages.
struct Health {
    epoch: Instant,
    /// 0 while Redis answers; otherwise the time (ms since `epoch`) before which it is not
    /// asked again.
    skip_until_ms: AtomicU64,
    /// Decisions made locally during the current outage.
    fallbacks: AtomicU64,
    /// When the outage was last logged (ms since `epoch`).
    logged_ms: AtomicU64,
}

impl Health {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            skip_until_ms: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            logged_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn retry_ms(&self) -> u64 {
        self.now_ms() + u64::try_from(RETRY_AFTER.as_millis()).unwrap_or(1_000)
    }

    /// True while healthy; during an outage, true for one caller per [`RETRY_AFTER`] (the probe).
    fn should_try(&self) -> bool {
        let skip_until = self.skip_until_ms.load(Ordering::Relaxed);
        if skip_until == 0 {
            return true;
        }
        let probe = self.now_ms() >= skip_until
            && self
                .skip_until_ms
                .compare_exchange(
                    skip_until,
                    self.retry_ms(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if !probe {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        probe
    }

    fn succeeded(&self) {
        if self.skip_until_ms.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!(
                local_decisions = self.fallbacks.swap(0, Ordering::Relaxed),
                "redis rate limiter reachable again; limits are shared across nodes"
            );
        }
    }

    fn failed(&self, error: &str) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        let was_healthy = self.skip_until_ms.swap(self.retry_ms(), Ordering::Relaxed) == 0;
        let now = self.now_ms();
        let every = u64::try_from(LOG_EVERY.as_millis()).unwrap_or(60_000);
        let logged = self.logged_ms.load(Ordering::Relaxed);
        if was_healthy {
            self.logged_ms.store(now, Ordering::Relaxed);
            tracing::warn!(
                error,
                "redis rate limiter unavailable; falling back to this node's local limiter"
            );
        } else if now.saturating_sub(logged) >= every
            && self
                .logged_ms
                .compare_exchange(logged, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                error,
                local_decisions = self.fallbacks.load(Ordering::Relaxed),
                "redis rate limiter still unavailable; limits hold per node"
            );
        }
    }

    #[cfg(test)]
    fn healthy(&self) -> bool {
        self.skip_until_ms.load(Ordering::Relaxed) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{LimitKind, Rate, RateSpec, default_fixed_limits};
    use uuid::Uuid;

    #[test]
    fn keys_are_namespaced_and_name_the_tenant_rate() {
        let lim = RedisLimiter::new("redis://127.0.0.1:6379", "ns:").expect("url");
        let id = Uuid::nil();
        let rate = Rate::new(60, 5).expect("rate");
        assert_eq!(
            lim.key(&Bucket::Tenant { id, rate }),
            format!("ns:rl:tenant:{id}:60:5")
        );
        assert_eq!(
            lim.key(&Bucket::FailedAuth("10.0.0.1".parse().expect("ip"))),
            "ns:rl:auth-ip:10.0.0.1"
        );
        assert!(RedisLimiter::new("not a url", "ns:").is_err());
    }

    #[test]
    fn script_replies_become_verdicts() {
        let fixed = default_fixed_limits();
        let key = Uuid::now_v7();
        let buckets = Buckets::tenant(
            Uuid::now_v7(),
            RateSpec::Limited {
                per_minute: 60,
                burst: 5,
            },
            Some((key, "10.0.0.1".parse().expect("ip"))),
        );
        // IP allowed with 2 left, key allowed with 19 left, tenant refused for 0.2 s.
        let v = parse(
            &buckets,
            &fixed,
            &[
                1, 2, 0, 18_000_000, 1, 19, 0, 3_000_000, 0, 0, 200_000, 4_200_000,
            ],
        )
        .expect("reply");
        assert_eq!(v.1, None, "several buckets: no remembered wait");
        let v = v.0.expect("verdict");
        assert_eq!(v.kind, LimitKind::Tenant);
        assert_eq!(
            (v.remaining, v.retry_after_secs, v.reset_secs),
            (0, Some(1), 5)
        );
        let v = parse(&buckets, &fixed, &[1, 2, 0, 18_000_000])
            .expect("reply")
            .0
            .expect("verdict");
        assert_eq!((v.kind, v.limit, v.remaining), (LimitKind::Ip, 5, 2));
        assert!(parse(&buckets, &fixed, &[1, 2]).is_err());
    }

    #[test]
    fn a_single_bucket_refusal_is_remembered_until_its_exact_wait() {
        let fixed = default_fixed_limits();
        let tenant = Buckets::tenant(
            Uuid::now_v7(),
            RateSpec::Limited {
                per_minute: 60,
                burst: 5,
            },
            None,
        );
        // Refused for 0.2 s, full again in 4.2 s.
        let (v, wait) = parse(&tenant, &fixed, &[0, 0, 200_000, 4_200_000]).expect("reply");
        let v = v.expect("verdict");
        assert_eq!(
            wait,
            Some((Duration::from_millis(200), Duration::from_millis(4200)))
        );
        let lim = RedisLimiter::new("redis://127.0.0.1:1", "t:").expect("url");
        let asked = Instant::now();
        lim.refused.insert(
            "k".into(),
            Refusal {
                until: asked + Duration::from_millis(200),
                full_at: asked + Duration::from_millis(4200),
                verdict: v,
            },
        );
        let local = lim.refused_locally("k", asked).expect("still refused");
        assert_eq!(
            (local.kind, local.retry_after_secs, local.reset_secs),
            (LimitKind::Tenant, Some(1), 5)
        );
        assert!(lim.refused_locally("other", asked).is_none());
        let later = asked + Duration::from_millis(200);
        assert!(
            lim.refused_locally("k", later).is_none(),
            "Redis decides again"
        );
        assert!(lim.refused.is_empty(), "and the refusal is forgotten");
    }

    #[test]
    fn outages_back_off_and_probe_once_per_interval() {
        let health = Health::new();
        assert!(health.should_try());
        health.failed("connection refused");
        assert!(!health.healthy());
        assert!(!health.should_try(), "left alone for a while");
        std::thread::sleep(Duration::from_millis(2));
        health.skip_until_ms.store(1, Ordering::Relaxed); // the wait is over
        assert!(health.should_try(), "one probe");
        assert!(!health.should_try(), "only one");
        health.succeeded();
        assert!(health.healthy() && health.should_try());
    }

    /// Needs Redis on 127.0.0.1:6379 (`bash .ci/run` starts it).
    #[actix_rt::test]
    async fn the_script_is_a_gcra_on_redis_time_with_expiring_keys() {
        let prefix = format!("helpline-unit-{}:", Uuid::new_v4().simple());
        let lim = RedisLimiter::new("redis://127.0.0.1:6379", &prefix).expect("url");
        let fixed = default_fixed_limits();
        let tenant = Uuid::now_v7();
        let free = RateSpec::Limited {
            per_minute: 60,
            burst: 5,
        };
        let buckets = Buckets::tenant(tenant, free, None);
        for remaining in (0..5).rev() {
            let v = lim
                .check(&buckets, &fixed)
                .await
                .expect("Redis must run on 127.0.0.1:6379")
                .expect("limited");
            assert!(v.allowed());
            assert_eq!((v.limit, v.remaining), (5, remaining));
            assert!((1..=5).contains(&v.reset_secs));
        }
        let refused = lim
            .check(&buckets, &fixed)
            .await
            .expect("redis")
            .expect("limited");
        assert_eq!(
            (refused.kind, refused.remaining, refused.retry_after_secs),
            (LimitKind::Tenant, 0, Some(1))
        );
        assert!(refused.reset_secs >= 5);

        // The key is namespaced and expires when the bucket is full again (≤ 5 s).
        let mut conn = lim.connection().await.expect("connection");
        let key = lim.key(&Bucket::Tenant {
            id: tenant,
            rate: Rate::new(60, 5).expect("rate"),
        });
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        assert!((4_000..=5_000).contains(&ttl), "{ttl}");

        // A refusal by the first bucket charges none after it.
        let ip: std::net::IpAddr = "192.0.2.1".parse().expect("ip");
        let pk = Uuid::now_v7();
        let publishable = Buckets::tenant(Uuid::now_v7(), free, Some((pk, ip)));
        for _ in 0..5 {
            let v = lim.check(&publishable, &fixed).await.expect("redis");
            assert!(v.is_some_and(|v| v.allowed()));
        }
        let v = lim
            .check(&publishable, &fixed)
            .await
            .expect("redis")
            .expect("limited");
        assert_eq!((v.kind, v.allowed()), (LimitKind::Ip, false));
        // The key was charged 5 times, not 6: this 7th charge leaves 20 - 6.
        let v = lim
            .check(&Buckets::one(Bucket::PublishableKey(pk)), &fixed)
            .await
            .expect("redis")
            .expect("limited");
        assert_eq!(
            (v.kind, v.limit, v.remaining),
            (LimitKind::PublishableKey, 20, 14)
        );
    }

    #[actix_rt::test]
    async fn unreachable_redis_is_unavailable_quickly() {
        let lim = RedisLimiter::new("redis://127.0.0.1:1", "ns:").expect("url");
        let buckets = Buckets::tenant(
            Uuid::now_v7(),
            RateSpec::Limited {
                per_minute: 60,
                burst: 5,
            },
            None,
        );
        let started = Instant::now();
        let fixed = default_fixed_limits();
        assert_eq!(lim.check(&buckets, &fixed).await, Err(Unavailable));
        assert!(started.elapsed() <= TIMEOUT + Duration::from_millis(100));
        // Not asked again until the retry interval passed.
        assert_eq!(lim.check(&buckets, &fixed).await, Err(Unavailable));
        assert!(!lim.health.healthy());
    }
}
