//! What one local rate-limit decision costs (the middleware makes one per request, before
//! any database work), and that a tenant flooding into 429s does not slow others down.
//!
//! `cargo bench --bench ratelimit`
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use helpline::ratelimit::local::LocalLimiter;
use helpline::ratelimit::{
    Bucket, Buckets, FixedLimits, Rate, RateLimits, RateSpec, default_fixed_limits,
};
use uuid::Uuid;

/// A rate no benchmark loop can exhaust, so every decision is an allowed one.
fn roomy() -> Rate {
    Rate::new(u32::MAX, 1_000_000_000).expect("rate")
}

fn roomy_fixed() -> FixedLimits {
    FixedLimits {
        publishable_key: roomy(),
        public_ip: roomy(),
        failed_auth_ip: roomy(),
    }
}

fn decisions(c: &mut Criterion) {
    let mut g = c.benchmark_group("decision");

    let lim = LocalLimiter::new(default_fixed_limits());
    let tenant = Uuid::now_v7();
    g.bench_function("tenant_allowed", |b| {
        b.iter(|| black_box(lim.check_tenant(black_box(tenant), roomy())))
    });

    let free = Rate::new(60, 5).expect("rate");
    let flooding = Uuid::now_v7();
    for _ in 0..5 {
        lim.check_tenant(flooding, free);
    }
    g.bench_function("tenant_refused_429", |b| {
        b.iter(|| black_box(lim.check_tenant(black_box(flooding), free)))
    });

    let roomy_lim = LocalLimiter::new(roomy_fixed());
    let key = Uuid::now_v7();
    let ip: IpAddr = "203.0.113.7".parse().expect("ip");
    let spec = RateSpec::Limited {
        per_minute: u32::MAX,
        burst: 1_000_000_000,
    };
    let publishable = Buckets::tenant(tenant, spec, Some((key, ip)));
    g.bench_function("publishable_ip_key_tenant_allowed", |b| {
        b.iter(|| black_box(roomy_lim.check_all(black_box(&publishable))))
    });

    let guesser: IpAddr = "198.51.100.1".parse().expect("ip");
    for _ in 0..10 {
        lim.check(&Bucket::FailedAuth(guesser));
    }
    g.bench_function("failed_auth_refused_429", |b| {
        b.iter(|| black_box(lim.check(&Bucket::FailedAuth(black_box(guesser)))))
    });
    g.bench_function("failed_auth_blocked_lookup", |b| {
        b.iter(|| black_box(lim.failed_auth_blocked(black_box(guesser))))
    });

    // The facade the middleware calls (local backend: its future is ready at once).
    let facade = RateLimits::new(default_fixed_limits());
    g.bench_function("facade_tenant_allowed", |b| {
        b.iter(|| {
            black_box(
                facade
                    .check_tenant(black_box(tenant), spec, None)
                    .now_or_never(),
            )
        })
    });
    g.bench_function("facade_unlimited", |b| {
        b.iter(|| {
            black_box(
                facade
                    .check_tenant(black_box(tenant), RateSpec::Unlimited, None)
                    .now_or_never(),
            )
        })
    });
    g.finish();
}

/// A well-behaved tenant's decision while another thread floods a free tenant into 429s
/// (and guesses keys from ever new IPs).
fn under_flood(c: &mut Criterion) {
    let lim = Arc::new(LocalLimiter::new(default_fixed_limits()));
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = {
        let (lim, stop) = (Arc::clone(&lim), Arc::clone(&stop));
        std::thread::spawn(move || {
            let free = Rate::new(60, 5).expect("rate");
            let flooding = Uuid::now_v7();
            let mut n: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                black_box(lim.check_tenant(flooding, free));
                n = n.wrapping_add(1);
                black_box(lim.check(&Bucket::FailedAuth(IpAddr::from(n.to_be_bytes()))));
            }
        })
    };
    let tenant = Uuid::now_v7();
    c.bench_function("under_flood/tenant_allowed", |b| {
        b.iter(|| black_box(lim.check_tenant(black_box(tenant), roomy())))
    });
    stop.store(true, Ordering::Relaxed);
    flooder.join().expect("flooder");
}

criterion_group!(benches, decisions, under_flood);
criterion_main!(benches);
