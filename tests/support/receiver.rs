//! A real local HTTP server standing in for what is outside this machine: Resend, tenants'
//! webhook receivers, the billing endpoint. It records every request when it arrives and
//! answers from a script of statuses (then a default, 200), after an optional delay.
// Each test binary uses its own part of this.
#![allow(dead_code)]
use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

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

    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

struct Shared {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<u16>>,
    default_status: Mutex<u16>,
    delay: Duration,
}

pub struct FakeServer {
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
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let scripted = shared.script.lock().expect("lock").pop_front();
    let status = scripted.unwrap_or(*shared.default_status.lock().expect("lock"));
    let mut res =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"));
    if status == 429 || status == 503 {
        res.insert_header(("retry-after", "0"));
    }
    res.json(
        serde_json::json!({"id": format!("fake_{count}"), "message": format!("scripted {status}")}),
    )
}

impl FakeServer {
    pub async fn start() -> Self {
        Self::start_slow(Duration::ZERO).await
    }

    /// Answers each request only after `delay` (it is recorded when it arrives).
    pub async fn start_slow(delay: Duration) -> Self {
        let shared = Arc::new(Shared {
            requests: Mutex::default(),
            script: Mutex::default(),
            default_status: Mutex::new(200),
            delay,
        });
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

    /// The next answers, in order; after them the default.
    pub fn respond(&self, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .expect("lock")
            .extend(statuses.iter().copied());
    }

    pub fn always(&self, status: u16) {
        *self.shared.default_status.lock().expect("lock") = status;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.requests();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests within {limit:?}, got {}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
