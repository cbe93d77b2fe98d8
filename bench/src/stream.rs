//! `stream`: N Server-Sent-Events subscribers spread over `--stream-tenants` tenants while
//! tickets are created at `--stream-rate`; reports commit-to-client latency and the server's
//! memory per subscriber. Latency runs from the bench sending the create (whose subject
//! carries the send time) to a subscriber reading the event: an upper bound of
//! commit-to-client, on one clock. Open files: each subscriber is one connection on both
//! sides, so raise `ulimit -n` for both processes (and the server's
//! `HELPLINE_STREAMS_PER_TENANT` to at least N / tenants).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use serde_json::json;
use tokio::sync::watch;

use crate::{Ctx, MakeRequest, Outcome, Samples, closed_loop, open_loop, run_tag, vm_rss_kb};

const SUBJECT_PREFIX: &str = "Bench stream ";

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The send time a create's subject carries, found in an event's `data:` line.
fn sent_at(line: &str) -> Option<u64> {
    let rest = &line[line.find(SUBJECT_PREFIX)? + SUBJECT_PREFIX.len()..];
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

fn stream_create(base: &str, keys: Arc<Vec<String>>) -> MakeRequest {
    let url = format!("{base}/v1/support/tickets");
    Arc::new(move |c: &reqwest::Client, i: u64| {
        c.post(&url)
            .bearer_auth(&keys[i as usize % keys.len()])
            .json(&json!({
                "subject": format!("{SUBJECT_PREFIX}{}", unix_micros()),
                "category": "api_sdk",
                "priority": "normal",
                "description": "Measuring the event feed (bench).",
            }))
    })
}

/// Reads one stream until `stop`, recording each ticket event's latency.
async fn subscribe(
    client: reqwest::Client,
    url: String,
    key: String,
    opened: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<u64>> {
    let mut res = client.get(&url).bearer_auth(&key).send().await?;
    if !res.status().is_success() {
        bail!("{}", res.status());
    }
    opened.fetch_add(1, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut pending = String::new();
    loop {
        let chunk = tokio::select! {
            chunk = res.chunk() => chunk?,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(bytes) = chunk else { break };
        pending.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if line.starts_with("data: ")
                && let Some(sent) = sent_at(&line)
            {
                latencies.push(unix_micros().saturating_sub(sent));
            }
        }
    }
    Ok(latencies)
}

pub async fn scenario_stream(ctx: &mut Ctx, create_rps: Option<f64>) -> Result<Outcome> {
    let n = ctx.args.subscribers;
    let tenants = ctx.args.stream_tenants.max(1);
    let tag = run_tag();
    let mut keys = Vec::with_capacity(tenants);
    for i in 0..tenants {
        keys.push(
            ctx.create_tenant(
                &format!("Bench Stream {tag} {i}"),
                "enterprise",
                100_000_000,
            )
            .await?,
        );
    }
    let keys = Arc::new(keys);
    let pid = ctx.args.server_pid;
    let rss_before = pid.and_then(vm_rss_kb);

    // Streams live as long as the run: a client without the overall request timeout.
    let streams = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let url = ctx.url("/v1/events/stream");
    let opened = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let mut subscribers = Vec::with_capacity(n);
    for i in 0..n {
        subscribers.push(tokio::spawn(subscribe(
            streams.clone(),
            url.clone(),
            keys[i % tenants].clone(),
            opened.clone(),
            stopped.clone(),
        )));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while (opened.load(Ordering::Relaxed) as usize) < n && Instant::now() < deadline {
        if subscribers.iter().all(|s| s.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open_now = opened.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_open = pid.and_then(vm_rss_kb);

    // Events at the target rate: every subscriber of a tenant gets its tenant's events.
    let make = stream_create(&ctx.base, keys.clone());
    let (created, secs) = open_loop(
        &ctx.client,
        ctx.args.stream_rate,
        ctx.duration(),
        make.clone(),
        200,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The create rate with the subscribers open (compare with `create`, run without them).
    let (burst, burst_secs) = closed_loop(
        &ctx.client,
        ctx.args.concurrency,
        crate::Stop::After(ctx.duration()),
        make,
        200,
    )
    .await;
    let create_with_subscribers = burst.latencies_us.len() as f64 / burst_secs;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.send_replace(true);

    let mut delivered = Samples::default();
    let mut failed = 0u64;
    for s in subscribers {
        match s.await {
            Ok(Ok(latencies)) => {
                delivered.ok += latencies.len() as u64;
                delivered.latencies_us.extend(latencies);
            }
            _ => failed += 1,
        }
    }
    if failed > 0 {
        delivered.errors.insert("subscriber_failed".into(), failed);
    }
    let mut out = delivered.outcome("stream", secs);
    let kib = |kb: Option<u64>| kb.map(|k| k as f64);
    let per_subscriber = match (rss_before, rss_open) {
        (Some(before), Some(open)) if open_now > 0 => {
            Some(open.saturating_sub(before) as f64 / open_now as f64)
        }
        _ => None,
    };
    out.extra.insert("subscribers".into(), json!(n));
    out.extra.insert("subscribers_open".into(), json!(open_now));
    out.extra.insert("tenants".into(), json!(tenants));
    out.extra
        .insert("event_rate".into(), json!(ctx.args.stream_rate));
    out.extra.insert("events_created".into(), json!(created.ok));
    out.extra
        .insert("rss_before_kib".into(), json!(kib(rss_before)));
    out.extra
        .insert("rss_open_kib".into(), json!(kib(rss_open)));
    out.extra
        .insert("rss_per_subscriber_kib".into(), json!(per_subscriber));
    out.extra.insert(
        "create_rps_with_subscribers".into(),
        json!(create_with_subscribers),
    );
    if let Some(without) = create_rps {
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

    #[test]
    fn finds_the_send_time_in_an_event() {
        let line = r#"data: {"data":{"ticket":{"subject":"Bench stream 1733050000123456","x":1}}}"#;
        assert_eq!(sent_at(line), Some(1_733_050_000_123_456));
        assert_eq!(sent_at(r#"data: {"subject":"Other"}"#), None);
    }
}
