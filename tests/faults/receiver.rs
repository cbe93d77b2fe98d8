//! A real local webhook receiver (and Resend stand-in): records every request when it
//! arrives, answers 200 (after an optional delay), and sorts what it saw by ticket.
use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

use crate::harness::{Api, Tenant};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub arrived: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    delay: Mutex<Duration>,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

async fn record(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let arrived = Instant::now();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let count = {
        let mut requests = shared.requests.lock().expect("lock");
        requests.push(Recorded {
            path: req.path().to_string(),
            headers,
            body: body.to_vec(),
            arrived,
        });
        requests.len()
    };
    let delay = *shared.delay.lock().expect("lock");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    HttpResponse::Ok().json(serde_json::json!({"id": format!("fake_{count}")}))
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_slow(Duration::ZERO).await
    }

    /// Answers each request only after `delay` (it is recorded when it arrives).
    pub async fn start_slow(delay: Duration) -> Self {
        let shared = Arc::new(Shared::default());
        *shared.delay.lock().expect("lock") = delay;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let data = web::Data::new(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .max_connections(1024)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            shared,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

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
    webhooks: &Receiver,
    emails: &Receiver,
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
pub fn assert_one_id_each(tickets: &HashSet<String>, webhooks: &Receiver, emails: &Receiver) {
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
