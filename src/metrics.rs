//! Prometheus metrics, rendered as text on `GET /metrics` (staff token required). Request
//! counters and latency histograms are kept in memory per process; queue depths, job outcomes
//! and outbox lag are read from the database when scraped, so every node reports the same
//! cluster-wide numbers for those.
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Marks a response refused by a rate limit, with the limit's kind.
#[derive(Debug, Clone)]
pub struct RateLimited(pub String);

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    /// The histogram's samples (`labels`: `key="value"`, already escaped).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let n = bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }

    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

#[derive(Default)]
pub struct Metrics {
    requests: DashMap<(String, String, u16), AtomicU64>,
    latency: DashMap<String, Histogram>,
    rejections: DashMap<String, AtomicU64>,
}

/// Escapes a label value for the text format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let key = (route.to_string(), method.to_string(), status);
        if let Some(counter) = self.requests.get(&key) {
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            self.requests
                .entry(key)
                .or_default()
                .fetch_add(1, Ordering::Relaxed);
        }
        if let Some(h) = self.latency.get(route) {
            h.observe(elapsed);
        } else {
            self.latency
                .entry(route.to_string())
                .or_default()
                .observe(elapsed);
        }
    }

    pub fn observe_rejection(&self, kind: &str) {
        self.rejections
            .entry(kind.to_string())
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The in-memory part of the exposition.
    pub fn render_http(&self, out: &mut String) {
        out.push_str("# HELP helpline_http_requests_total HTTP requests by route template, method and status.\n");
        out.push_str("# TYPE helpline_http_requests_total counter\n");
        for entry in self.requests.iter() {
            let (route, method, status) = entry.key();
            let _ = writeln!(
                out,
                "helpline_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {}",
                label(route),
                label(method),
                entry.value().load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP helpline_http_request_duration_seconds Request latency by route template.\n",
        );
        out.push_str("# TYPE helpline_http_request_duration_seconds histogram\n");
        for entry in self.latency.iter() {
            let route = format!("route=\"{}\"", label(entry.key()));
            entry
                .value()
                .render(out, "helpline_http_request_duration_seconds", &route);
        }
        out.push_str(
            "# HELP helpline_rate_limit_rejections_total Requests refused with 429, by limit.\n",
        );
        out.push_str("# TYPE helpline_rate_limit_rejections_total counter\n");
        for kind in ["tenant", "publishable_key", "ip"] {
            let n = self
                .rejections
                .get(kind)
                .map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "helpline_rate_limit_rejections_total{{kind=\"{kind}\"}} {n}"
            );
        }
    }
}

/// The stages of a ticket create, timed on their own (`helpline_create_stage_seconds`):
/// where a create waits when its request, its tenant's actor and the database are busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateStage {
    /// From the request's first middleware to the handler (authentication, the body).
    Handler,
    /// From the handler's send to the tenant's actor taking the message.
    Mailbox,
    /// From the actor taking the create to its batch starting.
    Batch,
    /// Waiting for the batch's place in a round (SQLite: one write transaction of the node
    /// at a time, for the batches of every tenant waiting).
    Turn,
    /// Waiting for the write transaction (a pooled connection, SQLite's write lock); on
    /// SQLite once per round.
    Begin,
    /// The write transaction, begin to commit; on SQLite once per round.
    Transaction,
    /// From the batch's answer to the handler running again on its worker thread.
    Reply,
}

impl CreateStage {
    const ALL: [Self; 7] = [
        Self::Handler,
        Self::Mailbox,
        Self::Batch,
        Self::Turn,
        Self::Begin,
        Self::Transaction,
        Self::Reply,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Handler => "handler",
            Self::Mailbox => "mailbox",
            Self::Batch => "batch",
            Self::Turn => "turn",
            Self::Begin => "begin",
            Self::Transaction => "transaction",
            Self::Reply => "reply",
        }
    }
}

/// Per-process, like the request histograms; the stages run on the actors' threads too,
/// which have no handle on the application's state.
static CREATE_STAGES: [Histogram; CreateStage::ALL.len()] =
    [const { Histogram::new() }; CreateStage::ALL.len()];

pub fn observe_create_stage(stage: CreateStage, elapsed: Duration) {
    CREATE_STAGES[stage as usize].observe(elapsed);
}

/// The create stages' histograms, in the exposition format.
pub fn render_create_stages(out: &mut String) {
    out.push_str(
        "# HELP helpline_create_stage_seconds Time a ticket create spends in each stage.\n",
    );
    out.push_str("# TYPE helpline_create_stage_seconds histogram\n");
    for stage in CreateStage::ALL {
        let labels = format!("stage=\"{}\"", stage.name());
        CREATE_STAGES[stage as usize].render(out, "helpline_create_stage_seconds", &labels);
    }
}

/// Appends one gauge with its HELP/TYPE lines.
pub fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    samples_of(out, name, "gauge", help, samples);
}

/// A connection pool's `open`, `idle` and `in_use` connections as one gauge.
pub fn pool_gauge(out: &mut String, name: &str, help: &str, open: usize, idle: usize) {
    let samples = [
        ("state=\"open\"".into(), open as f64),
        ("state=\"idle\"".into(), idle as f64),
        ("state=\"in_use\"".into(), open.saturating_sub(idle) as f64),
    ];
    samples_of(out, name, "gauge", help, &samples);
}

pub fn counter(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    samples_of(out, name, "counter", help, samples);
}

fn samples_of(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe_request("/v1/support/tickets", "POST", 200, Duration::from_millis(3));
        m.observe_request(
            "/v1/support/tickets",
            "POST",
            200,
            Duration::from_millis(30),
        );
        m.observe_rejection("tenant");
        let mut out = String::new();
        m.render_http(&mut out);
        assert!(out.contains("helpline_http_requests_total{route=\"/v1/support/tickets\",method=\"POST\",status=\"200\"} 2"));
        assert!(out.contains("helpline_http_request_duration_seconds_bucket{route=\"/v1/support/tickets\",le=\"0.005\"} 1"));
        assert!(out.contains("helpline_http_request_duration_seconds_bucket{route=\"/v1/support/tickets\",le=\"+Inf\"} 2"));
        assert!(out.contains("helpline_rate_limit_rejections_total{kind=\"tenant\"} 1"));
        assert!(out.contains("helpline_rate_limit_rejections_total{kind=\"ip\"} 0"));
    }

    #[test]
    fn renders_every_create_stage() {
        observe_create_stage(CreateStage::Turn, Duration::from_millis(30));
        let mut out = String::new();
        render_create_stages(&mut out);
        for stage in CreateStage::ALL {
            let name = stage.name();
            assert!(out.contains(&format!(
                "helpline_create_stage_seconds_count{{stage=\"{name}\"}}"
            )));
        }
        // Other tests may add to the process-wide histograms: at least this one is counted.
        let within = |le: &str| {
            let line =
                format!("helpline_create_stage_seconds_bucket{{stage=\"turn\",le=\"{le}\"}} ");
            out.lines()
                .find_map(|l| l.strip_prefix(line.as_str()))
                .and_then(|n| n.parse::<u64>().ok())
                .expect("the bucket")
        };
        assert!(within("0.05") >= 1);
        assert!(within("+Inf") >= within("0.05"));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
