//! Issue 21 "with two worker nodes, killing one": two `helpline worker` processes that
//! cannot see each other's processes (as on two machines) share the queues; one is killed
//! with SIGKILL while it holds webhook attempts. The other notices the silence, takes its
//! leases back and completes its jobs within `NODE_BOUND` of the kill; a job the live node
//! runs is never run a second time meanwhile.
use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use crate::harness::{
    Deployment, PgDatabase, SHARED_REDIS, bounded, dead_node_noticed_within, wait_for,
};
use crate::receiver::{assert_one_id_each, unfinished_jobs};
use crate::support::receiver::FakeServer;

/// The killed node's jobs complete on the other this soon after the kill (issue 21).
const NODE_BOUND: Duration = Duration::from_secs(20);
/// Each webhook request is answered after this long, so attempts are in flight at the kill.
const SLOW: Duration = Duration::from_millis(1500);
const TICKETS: usize = 40;
/// Webhook attempts each worker makes at once: few enough that the first worker cannot take
/// every delivery, so the one to be killed holds some.
const WEBHOOK_SLOTS: usize = 8;

/// Webhook attempts the worker with process id `pid` holds right now.
async fn leases_of(db: &DatabaseConnection, pid: i32) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT count(*) AS n FROM webhook_deliveries d JOIN worker_instances w \
                 ON d.lease_owner = w.id WHERE w.pid = {pid} AND d.in_flight_until IS NOT NULL \
                 AND d.status = 'pending'"
            ),
        ))
        .await
        .expect("count the worker's leases")
        .expect("one row");
    row.try_get::<i64>("", "n").expect("a count")
}

#[actix_web::test]
async fn killing_one_of_two_worker_nodes_hands_its_jobs_to_the_other() {
    bounded("worker_nodes", Duration::from_secs(90), async {
        assert!(
            dead_node_noticed_within() < NODE_BOUND,
            "a dead node is noticed after {:?}, past the {NODE_BOUND:?} bound",
            dead_node_noticed_within()
        );
        let receiver = FakeServer::start_slow(SLOW).await;
        let resend = FakeServer::start().await;
        let db = PgDatabase::create();
        let mut deployment = Deployment::new(&db.url);
        deployment
            .set("REDIS_URL", SHARED_REDIS)
            .set("RESEND_API_KEY", "re_fault")
            .set("RESEND_BASE_URL", resend.url.clone())
            .set("HELPLINE_WEBHOOK_CONCURRENCY", WEBHOOK_SLOTS.to_string());
        let api = deployment.start("api").await;
        deployment.set("HELPLINE_HOST_ID", "machine-a");
        let _survivor = deployment.start_worker().await;
        deployment.set("HELPLINE_HOST_ID", "machine-b");
        let mut doomed = deployment.start_worker().await;
        let conn = Database::connect(&db.url).await.expect("connect");

        let tenant = api.create_tenant("enterprise", 10_000).await;
        api.add_webhook(&tenant, &receiver.url).await;
        let created: HashSet<String> = join_all((0..TICKETS).map(|i| {
            let (api, tenant) = (&api, &tenant);
            async move { api.create_ticket(tenant, &format!("Node load {i}")).await }
        }))
        .await
        .into_iter()
        .collect();

        let pid = doomed.pid();
        let deadline = Instant::now() + Duration::from_secs(15);
        let held = loop {
            let held = leases_of(&conn, pid).await;
            if held > 0 {
                break held;
            }
            assert!(
                Instant::now() < deadline,
                "the worker to kill never held a webhook attempt"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        doomed.kill();
        let killed = Instant::now();
        eprintln!("worker_nodes: killed a worker holding {held} webhook attempts");

        let tenants = [tenant];
        wait_for(
            "every ticket's webhook, email and settlement",
            NODE_BOUND,
            || unfinished_jobs(&api, &tenants, &created, &receiver, &resend),
        )
        .await;
        let recovered = killed.elapsed();
        // Only the attempts the dead node had started may reach the receiver twice; every
        // other delivery was made once.
        assert_one_id_each(&created, &receiver, &resend);
        let requests = receiver.requests().len();
        let repeated = requests - created.len();
        assert!(
            repeated <= usize::try_from(held).unwrap_or(usize::MAX),
            "{repeated} webhooks were sent twice, but the dead node held only {held}"
        );
        eprintln!(
            "worker_nodes: every job done {recovered:.1?} after the kill ({} webhook requests \
             for {} tickets, {held} held by the killed node)",
            requests,
            created.len()
        );
    })
    .await;
}
