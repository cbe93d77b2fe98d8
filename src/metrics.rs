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
            let route = label(entry.key());
            let h = entry.value();
            for (bucket, bound) in h.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "helpline_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    bucket.load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "helpline_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let sum = h.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "helpline_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "helpline_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
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

/// Appends one gauge with its HELP/TYPE lines.
pub fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    samples_of(out, name, "gauge", help, samples);
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
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
