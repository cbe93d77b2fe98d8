//! `stream`: N Server-Sent-Events subscribers spread over `--stream-tenants` tenants while
//! tickets are created at `--stream-rate`; reports commit-to-client latency and the server's
//! memory per subscriber. Latency is measured twice, on one clock: from the bench sending
//! the create (its subject carries the send time), which includes the create's own wait and
//! answer; and from the event's `created_at`, stamped by the write that commits it (as its
//! transaction begins): commit-to-client plus that write's own time, an upper bound of
//! commit-to-client (what issue 16's target bounds). Open files: each subscriber is one
//! connection on both sides, so raise `ulimit -n` for both processes (and the server's
//! `HELPLINE_STREAMS_PER_TENANT` to at least N / tenants).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use memchr::memmem;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::wire::{Request, Target};
use crate::{
    Ctx, MakeRequest, Outcome, Samples, closed_loop, metric, metrics_text, open_loop, run_tag,
    vm_rss_kb,
};

const SUBJECT_PREFIX: &str = "Bench stream ";
/// The route template of a create, as the server's metrics label it.
const TICKETS_ROUTE: &str = "/v1/support/tickets";

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat` (`self` for the
/// bench itself); clock ticks are 1/100 s on Linux.
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The event's own `created_at` comes first in its JSON, before the ticket's.
const WRITTEN_PREFIX: &str = "\"created_at\":\"";

/// Every bench event in the complete lines of `bytes`: the send time its subject holds
/// (after [`SUBJECT_PREFIX`]) and its `created_at` (µs since the epoch, when it has one),
/// without parsing the events: chunk-size lines of the transfer encoding and the SSE fields
/// around them are skipped by the search.
fn event_times(bytes: &[u8], mut found: impl FnMut(u64, Option<u64>)) {
    let subject = memmem::Finder::new(SUBJECT_PREFIX);
    let written = memmem::Finder::new(WRITTEN_PREFIX);
    for at in subject.find_iter(bytes) {
        let digits = &bytes[at + SUBJECT_PREFIX.len()..];
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        let Some(sent) = std::str::from_utf8(&digits[..len])
            .ok()
            .and_then(|d| d.parse().ok())
        else {
            continue;
        };
        let line_start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
        let line = &bytes[line_start..at];
        let stamp = written.find(line).and_then(|i| {
            let rest = &line[i + WRITTEN_PREFIX.len()..];
            let end = memchr::memchr(b'"', rest)?;
            let text = std::str::from_utf8(&rest[..end]).ok()?;
            let at = chrono::DateTime::parse_from_rfc3339(text).ok()?;
            u64::try_from(at.timestamp_micros()).ok()
        });
        found(sent, stamp);
    }
}

fn stream_create(keys: Arc<Vec<String>>) -> MakeRequest {
    Arc::new(move |i: u64| {
        Request::post("/v1/support/tickets")
            .bearer(keys[i as usize % keys.len()].as_str())
            .json(&json!({
                "subject": format!("{SUBJECT_PREFIX}{}", unix_micros()),
                "category": "api_sdk",
                "priority": "normal",
                "description": "Measuring the event feed (bench).",
            }))
    })
}

/// One delivery: when its create was sent, how long the event took to arrive from then and
/// from its `created_at` (µs).
#[derive(Debug, Clone, Copy)]
struct Delivery {
    sent: u64,
    from_send: u64,
    from_write: Option<u64>,
}

/// Reads one stream over a bare TCP connection until `stop`, recording every ticket event
/// (its send time and latency). No HTTP client and no JSON parsing: a subscriber costs the
/// bench one read per server write and a substring search, so the bench is not what limits
/// the numbers it reports.
async fn subscribe(
    target: Target,
    key: String,
    opened: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<Delivery>> {
    let mut sock = TcpStream::connect(target.addr).await?;
    sock.set_nodelay(true)?;
    let request = format!(
        "GET /v1/events/stream HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
         Accept: text/event-stream\r\n\r\n",
        target.host
    );
    sock.write_all(request.as_bytes()).await?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        if sock.read_buf(&mut buf).await? == 0 {
            bail!("closed before answering");
        }
        if let Some(end) = memmem::find(&buf, b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 200") {
                let line = buf.split(|b| *b == b'\r').next().unwrap_or_default();
                bail!("{}", String::from_utf8_lossy(line));
            }
            buf.drain(..end + 4);
            break;
        }
    }
    opened.fetch_add(1, Ordering::Relaxed);
    let mut deliveries = Vec::new();
    loop {
        buf.reserve(4096);
        let read = tokio::select! {
            read = sock.read_buf(&mut buf) => read?,
            _ = stop.wait_for(|s| *s) => break,
        };
        if read == 0 {
            break;
        }
        // Only complete lines: a send time cut by the read is seen whole with the next one.
        let Some(end) = memchr::memrchr(b'\n', &buf) else {
            continue;
        };
        let now = unix_micros();
        event_times(&buf[..=end], |sent, written| {
            deliveries.push(Delivery {
                sent,
                from_send: now.saturating_sub(sent),
                from_write: written.map(|w| now.saturating_sub(w)),
            });
        });
        buf.drain(..=end);
    }
    Ok(deliveries)
}

/// What waiting for the server's job queues took.
struct Drain {
    /// Jobs due or running when the wait began.
    waiting_at_start: u64,
    wait: Duration,
    /// Server CPU over the wait, in cores.
    server_cores: Option<f64>,
}

/// Jobs due or running over all queues, from `GET /admin/queues` (jobs scheduled for later,
/// such as SLA timers, do not count).
async fn queued_jobs(ctx: &Ctx) -> Result<u64> {
    let resp = ctx
        .client
        .get(format!("{}/admin/queues", ctx.base))
        .bearer_auth(&ctx.args.admin_token)
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("GET /admin/queues: {status} {body}");
    }
    let queues = body["queues"]
        .as_array()
        .context("no queues in GET /admin/queues")?;
    Ok(queues
        .iter()
        .map(|q| q["pending"].as_u64().unwrap_or(0) + q["running"].as_u64().unwrap_or(0))
        .sum())
}

/// Waits until no job is due or running (checked twice, 0.5 s apart, since a running job
/// may queue the next), at most `limit`.
async fn wait_for_drained_queues(ctx: &Ctx, limit: Duration) -> Result<Drain> {
    let meter = CpuMeter::start(ctx.args.server_pid);
    let started = Instant::now();
    let waiting_at_start = queued_jobs(ctx).await?;
    let mut empty_checks = 0;
    while empty_checks < 2 {
        if started.elapsed() > limit {
            bail!("the job queues were not drained after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        empty_checks = if queued_jobs(ctx).await? == 0 {
            empty_checks + 1
        } else {
            0
        };
    }
    let wait = started.elapsed();
    eprintln!(
        "[bench] stream: waited {:.1} s for {waiting_at_start} queued jobs to drain",
        wait.as_secs_f64()
    );
    Ok(Drain {
        waiting_at_start,
        wait,
        server_cores: meter.cores().0,
    })
}

/// CPU used by the server and by the bench over a phase, in cores (CPU seconds per second).
struct CpuMeter {
    server: Option<String>,
    started: Instant,
    server_at: Option<f64>,
    bench_at: Option<f64>,
}

impl CpuMeter {
    fn start(server_pid: Option<u32>) -> Self {
        let server = server_pid.map(|p| p.to_string());
        Self {
            server_at: server.as_deref().and_then(cpu_secs),
            bench_at: cpu_secs("self"),
            server,
            started: Instant::now(),
        }
    }

    /// `(server cores, bench cores)` since [`CpuMeter::start`].
    fn cores(&self) -> (Option<f64>, Option<f64>) {
        let secs = self.started.elapsed().as_secs_f64();
        let used = |at: Option<f64>, now: Option<f64>| Some((now? - at?) / secs);
        (
            used(self.server_at, self.server.as_deref().and_then(cpu_secs)),
            used(self.bench_at, cpu_secs("self")),
        )
    }
}

/// The subscribers' tenants (`--stream-tenants`), one API key each.
async fn stream_tenants(ctx: &mut Ctx, name: &str, tag: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for i in 0..ctx.args.stream_tenants.max(1) {
        keys.push(
            ctx.create_tenant(&format!("{name} {tag} {i}"), "enterprise", 100_000_000)
                .await?,
        );
    }
    Ok(keys)
}

/// Open subscribers, and the switch that ends them.
struct Subscribers {
    tasks: Vec<tokio::task::JoinHandle<Result<Vec<Delivery>>>>,
    /// How many got their `200` (within two minutes).
    open: u64,
    stop: watch::Sender<bool>,
}

impl Subscribers {
    /// Opens `n` streams round-robin over `keys`, 200 every 20 ms, and waits until every
    /// one is answered (or failed), at most two minutes.
    async fn open(base: &str, keys: &[String], n: usize) -> Result<Self> {
        let target = Target::of(base).await?;
        let opened = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            tasks.push(tokio::spawn(subscribe(
                target.clone(),
                keys[i % keys.len()].clone(),
                opened.clone(),
                stopped.clone(),
            )));
            if i % 200 == 199 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while (opened.load(Ordering::Relaxed) as usize) < n && Instant::now() < deadline {
            if tasks.iter().all(|s| s.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            tasks,
            open: opened.load(Ordering::Relaxed),
            stop,
        })
    }
}

/// The server's resident set and, from its `/metrics`, the heap its allocator has handed
/// out (jemalloc's count), in KiB.
#[derive(Clone, Copy)]
struct Memory {
    rss_kib: Option<f64>,
    heap_kib: Option<f64>,
}

impl Memory {
    async fn read(ctx: &Ctx) -> Self {
        Self {
            rss_kib: ctx.args.server_pid.and_then(vm_rss_kb).map(|k| k as f64),
            heap_kib: metric(ctx, "helpline_heap_in_use_bytes")
                .await
                .map(|b| b / 1024.0),
        }
    }

    /// KiB per stream grown from `before` to `self`.
    fn per(self, before: Self, streams: u64) -> (Option<f64>, Option<f64>) {
        let per = |a: Option<f64>, b: Option<f64>| {
            Some((b? - a?) / streams as f64).filter(|_| streams > 0)
        };
        (
            per(before.rss_kib, self.rss_kib),
            per(before.heap_kib, self.heap_kib),
        )
    }
}

/// The server's own latency histogram of one route (`le` bound in seconds, cumulative count),
/// from its `/metrics`: it runs from the request's middleware to the response handed to
/// actix-web, so it leaves out the waits for the worker thread to read the request and write
/// the answer, and the client's.
async fn route_histogram(ctx: &Ctx, route: &str) -> Option<Vec<(f64, u64)>> {
    let text = metrics_text(ctx).await?;
    let prefix = format!("helpline_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"");
    let buckets: Vec<(f64, u64)> = text
        .lines()
        .filter_map(|l| {
            let (le, count) = l.strip_prefix(&prefix)?.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect();
    Some(buckets).filter(|b| !b.is_empty())
}

/// The bucket bound (ms) under which `pct` % of the requests between two readings of a
/// histogram fell.
fn histogram_percentile(before: &[(f64, u64)], after: &[(f64, u64)], pct: f64) -> Option<f64> {
    let count = |h: &[(f64, u64)], le: f64| {
        h.iter()
            .find(|(bound, _)| *bound == le)
            .map_or(0, |(_, c)| *c)
    };
    let total = after
        .last()
        .map(|(le, _)| count(after, *le) - count(before, *le))?;
    after
        .iter()
        .find(|(le, c)| (c - count(before, *le)) as f64 >= total as f64 * pct / 100.0)
        .map(|(le, _)| le * 1000.0)
        .filter(|_| total > 0)
}

/// `stream-idle`: the memory an idle subscriber costs the server. Meant to run first on a
/// fresh server (nothing created before, so no freed heap for the streams to reuse
/// uncounted): RSS and heap before and after opening `--subscribers` streams, per stream;
/// then the server's CPU over 5 s of heartbeats only. The streams are closed at the end,
/// and the scenario waits until the server has let them go.
pub async fn scenario_stream_idle(ctx: &mut Ctx) -> Result<Outcome> {
    let n = ctx.args.subscribers;
    let keys = stream_tenants(ctx, "Bench Idle", &run_tag()).await?;
    let drain = wait_for_drained_queues(ctx, Duration::from_secs(300)).await?;
    let before = Memory::read(ctx).await;
    let started = Instant::now();
    let subscribers = Subscribers::open(&ctx.base, &keys, n).await?;
    let open_secs = started.elapsed().as_secs_f64();
    // Past the hub's trim after a burst of streams (a second without one).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let open = Memory::read(ctx).await;
    let (rss_per, heap_per) = open.per(before, subscribers.open);
    let idle = CpuMeter::start(ctx.args.server_pid);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (idle_server, idle_bench) = idle.cores();

    subscribers.stop.send_replace(true);
    let mut out = Samples::default();
    for s in subscribers.tasks {
        match s.await {
            Ok(Ok(_)) => out.ok += 1,
            Ok(Err(e)) => *out.errors.entry(format!("subscriber: {e}")).or_default() += 1,
            Err(_) => *out.errors.entry("subscriber: panicked".into()).or_default() += 1,
        }
    }
    // The server notices a gone client at its next write (a heartbeat within 5 s).
    let closing = Instant::now();
    while metric(ctx, "helpline_feed_streams_open")
        .await
        .unwrap_or(0.0)
        > 0.0
        && closing.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut out = out.outcome("stream-idle", open_secs);
    let extra = [
        ("subscribers", json!(n)),
        ("subscribers_open", json!(subscribers.open)),
        ("open_s", json!(open_secs)),
        ("queue_jobs_waiting_at_start", json!(drain.waiting_at_start)),
        ("rss_before_kib", json!(before.rss_kib)),
        ("rss_open_kib", json!(open.rss_kib)),
        ("rss_per_subscriber_kib", json!(rss_per)),
        ("heap_before_kib", json!(before.heap_kib)),
        ("heap_open_kib", json!(open.heap_kib)),
        ("heap_per_subscriber_kib", json!(heap_per)),
        ("cpu_idle_server_cores", json!(idle_server)),
        ("cpu_idle_bench_cores", json!(idle_bench)),
        (
            "streams_closed_after_s",
            json!(closing.elapsed().as_secs_f64()),
        ),
    ];
    out.extra
        .extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
    Ok(out)
}

pub async fn scenario_stream(ctx: &mut Ctx, create_rps: Option<f64>) -> Result<Outcome> {
    let n = ctx.args.subscribers;
    let tenants = ctx.args.stream_tenants.max(1);
    let tag = run_tag();
    let keys = stream_tenants(ctx, "Bench Stream", &tag).await?;
    // A tenant nobody follows: its creates measure what open streams cost the write path
    // when they are not the ones being fed.
    let quiet = ctx
        .create_tenant(&format!("Bench Quiet {tag}"), "enterprise", 100_000_000)
        .await?;
    let keys = Arc::new(keys);
    // The jobs of earlier scenarios (a `create` phase leaves thousands) would share the CPU
    // with every phase below: measure the streams on a server whose queues are drained.
    let drain = wait_for_drained_queues(ctx, Duration::from_secs(300)).await?;
    let pid = ctx.args.server_pid;
    let before = Memory::read(ctx).await;

    let subscribers = Subscribers::open(&ctx.base, &keys, n).await?;
    let open_now = subscribers.open;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open = Memory::read(ctx).await;
    let (rss_per, heap_per) = open.per(before, open_now);

    // Idle streams: heartbeats only.
    let idle = CpuMeter::start(pid);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (idle_server, idle_bench) = idle.cores();

    // Events at the target rate: every subscriber of a tenant gets its tenant's events.
    let make = stream_create(keys.clone());
    let server_before = route_histogram(ctx, TICKETS_ROUTE).await;
    let rate_from = unix_micros();
    let meter = CpuMeter::start(pid);
    let (created, secs) = open_loop(
        &ctx.client,
        &ctx.base,
        ctx.args.stream_rate,
        ctx.duration(),
        make.clone(),
        200,
    )
    .await;
    // How long the creates themselves took (a delivery's latency includes its create's).
    let created = created.outcome("stream_create", secs);
    let server_after = route_histogram(ctx, TICKETS_ROUTE).await;
    let server_pct =
        |pct| histogram_percentile(server_before.as_deref()?, server_after.as_deref()?, pct);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rate_server, rate_bench) = meter.cores();
    let rate_until = unix_micros();
    // The create rate with the subscribers open, first on a tenant they do not follow, then
    // on theirs (every create fans out to its tenant's streams); compare with `create`, run
    // without them.
    let (beside, beside_secs) = closed_loop(
        &ctx.target,
        ctx.args.concurrency,
        crate::Stop::After(ctx.duration()),
        crate::create_request(&quiet),
        200,
    )
    .await;
    let create_beside_subscribers = beside.latencies_us.len() as f64 / beside_secs;
    let burst_meter = CpuMeter::start(pid);
    let (burst, burst_secs) = closed_loop(
        &ctx.target,
        ctx.args.concurrency,
        crate::Stop::After(ctx.duration()),
        make,
        200,
    )
    .await;
    let create_with_subscribers = burst.latencies_us.len() as f64 / burst_secs;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (burst_server, burst_bench) = burst_meter.cores();
    subscribers.stop.send_replace(true);

    // Latency is reported for the events created at the target rate; the burst's (created
    // as fast as the server takes them) are counted apart.
    let mut delivered = Samples::default();
    let mut delivered_from_write = Samples::default();
    let mut unstamped = 0u64;
    let mut burst_delivered = Samples::default();
    let mut failed = std::collections::BTreeMap::<String, u64>::new();
    for s in subscribers.tasks {
        match s.await {
            Ok(Ok(deliveries)) => {
                for d in deliveries {
                    let into = if (rate_from..rate_until).contains(&d.sent) {
                        match d.from_write {
                            Some(latency) => delivered_from_write.latencies_us.push(latency),
                            None => unstamped += 1,
                        }
                        &mut delivered
                    } else {
                        &mut burst_delivered
                    };
                    into.ok += 1;
                    into.latencies_us.push(d.from_send);
                }
            }
            Ok(Err(e)) => *failed.entry(format!("subscriber: {e}")).or_default() += 1,
            Err(_) => *failed.entry("subscriber: panicked".into()).or_default() += 1,
        }
    }
    delivered.errors.extend(failed);
    let burst_out = burst_delivered.outcome("stream_burst", burst_secs);
    let from_write = delivered_from_write.outcome("stream_from_write", secs);
    let mut out = delivered.outcome("stream", secs);
    let extra = [
        ("subscribers", json!(n)),
        ("queue_jobs_waiting_at_start", json!(drain.waiting_at_start)),
        ("queue_drain_wait_s", json!(drain.wait.as_secs_f64())),
        ("queue_drain_server_cores", json!(drain.server_cores)),
        ("subscribers_open", json!(open_now)),
        ("tenants", json!(tenants)),
        ("event_rate", json!(ctx.args.stream_rate)),
        ("events_created", json!(created.ok)),
        ("write_to_client_p50_ms", json!(from_write.p50_ms)),
        ("write_to_client_p99_ms", json!(from_write.p99_ms)),
        ("deliveries_without_created_at", json!(unstamped)),
        ("create_p50_ms", json!(created.p50_ms)),
        ("create_p99_ms", json!(created.p99_ms)),
        ("create_server_p50_le_ms", json!(server_pct(50.0))),
        ("create_server_p99_le_ms", json!(server_pct(99.0))),
        ("rss_before_kib", json!(before.rss_kib)),
        ("rss_open_kib", json!(open.rss_kib)),
        ("rss_per_subscriber_kib", json!(rss_per)),
        ("heap_per_subscriber_kib", json!(heap_per)),
        ("cpu_idle_server_cores", json!(idle_server)),
        ("cpu_idle_bench_cores", json!(idle_bench)),
        ("cpu_rate_server_cores", json!(rate_server)),
        ("cpu_rate_bench_cores", json!(rate_bench)),
        ("cpu_burst_server_cores", json!(burst_server)),
        ("cpu_burst_bench_cores", json!(burst_bench)),
        (
            "create_rps_beside_subscribers",
            json!(create_beside_subscribers),
        ),
        (
            "create_rps_with_subscribers",
            json!(create_with_subscribers),
        ),
        ("burst_deliveries", json!(burst_out.requests)),
        ("burst_delivery_p50_ms", json!(burst_out.p50_ms)),
        ("burst_delivery_p99_ms", json!(burst_out.p99_ms)),
    ];
    out.extra
        .extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
    if let Some(without) = create_rps {
        out.extra.insert(
            "create_ratio_beside_subscribers".into(),
            json!(create_beside_subscribers / without),
        );
        out.extra.insert(
            "create_ratio_with_subscribers".into(),
            json!(create_with_subscribers / without),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(bytes: &[u8]) -> Vec<(u64, Option<u64>)> {
        let mut found = Vec::new();
        event_times(bytes, |sent, written| found.push((sent, written)));
        found
    }

    #[test]
    fn reads_a_percentile_off_two_histogram_readings() {
        let before = [(0.01, 5), (0.1, 10), (1.0, 10), (f64::INFINITY, 10)];
        let after = [(0.01, 55), (0.1, 108), (1.0, 110), (f64::INFINITY, 110)];
        assert_eq!(histogram_percentile(&before, &after, 50.0), Some(10.0));
        assert_eq!(histogram_percentile(&before, &after, 99.0), Some(1000.0));
        assert_eq!(histogram_percentile(&before, &before, 50.0), None);
    }

    #[test]
    fn finds_the_send_and_write_times_in_a_chunk() {
        let chunk = b"1a0\r\nid: 7\nevent: support.ticket_created\n\
            data: {\"type\":\"support.ticket_created\",\"created_at\":\"2024-12-01T10:46:40.5Z\",\
            \"data\":{\"ticket\":{\"subject\":\"Bench stream 1733050000123456\",\
            \"created_at\":\"2030-01-01T00:00:00Z\"}}}\n\n\
            id: 8\ndata: {\"subject\":\"Other\",\"created_at\":\"2024-12-01T10:46:40Z\"}\n\n\
            data: {\"subject\":\"Bench stream 42\"}\n\n\r\n";
        assert_eq!(
            times(chunk),
            [
                (1_733_050_000_123_456, Some(1_733_050_000_500_000)),
                (42, None)
            ]
        );
        assert!(times(b": keep-alive\n\n").is_empty());
    }
}
