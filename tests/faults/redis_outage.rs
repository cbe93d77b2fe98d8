//! docs/API.md §10 "If Redis is down, the API keeps accepting tickets and the jobs reach the queue
//! once it is back" and docs/API.md §3 and docs/RATE_LIMITS.md "Redis trouble falls back to the local
//! limiter" (issue 10 "Redis outage", issue 5 "Redis stopped while 100 tickets are created").
//!
//! A private `redis-server` on its own port is killed (SIGKILL, so whatever it held is gone)
//! for `OUTAGE` while tickets are created, then started again, empty, on the same port.
//! The issue asks for 30 s; CI uses 12 s, which is still longer than every Redis timeout
//! and back-off in the service (1 s connect, 3 s response, 1 s limiter probe pause, worker
//! restart pauses up to 5 s), so each part spends several cycles in its "Redis is down"
//! state. `FAULTS_REDIS_OUTAGE_SECS=30` runs the full length.
use std::cell::RefCell;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::harness::{
    Api, Deployment, PgDatabase, PrivateRedis, Tenant, bounded, eventually, ticket_id,
};
use crate::support::receiver::FakeServer;

fn outage() -> Duration {
    let secs = std::env::var("FAULTS_REDIS_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    Duration::from_secs(secs)
}

/// Creates a ticket every `pause` until `until`; every create must answer 200 promptly.
async fn steady_creates(
    api: Api,
    tenant: Tenant,
    until: Instant,
    created: &RefCell<Vec<String>>,
    slowest: &RefCell<Duration>,
) {
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let started = Instant::now();
        let (status, body) = api
            .try_create_ticket(&tenant, &format!("During the outage {n}"))
            .await
            .expect("the API answers while Redis is down");
        assert_eq!(status, StatusCode::OK, "create during the outage: {body}");
        let took = started.elapsed();
        if took > *slowest.borrow() {
            *slowest.borrow_mut() = took;
        }
        created.borrow_mut().push(ticket_id(&body));
        tokio::time::sleep(PAUSE).await;
    }
}

/// Create loops running during the outage, the pause after each create, and the longest a
/// create may take while Redis is down.
const LOOPS: usize = 2;
const PAUSE: Duration = Duration::from_millis(100);
const SLOWEST_CREATE: Duration = Duration::from_secs(3);

#[actix_web::test]
async fn redis_outage_keeps_the_api_and_rate_limits_up_and_loses_no_job() {
    let outage = outage();
    bounded("redis_outage", outage + Duration::from_secs(90), async {
        let receiver = FakeServer::start().await;
        let mut redis = PrivateRedis::start().await;
        let db = PgDatabase::create();
        let mut deployment = Deployment::new(&db.url);
        deployment
            .set("REDIS_URL", redis.url())
            .set("HELPLINE_RATE_LIMIT_BACKEND", "redis");
        let node = deployment.start("serve").await;
        let tenant = node.create_tenant("enterprise", 100_000).await;
        node.add_webhook(&tenant, &receiver.url).await;
        let free = node.create_tenant("free", 100).await;

        // The whole path works before the outage.
        let first = node.create_ticket(&tenant, "Before the outage").await;
        receiver
            .expect_one_event_per_ticket(&HashSet::from([first.clone()]), Duration::from_secs(20))
            .await;

        redis.stop();
        let until = Instant::now() + outage;

        // Rate limits fall back to the local limiter: a free tenant (burst 5) gets 5 creates
        // and then 429s, even though the shared limiter cannot be asked.
        let subjects: Vec<String> = (0..8).map(|i| format!("Burst {i}")).collect();
        let burst = join_all(subjects.iter().map(|s| node.try_create_ticket(&free, s))).await;
        let mut ok = 0;
        let mut limited = 0;
        for outcome in burst {
            let (status, body) = outcome.expect("answered");
            match status {
                StatusCode::OK => ok += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    assert_eq!(body["code"], "rate_limited", "{body}");
                    assert_eq!(body["detail"], "tenant", "{body}");
                    limited += 1;
                }
                other => panic!("free tenant burst during the outage: {other} {body}"),
            }
        }
        // 5 is the burst; a sixth may pass if the burst took over a second (1/s refill).
        assert!(
            (5..=6).contains(&ok) && limited == 8 - ok,
            "burst of 5 while Redis is down: {ok} passed, {limited} limited"
        );

        let created = RefCell::new(vec![first]);
        let slowest = RefCell::new(Duration::ZERO);
        let loops_ran = until.saturating_duration_since(Instant::now());
        join_all((0..LOOPS).map(|_| {
            steady_creates(node.api.clone(), tenant.clone(), until, &created, &slowest)
        }))
        .await;
        let created: HashSet<String> = created.into_inner().into_iter().collect();
        let slowest = slowest.into_inner();
        eprintln!(
            "redis_outage: {} creates answered 200 during a {outage:?} outage (slowest {slowest:?})",
            created.len() - 1
        );
        assert!(
            slowest < SLOWEST_CREATE,
            "a create took {slowest:?} while Redis was down"
        );
        // The loops never stopped: each made a create at least every `SLOWEST_CREATE` plus
        // its pause for as long as it ran (how many more is the machine's speed, not the
        // promise).
        let floor = LOOPS as u128 * loops_ran.as_millis() / (SLOWEST_CREATE + PAUSE).as_millis();
        assert!(
            created.len() as u128 > floor,
            "only {} creates in {loops_ran:?} (at least {floor} expected)",
            created.len()
        );

        redis.restart().await;
        let back = Instant::now();
        receiver
            .expect_one_event_per_ticket(&created, Duration::from_secs(60))
            .await;
        eprintln!(
            "redis_outage: all {} webhooks delivered {:.1}s after Redis returned",
            created.len(),
            back.elapsed().as_secs_f64()
        );
        // The billing jobs (one per ticket) reached the queue too: every charge settles.
        eventually("every charge settled", Duration::from_secs(30), || async {
            let tickets = node.walk("/v1/support/tickets", &tenant).await;
            tickets
                .iter()
                .all(|t| t["charge"]["status"] == "settled")
                .then_some(())
        })
        .await;
        node.assert_books_balance(&tenant, 100_000, 1).await;
    })
    .await;
}
