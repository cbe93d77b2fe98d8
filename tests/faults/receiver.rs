//! What the fault tests read from the fake receivers (`tests/support/receiver.rs`): the
//! webhook event ids and email idempotency keys each ticket got, and what is still missing.
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::harness::{Api, Tenant};
use crate::support::receiver::FakeServer;

impl FakeServer {
    /// `support.ticket_created` deliveries, by ticket id → the `webhook-id`s seen for it.
    pub fn webhook_ids_by_ticket(&self) -> HashMap<String, HashSet<String>> {
        let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
        for request in self.requests() {
            let event = request.json();
            if event["type"] != "support.ticket_created" {
                continue;
            }
            let (Some(ticket), Some(id)) = (
                event["data"]["ticket"]["id"].as_str(),
                request.header("webhook-id"),
            ) else {
                continue;
            };
            assert_eq!(event["id"].as_str(), Some(id), "webhook-id is the event id");
            seen.entry(ticket.to_string())
                .or_default()
                .insert(id.to_string());
        }
        seen
    }

    /// Emails (Resend `POST /emails`), by the ticket id in their subject → idempotency keys.
    pub fn email_keys_by_ticket(&self) -> HashMap<String, HashSet<String>> {
        let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
        for request in self.requests() {
            if request.path != "/emails" {
                continue;
            }
            let subject = request.json()["subject"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let Some(ticket) = subject
                .rsplit_once("(tkt_")
                .map(|(_, rest)| format!("tkt_{}", rest.trim_end_matches(')')))
            else {
                continue;
            };
            let key = request.header("idempotency-key").unwrap_or_default();
            seen.entry(ticket).or_default().insert(key.to_string());
        }
        seen
    }

    /// Waits until every ticket in `tickets` has had its `support.ticket_created` event
    /// delivered, then asserts that no ticket got two different event ids.
    pub async fn expect_one_event_per_ticket(&self, tickets: &HashSet<String>, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.webhook_ids_by_ticket();
            let missing: Vec<&String> = tickets.iter().filter(|t| !seen.contains_key(*t)).collect();
            if missing.is_empty() {
                for ticket in tickets {
                    assert_eq!(
                        seen[ticket].len(),
                        1,
                        "ticket {ticket} got two different event ids: {:?}",
                        seen[ticket]
                    );
                }
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} tickets never got their webhook within {limit:?}, e.g. {:?}",
                missing.len(),
                tickets.len(),
                missing.iter().take(5).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What `tickets` still lack: a webhook at `webhooks`, an email at `emails`, a settled charge
/// (read through `api`, for each of `tenants`).
pub async fn unfinished_jobs(
    api: &Api,
    tenants: &[Tenant],
    tickets: &HashSet<String>,
    webhooks: &FakeServer,
    emails: &FakeServer,
) -> Vec<String> {
    let hooked = webhooks.webhook_ids_by_ticket();
    let mailed = emails.email_keys_by_ticket();
    let mut missing = Vec::new();
    for ticket in tickets {
        if !hooked.contains_key(ticket) {
            missing.push(format!("webhook of {ticket}"));
        }
        if !mailed.contains_key(ticket) {
            missing.push(format!("email of {ticket}"));
        }
    }
    for tenant in tenants {
        for ticket in api.walk("/v1/support/tickets", tenant).await {
            if ticket["charge"]["status"] != "settled" {
                missing.push(format!("settlement of {}", ticket["id"]));
            }
        }
    }
    missing
}

/// However often they were delivered, each ticket's webhook came under one event id and its
/// email under one idempotency key.
pub fn assert_one_id_each(tickets: &HashSet<String>, webhooks: &FakeServer, emails: &FakeServer) {
    let hooked = webhooks.webhook_ids_by_ticket();
    let mailed = emails.email_keys_by_ticket();
    for ticket in tickets {
        assert_eq!(
            hooked[ticket].len(),
            1,
            "ticket {ticket}: event ids {:?}",
            hooked[ticket]
        );
        assert_eq!(
            mailed[ticket].len(),
            1,
            "ticket {ticket}: email keys {:?}",
            mailed[ticket]
        );
    }
}
