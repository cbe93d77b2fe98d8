//! The event feed across nodes: an event committed on one API node reaches a stream open on
//! another within 1 s, and a client whose node is killed mid-stream resumes on the other
//! node with `Last-Event-ID` and gets every missed event exactly once, in order.
use std::time::{Duration, Instant};

use crate::harness::{Deployment, PgDatabase, SHARED_REDIS, bounded};
use crate::sse::{Event, Sse};

fn ticket_of(event: &Event) -> String {
    assert_eq!(event.kind, "support.ticket_created", "{event:?}");
    event.data["data"]["ticket"]["id"]
        .as_str()
        .expect("ticket id")
        .to_string()
}

#[actix_web::test]
async fn a_stream_resumes_on_the_other_node_after_a_kill() {
    bounded("feed", Duration::from_secs(90), async {
        let db = PgDatabase::create();
        let mut deployment = Deployment::new(&db.url);
        deployment.set("REDIS_URL", SHARED_REDIS);
        let mut a = deployment.start("api").await;
        let b = deployment.start_with(&["api", "--no-migrate"]).await;
        let tenant = a.create_tenant("enterprise", 10_000).await;
        let client = reqwest::Client::new();
        let stream_on = |base: &str| format!("{base}/v1/events/stream");

        // Committed on A, seen by a stream on B within 1 s.
        let mut on_b = Sse::open(&client, &stream_on(&b.base), &tenant.key, None).await;
        let mut slowest = Duration::ZERO;
        for i in 0..5 {
            let created = a.create_ticket(&tenant, &format!("Cross-node {i}")).await;
            let committed = Instant::now();
            assert_eq!(ticket_of(&on_b.next().await), created);
            slowest = slowest.max(committed.elapsed());
        }
        assert!(
            slowest < Duration::from_secs(1),
            "cross-node latency {slowest:?}"
        );
        eprintln!("feed: slowest of 5 events from node A to a stream on node B: {slowest:?}");
        drop(on_b);

        // A client follows node A while tickets keep coming through node B; A is killed.
        let mut on_a = Sse::open(&client, &stream_on(&a.base), &tenant.key, None).await;
        let producer = {
            let b = b.api.clone();
            let tenant = tenant.clone();
            actix_web::rt::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..30 {
                    ids.push(
                        b.create_ticket(&tenant, &format!("During the kill {i}"))
                            .await,
                    );
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                ids
            })
        };
        let mut seen = Vec::new();
        let mut last = None;
        while seen.len() < 5 {
            let event = on_a.next().await;
            last = Some(event.id);
            seen.push(ticket_of(&event));
        }
        a.kill();
        while let Some(event) = on_a.next_within(Duration::from_secs(5)).await {
            last = Some(event.id);
            seen.push(ticket_of(&event));
        }
        let created = producer.await.expect("producer");

        // Resume on B from the last event the client got: the rest, once each, in order.
        let mut resumed = Sse::open(&client, &stream_on(&b.base), &tenant.key, last).await;
        let mut previous = last.unwrap_or_default();
        while seen.len() < created.len() {
            let event = resumed.next().await;
            assert!(
                event.id > previous,
                "positions grow: {} after {previous}",
                event.id
            );
            previous = event.id;
            seen.push(ticket_of(&event));
        }
        assert_eq!(seen, created, "every ticket once, in creation order");
        resumed.expect_silence(Duration::from_millis(500)).await;
    })
    .await;
}
