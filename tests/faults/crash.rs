//! SPEC §10 "Nothing is lost" (issue 10 "Crash", issue 5 "kill -9 of serve"): `helpline
//! serve` on PostgreSQL + Redis is killed with SIGKILL in the middle of a create load and
//! started again on the same database and Redis prefix.
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::harness::{
    Api, Deployment, PgDatabase, SHARED_REDIS, Tenant, bounded, eventually, ticket_id,
};
use crate::receiver::Receiver;

const START_CENTS: i64 = 100_000;
/// Concurrent create loops per tenant.
const LOOPS: usize = 3;
/// Acknowledged creates after which the process is killed.
const KILL_AFTER: usize = 60;

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
    bounded("crash", Duration::from_secs(110), async {
        let receiver = Receiver::start().await;
        let resend = Receiver::start().await;
        let db = PgDatabase::create();
        let mut deployment = Deployment::new(&db.url);
        deployment
            .set("REDIS_URL", SHARED_REDIS)
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
        eprintln!("crash: killed after {total} acknowledged creates");

        let node = deployment.start("serve").await;
        let mut every_ticket = HashSet::new();
        for (tenant, acked) in tenants.iter().zip(&acked) {
            let saved = node.ticket_ids(tenant).await;
            for id in acked {
                assert!(saved.contains(id), "acknowledged ticket {id} was lost");
            }
            node.assert_books_balance(tenant, START_CENTS, 1).await;
            every_ticket.extend(saved);
        }
        // Every saved ticket (acknowledged or not) gets its webhook and its email, each
        // under one id however often it is delivered.
        receiver
            .expect_one_event_per_ticket(&every_ticket, Duration::from_secs(80))
            .await;
        let emails = eventually("every ticket's email", Duration::from_secs(30), || async {
            let emails = resend.email_keys_by_ticket();
            every_ticket
                .iter()
                .all(|t| emails.contains_key(t))
                .then_some(emails)
        })
        .await;
        for ticket in &every_ticket {
            let keys = emails
                .get(ticket)
                .unwrap_or_else(|| panic!("ticket {ticket} never got its email"));
            assert_eq!(
                keys.len(),
                1,
                "ticket {ticket}: one idempotency key, got {keys:?}"
            );
        }
        // Every charge's billing job ran too: each ticket's fee is settled.
        for tenant in &tenants {
            eventually("every charge settled", Duration::from_secs(30), || async {
                let tickets = node.walk("/v1/support/tickets", tenant).await;
                tickets
                    .iter()
                    .all(|t| t["charge"]["status"] == "settled")
                    .then_some(())
            })
            .await;
        }
        eprintln!(
            "crash: {} tickets saved ({total} acknowledged), {} webhook and {} email requests",
            every_ticket.len(),
            receiver.requests().len(),
            resend.requests().len()
        );
    })
    .await;
}
