//! docs/API.md §11 "`SIGTERM`: stop accepting, finish in-flight requests and running jobs, exit 0"
//! (issue 10 "Graceful shutdown", issue 5 "SIGTERM finishes running jobs and exits 0").
//!
//! `helpline serve` gets SIGTERM while a burst of creates is in flight and webhook jobs are
//! running against a receiver that takes 1 s to answer.
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};

use crate::harness::{Deployment, PgDatabase, SHARED_REDIS, bounded, ticket_body, ticket_id};
use crate::receiver::Receiver;

const SLOW: Duration = Duration::from_secs(1);
const BURST_PER_TENANT: usize = 20;

#[actix_web::test]
async fn sigterm_finishes_in_flight_requests_and_running_jobs_and_exits_0() {
    bounded("shutdown", Duration::from_secs(100), async {
        let receiver = Receiver::start_slow(SLOW).await;
        let db = PgDatabase::create();
        let mut deployment = Deployment::new(&db.url);
        deployment.set("REDIS_URL", SHARED_REDIS);
        let mut node = deployment.start("serve").await;
        let mut tenants = Vec::new();
        let mut endpoints = Vec::new();
        for i in 0..3 {
            let tenant = node.create_tenant("enterprise", 10_000).await;
            endpoints.push(
                node.add_webhook(&tenant, &format!("{}/tenant-{i}", receiver.url))
                    .await,
            );
            tenants.push(tenant);
        }

        // Jobs that will be running at the signal: webhooks held 1 s by the receiver.
        let mut acked = HashSet::new();
        for (i, tenant) in tenants.iter().enumerate() {
            for j in 0..2 {
                acked.insert(
                    node.create_ticket(tenant, &format!("Warm-up {i}/{j}"))
                        .await,
                );
            }
        }
        while receiver.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // A burst of creates, each on its own connection, and SIGTERM as soon as the first
        // one is answered: the rest are in flight when the signal lands.
        let burst_client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(40))
            .build()
            .expect("client");
        let answered_at: RefCell<Vec<Instant>> = RefCell::new(Vec::new());
        let signal_at: RefCell<Option<Instant>> = RefCell::new(None);
        let burst = join_all(tenants.iter().enumerate().flat_map(|(t, tenant)| {
            let (client, url, answered_at) =
                (&burst_client, node.url("/v1/support/tickets"), &answered_at);
            (0..BURST_PER_TENANT).map(move |n| {
                let url = url.clone();
                async move {
                    let subject = format!("Burst {n}");
                    let response = client
                        .post(&url)
                        .bearer_auth(&tenant.key)
                        .json(&ticket_body(&subject))
                        .send()
                        .await;
                    let outcome = match response {
                        Ok(r) => {
                            let status = r.status();
                            let body: serde_json::Value = r.json().await.unwrap_or_default();
                            Ok((status, body))
                        }
                        Err(e) => Err(e),
                    };
                    answered_at.borrow_mut().push(Instant::now());
                    (t, subject, outcome)
                }
            })
        }));
        let signaller = async {
            while answered_at.borrow().is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            node.terminate();
            *signal_at.borrow_mut() = Some(Instant::now());
        };
        let (outcomes, ()) = tokio::join!(burst, signaller);
        let signal_at = signal_at.into_inner().expect("signalled");
        let after_signal = answered_at
            .borrow()
            .iter()
            .filter(|t| **t > signal_at)
            .count();
        // A create with no answer is allowed only if the server never took it: refused at
        // connect, or still in the kernel's accept backlog when the listener closed (the
        // connection is reset before a byte is read). Which one it was is checked after the
        // restart: such a ticket must not exist.
        let mut unanswered: Vec<(usize, String, String)> = Vec::new();
        for (t, subject, outcome) in outcomes {
            match outcome {
                Ok((StatusCode::OK, body)) => {
                    acked.insert(ticket_id(&body));
                }
                Ok((status, body)) => panic!("an in-flight create got {status}: {body}"),
                Err(e) => unanswered.push((t, subject, e.to_string())),
            }
        }
        eprintln!(
            "shutdown: {} creates acknowledged, {after_signal} of them answered after SIGTERM",
            acked.len()
        );
        assert!(after_signal > 0, "no request was in flight at the signal");

        let status = node.wait_exit(Duration::from_secs(45)).await;
        let stopped_in = signal_at.elapsed();
        assert_eq!(
            status.code(),
            Some(0),
            "exit status after SIGTERM: {status}"
        );
        eprintln!(
            "shutdown: exited 0 {:.1}s after SIGTERM",
            stopped_in.as_secs_f64()
        );
        // Webhooks the receiver was holding when the signal came: their jobs were running.
        let running_at_signal: HashSet<String> = receiver
            .requests()
            .iter()
            .filter(|r| r.arrived <= signal_at && r.arrived + SLOW > signal_at)
            .filter_map(|r| r.header("webhook-id").map(str::to_string))
            .collect();

        let node = deployment.start("serve").await;
        for (t, subject, error) in &unanswered {
            let saved = node.walk("/v1/support/tickets", &tenants[*t]).await;
            assert!(
                !saved
                    .iter()
                    .any(|ticket| ticket["subject"] == subject.as_str()),
                "tenant {t}'s {subject:?} was saved but its answer was lost ({error})"
            );
        }
        eprintln!(
            "shutdown: {} creates never reached the server",
            unanswered.len()
        );
        receiver
            .expect_one_event_per_ticket(&acked, Duration::from_secs(60))
            .await;
        // Each job running at the signal finished and recorded its outcome before the exit:
        // delivered on its first attempt, not left for recovery to send again.
        let mut deliveries: HashMap<String, (String, i64)> = HashMap::new();
        for (tenant, endpoint) in tenants.iter().zip(&endpoints) {
            let (_, listed) = node
                .call(
                    Method::GET,
                    &format!("/v1/webhooks/{endpoint}/deliveries?limit=200"),
                    &tenant.key,
                    None,
                )
                .await;
            for d in listed["data"].as_array().expect("deliveries") {
                deliveries.insert(
                    d["event_id"].as_str().expect("event_id").into(),
                    (
                        d["status"].as_str().expect("status").into(),
                        d["attempts"].as_i64().expect("attempts"),
                    ),
                );
            }
        }
        eprintln!(
            "shutdown: {} webhook jobs were running at SIGTERM",
            running_at_signal.len()
        );
        for event in &running_at_signal {
            assert_eq!(
                deliveries.get(event),
                Some(&("delivered".to_string(), 1)),
                "the job delivering {event} was running at SIGTERM"
            );
        }
        for tenant in &tenants {
            node.assert_books_balance(tenant, 10_000, 1).await;
        }
    })
    .await;
}
