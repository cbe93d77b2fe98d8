//! docs/API.md §10 "Nothing is lost" (issue 10 "Crash", issue 5 "kill -9 of serve", issue 21):
//! `helpline serve` is killed with SIGKILL in the middle of a create load and started again
//! on the same database and queue, on PostgreSQL + Redis and on the embedded SQLite default.
//! The restarted process takes back its predecessor's leases as it starts, so every job that
//! was running or waiting completes within `RESTART_BOUND` of the restart.
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::harness::{
    Api, Deployment, PgDatabase, SHARED_REDIS, Tenant, bounded, ticket_id, wait_for,
};
use crate::receiver::{assert_one_id_each, unfinished_jobs};
use crate::support::receiver::FakeServer;

const START_CENTS: i64 = 100_000;
/// Concurrent create loops per tenant.
const LOOPS: usize = 3;
/// Acknowledged creates after which the process is killed.
const KILL_AFTER: usize = 60;
/// Every acknowledged ticket's email, webhook and settlement completes this soon after the
/// restart (issue 21).
const RESTART_BOUND: Duration = Duration::from_secs(10);

/// Creates tickets until a request fails (the process died), recording the acknowledged ids.
/// Any answer other than 200 while the process lives is a failure.
async fn create_until_dead(api: Api, tenant: Tenant, acked: Rc<RefCell<Vec<String>>>) {
    for n in 0.. {
        match api
            .try_create_ticket(&tenant, &format!("Crash load {n}"))
            .await
        {
            Ok((StatusCode::OK, body)) => acked.borrow_mut().push(ticket_id(&body)),
            Ok((status, body)) => panic!("create answered {status} under load: {body}"),
            Err(_) => return,
        }
    }
}

#[actix_web::test]
async fn sigkill_under_load_loses_no_acknowledged_ticket_charge_or_job() {
    bounded("crash", Duration::from_secs(80), async {
        let db = PgDatabase::create();
        let mut deployment = Deployment::new(&db.url);
        deployment.set("REDIS_URL", SHARED_REDIS);
        crash_and_restart("crash", deployment).await;
    })
    .await;
}

#[actix_web::test]
async fn sigkill_under_load_on_the_embedded_default_loses_no_ticket_charge_or_job() {
    bounded("crash_embedded", Duration::from_secs(80), async {
        crash_and_restart("crash (embedded)", Deployment::embedded()).await;
    })
    .await;
}

async fn crash_and_restart(name: &str, mut deployment: Deployment) {
    let receiver = FakeServer::start().await;
    let resend = FakeServer::start().await;
    deployment
        .set("RESEND_API_KEY", "re_fault")
        .set("RESEND_BASE_URL", resend.url.clone());
    let mut node = deployment.start("serve").await;
    let mut tenants = Vec::new();
    for i in 0..3 {
        let tenant = node.create_tenant("enterprise", START_CENTS).await;
        node.add_webhook(&tenant, &format!("{}/tenant-{i}", receiver.url))
            .await;
        tenants.push(tenant);
    }

    let acked: Vec<Rc<RefCell<Vec<String>>>> = tenants
        .iter()
        .map(|_| Rc::new(RefCell::new(Vec::new())))
        .collect();
    let load = join_all(tenants.iter().zip(&acked).flat_map(|(tenant, acked)| {
        (0..LOOPS).map(|_| create_until_dead(node.api.clone(), tenant.clone(), acked.clone()))
    }));
    let acked_count = || acked.iter().map(|a| a.borrow().len()).sum::<usize>();
    let killer = async {
        let started = Instant::now();
        while acked_count() < KILL_AFTER && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        node.kill();
    };
    tokio::join!(load, killer);
    let acked: Vec<Vec<String>> = acked.iter().map(|a| a.borrow().clone()).collect();
    let total: usize = acked.iter().map(Vec::len).sum();
    assert!(
        total >= KILL_AFTER,
        "only {total} creates were acknowledged"
    );
    eprintln!("{name}: killed after {total} acknowledged creates");

    let restarted = Instant::now();
    let node = deployment.start("serve").await;
    let up_after = restarted.elapsed();
    let mut every_ticket = HashSet::new();
    for (tenant, acked) in tenants.iter().zip(&acked) {
        let saved = node.ticket_ids(tenant).await;
        for id in acked {
            assert!(saved.contains(id), "acknowledged ticket {id} was lost");
        }
        node.assert_books_balance(tenant, START_CENTS, 1).await;
        every_ticket.extend(saved);
    }
    // Every saved ticket (acknowledged or not) gets its webhook, its email and its settled
    // charge, each webhook and email under one id however often it is delivered.
    let limit = RESTART_BOUND.saturating_sub(restarted.elapsed());
    wait_for(
        "every ticket's webhook, email and settlement",
        limit,
        || unfinished_jobs(&node, &tenants, &every_ticket, &receiver, &resend),
    )
    .await;
    let recovered = restarted.elapsed();
    assert_one_id_each(&every_ticket, &receiver, &resend);
    eprintln!(
        "{name}: {} tickets saved ({total} acknowledged); up {up_after:.1?} after the restart, \
         every webhook, email and settlement {recovered:.1?} after it; {} webhook and {} email requests",
        every_ticket.len(),
        receiver.requests().len(),
        resend.requests().len()
    );
}
