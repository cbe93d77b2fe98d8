//! `helpline-bench`: drives a running Helpline and prints a table and JSON per scenario
//! (throughput, p50/p90/p99 latency, errors). `report` turns the JSON of several runs into
//! medians and ratios to the baselines measured in the same run (issue 9, docs/PERFORMANCE.md).
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

mod receiver;
mod report;
mod scale;
mod stream;
mod wire;

use wire::{Conn, Request, Target};

#[derive(Parser)]
#[command(
    name = "helpline-bench",
    about = "Load generator for a running Helpline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against a running server; prints a table and JSON.
    Run(Box<RunArgs>),
    /// Medians over several `run` JSON files, as ratios to their baselines and targets.
    Report {
        /// JSON files written by `run --json`.
        files: Vec<PathBuf>,
        /// Write the summary JSON here too.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Operator token (`HELPLINE_ADMIN_TOKEN` or `hl_staff_…`).
    #[arg(long, env = "HELPLINE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Comma-separated: healthz,create,read,reply,reject,mixed,webhook-drain,tenants,
    /// stream-idle,stream,scale
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "healthz,create,read,reply,reject,mixed"
    )]
    scenarios: Vec<String>,
    /// Concurrent connections of the closed-loop scenarios.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds per scenario (after `--warmup`).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Rate (req/s) of the enterprise tenant in `mixed`; default half the `create` max.
    #[arg(long)]
    mixed_rate: Option<f64>,
    /// Tickets (and so deliveries) in `webhook-drain`.
    #[arg(long, default_value_t = 5000)]
    webhook_n: usize,
    /// When set, `webhook-drain` first creates the N tickets (against a server without
    /// workers, e.g. `helpline api`), then runs this shell command (e.g. starts
    /// `helpline worker`) and measures the drain alone; it kills the command at the end.
    #[arg(long)]
    workers_cmd: Option<String>,
    /// Seconds to wait for all deliveries.
    #[arg(long, default_value_t = 300.0)]
    webhook_timeout: f64,
    /// Open event streams in `stream`.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Tenants the `stream` subscribers are spread over.
    #[arg(long, default_value_t = 10)]
    stream_tenants: usize,
    /// Tickets (events) per second created while the `stream` subscribers listen.
    #[arg(long, default_value_t = 200.0)]
    stream_rate: f64,
    /// Tenants touched by `tenants`.
    #[arg(long, default_value_t = 100_000)]
    tenants_n: usize,
    /// Shell command that reads SQL on stdin (`psql -q -v ON_ERROR_STOP=1 …` or
    /// `sqlite3 file`): seeds the tenants directly, the way `helpline tenants create` would.
    /// Without it they are created through `POST /admin/tenants`.
    #[arg(long)]
    seed_cmd: Option<String>,
    /// `postgres` or `sqlite`: the SQL dialect of `--seed-cmd`.
    #[arg(long, default_value = "postgres")]
    seed_dialect: String,
    /// The server's pid, for VmRSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds to wait after touching the tenants before measuring RSS again (past
    /// `HELPLINE_ACTOR_IDLE` plus one sweep).
    #[arg(long, default_value_t = 0.0)]
    idle_wait: f64,
    /// pgbench TPS of the equivalent transaction, measured by the caller in the same run.
    #[arg(long)]
    pgbench_tps: Option<f64>,
    /// pgbench TPS of the same transaction with one client: what one tenant's serialized
    /// creates (its actor runs them one at a time) can reach at best.
    #[arg(long)]
    pgbench_serial_tps: Option<f64>,
    /// `scale`: the numbers of tickets in the database to fill to, in order (the big tenant
    /// holds a fifth of each; every read is measured at each).
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    scale_sizes: Vec<u64>,
    /// `scale`: measurements per read and size; the median is reported.
    #[arg(long, default_value_t = 3)]
    scale_repeats: usize,
    /// `scale` on PostgreSQL: the database URL pgbench runs each read's SQL against.
    #[arg(long)]
    pgbench_url: Option<String>,
    /// Free-form label stored in the JSON (backend, run number).
    #[arg(long, default_value = "")]
    label: String,
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One scenario's numbers.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Outcome {
    pub scenario: String,
    pub requests: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    #[serde(default)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Default)]
struct Samples {
    latencies_us: Vec<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
}

impl Samples {
    /// Tallies one answer; the code is kept only for the error tally (no allocation per
    /// good answer).
    fn record(&mut self, latency_us: u64, answer: Result<u16, wire::Failure>, expect: u16) {
        self.latencies_us.push(latency_us);
        match answer {
            Ok(status) if status == expect => self.ok += 1,
            Ok(status) => *self.errors.entry(status.to_string()).or_default() += 1,
            Err(failure) => *self.errors.entry(failure.as_str().into()).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Samples) {
        self.latencies_us.extend(other.latencies_us);
        self.ok += other.ok;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }

    fn outcome(mut self, scenario: &str, seconds: f64) -> Outcome {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.latencies_us.is_empty() {
                return 0.0;
            }
            let idx = ((p / 100.0) * self.latencies_us.len() as f64).ceil() as usize;
            self.latencies_us[idx.clamp(1, self.latencies_us.len()) - 1] as f64 / 1000.0
        };
        let requests = self.latencies_us.len() as u64;
        Outcome {
            scenario: scenario.to_string(),
            requests,
            ok: self.ok,
            rps: requests as f64 / seconds,
            p50_ms: pct(50.0),
            p90_ms: pct(90.0),
            p99_ms: pct(99.0),
            max_ms: pct(100.0),
            errors: self.errors,
            seconds,
            extra: BTreeMap::new(),
        }
    }
}

/// Builds request number `i`.
type MakeRequest = Arc<dyn Fn(u64) -> Request + Send + Sync>;

enum Stop {
    After(Duration),
    Count(u64),
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// One request of the open loop, through the shared pool: the answer's status.
async fn send_pooled(
    client: &reqwest::Client,
    base: &str,
    req: &Request,
) -> Result<u16, wire::Failure> {
    match req.reqwest(client, base).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            // Read the body so the connection is reused.
            let _ = resp.bytes().await;
            Ok(status)
        }
        Err(e) if e.is_timeout() => Err(wire::Failure::Timeout),
        Err(_) => Err(wire::Failure::Transport),
    }
}

/// `concurrency` workers, each sending the next request as soon as the previous answered.
async fn closed_loop(
    target: &Target,
    concurrency: usize,
    stop: Stop,
    make: MakeRequest,
    expect: u16,
) -> (Samples, f64) {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = match stop {
        Stop::After(d) => Some(start + d),
        Stop::Count(_) => None,
    };
    let limit = match stop {
        Stop::Count(n) => n,
        Stop::After(_) => u64::MAX,
    };
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut conn = Conn::new(target.clone());
        let make = make.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Samples::default();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let req = make(i);
                let t = Instant::now();
                let answer = conn.send(&req).await;
                s.record(t.elapsed().as_micros() as u64, answer, expect);
            }
            s
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        all.merge(t.await.expect("worker"));
    }
    (all, start.elapsed().as_secs_f64())
}

/// Requests at a fixed rate whatever the latency; latency counts from the scheduled start,
/// so a stall is not hidden (no coordinated omission).
async fn open_loop(
    client: &reqwest::Client,
    base: &str,
    rate: f64,
    duration: Duration,
    make: MakeRequest,
    expect: u16,
) -> (Samples, f64) {
    let start = Instant::now();
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let samples = Arc::new(std::sync::Mutex::new(Samples::default()));
    let base: Arc<str> = base.into();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let client = client.clone();
        let base = base.clone();
        let req = make(i);
        let samples = samples.clone();
        tasks.push(tokio::spawn(async move {
            let answer = send_pooled(&client, &base, &req).await;
            let us = scheduled.elapsed().as_micros() as u64;
            samples.lock().expect("samples").record(us, answer, expect);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let samples = std::mem::take(&mut *samples.lock().expect("samples"));
    (samples, elapsed)
}

struct Ctx {
    args: RunArgs,
    /// For set-up and the open loop; the closed loops use their own connections to `target`.
    client: reqwest::Client,
    base: String,
    target: Target,
    /// The enterprise tenant's secret key (large balance).
    enterprise: Option<String>,
    ticket_ids: Vec<String>,
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn create_tenant(&self, name: &str, plan: &str, balance: i64) -> Result<String> {
        let resp = self
            .client
            .post(self.url("/admin/tenants"))
            .bearer_auth(&self.args.admin_token)
            .json(&json!({
                "name": name,
                "email": format!("{}@bench.test", name.to_lowercase().replace(' ', "-")),
                "plan": plan,
                "balance_cents": balance,
            }))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST /admin/tenants: {status} {body}");
        }
        body["secret_key"]
            .as_str()
            .map(str::to_string)
            .context("no secret_key in the response")
    }

    async fn enterprise(&mut self) -> Result<String> {
        if self.enterprise.is_none() {
            let tag = run_tag();
            self.enterprise = Some(
                self.create_tenant(
                    &format!("Bench Enterprise {tag}"),
                    "enterprise",
                    100_000_000,
                )
                .await?,
            );
        }
        Ok(self.enterprise.clone().expect("set above"))
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.args.duration)
    }

    async fn timed(
        &self,
        stop_secs: Option<f64>,
        make: MakeRequest,
        expect: u16,
        name: &str,
    ) -> Outcome {
        if self.args.warmup > 0.0 {
            let warm = Duration::from_secs_f64(self.args.warmup);
            let _ = closed_loop(
                &self.target,
                self.args.concurrency,
                Stop::After(warm),
                make.clone(),
                expect,
            )
            .await;
        }
        let d = stop_secs
            .map(Duration::from_secs_f64)
            .unwrap_or(self.duration());
        let (s, secs) = closed_loop(
            &self.target,
            self.args.concurrency,
            Stop::After(d),
            make,
            expect,
        )
        .await;
        s.outcome(name, secs)
    }
}

fn run_tag() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(6)
        .map(char::from)
        .collect()
}

fn ticket_body(i: u64) -> Value {
    json!({
        "subject": format!("Bench ticket {i}"),
        "category": "api_sdk",
        "priority": "normal",
        "description": "Creating a call with the Node SDK times out after 30 seconds (bench).",
    })
}

fn create_request(key: &str) -> MakeRequest {
    let key: Arc<str> = key.into();
    Arc::new(move |i| {
        Request::post("/v1/support/tickets")
            .bearer(key.clone())
            .json(&ticket_body(i))
    })
}

fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The server's `/metrics` text (with the operator token).
async fn metrics_text(ctx: &Ctx) -> Option<String> {
    ctx.client
        .get(ctx.url("/metrics"))
        .bearer_auth(&ctx.args.admin_token)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()
}

async fn metric(ctx: &Ctx, name: &str) -> Option<f64> {
    let text = metrics_text(ctx).await?;
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

async fn scenario_healthz(ctx: &mut Ctx) -> Result<Outcome> {
    let req = Request::get("/healthz");
    let make: MakeRequest = Arc::new(move |_| req.clone());
    Ok(ctx.timed(None, make, 200, "healthz").await)
}

async fn scenario_create(ctx: &mut Ctx) -> Result<Outcome> {
    let key = ctx.enterprise().await?;
    let make = create_request(&key);
    let mut out = ctx.timed(None, make, 200, "create").await;
    if let Some(tps) = ctx.args.pgbench_tps {
        out.extra.insert("pgbench_tps".into(), json!(tps));
        out.extra
            .insert("ratio_to_pgbench".into(), json!(out.rps / tps));
    }
    if let Some(tps) = ctx.args.pgbench_serial_tps {
        out.extra.insert("pgbench_serial_tps".into(), json!(tps));
        out.extra
            .insert("ratio_to_pgbench_serial".into(), json!(out.rps / tps));
    }
    Ok(out)
}

async fn ensure_tickets(ctx: &mut Ctx) -> Result<()> {
    if !ctx.ticket_ids.is_empty() {
        return Ok(());
    }
    let key = ctx.enterprise().await?;
    let list = |ctx: &Ctx, key: String| {
        let req = ctx
            .client
            .get(ctx.url("/v1/support/tickets?limit=200"))
            .bearer_auth(key);
        async move { req.send().await?.json::<Value>().await }
    };
    let mut body = list(ctx, key.clone()).await?;
    if body["data"].as_array().is_none_or(|d| d.len() < 100) {
        let make = create_request(&key);
        let _ = closed_loop(
            &ctx.target,
            ctx.args.concurrency,
            Stop::Count(200),
            make,
            200,
        )
        .await;
        body = list(ctx, key).await?;
    }
    ctx.ticket_ids = body["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if ctx.ticket_ids.is_empty() {
        bail!("could not list the enterprise tenant's tickets: {body}");
    }
    Ok(())
}

async fn scenario_read(ctx: &mut Ctx) -> Result<Outcome> {
    ensure_tickets(ctx).await?;
    let key = ctx.enterprise().await?;
    let req = Request::get("/v1/support/tickets?limit=50").bearer(key);
    let make: MakeRequest = Arc::new(move |_| req.clone());
    Ok(ctx.timed(None, make, 200, "read").await)
}

async fn scenario_reply(ctx: &mut Ctx) -> Result<Outcome> {
    ensure_tickets(ctx).await?;
    let key = ctx.enterprise().await?;
    let key: Arc<str> = key.into();
    let paths: Arc<Vec<Arc<str>>> = Arc::new(
        ctx.ticket_ids
            .iter()
            .map(|id| format!("/v1/support/tickets/{id}/messages").into())
            .collect(),
    );
    let make: MakeRequest = Arc::new(move |i| {
        Request::post(paths[i as usize % paths.len()].clone())
            .bearer(key.clone())
            .json(&json!({"body": format!("Still failing after the upgrade ({i}).")}))
    });
    Ok(ctx.timed(None, make, 201, "reply").await)
}

/// A free tenant (60/min, burst 5) whose burst is already spent.
async fn flooding_tenant(ctx: &Ctx) -> Result<MakeRequest> {
    let key = ctx
        .create_tenant(&format!("Bench Free {}", run_tag()), "free", 100)
        .await?;
    let req = Request::get("/v1/support/tickets?limit=50").bearer(key);
    let make: MakeRequest = Arc::new(move |_| req.clone());
    let _ = closed_loop(&ctx.target, 1, Stop::Count(20), make.clone(), 429).await;
    Ok(make)
}

async fn scenario_reject(ctx: &mut Ctx) -> Result<Outcome> {
    let make = flooding_tenant(ctx).await?;
    Ok(ctx.timed(None, make, 429, "reject").await)
}

/// The enterprise tenant creates tickets at a fixed rate (half the `create` max unless
/// `--mixed-rate`), alone and then while a free tenant floods with `--concurrency`
/// connections. Returns the `create@half` row (the alone phase) and the `mixed` row.
async fn scenario_mixed(ctx: &mut Ctx, create_rps: Option<f64>) -> Result<Vec<Outcome>> {
    let rate = match (ctx.args.mixed_rate, create_rps) {
        (Some(r), _) => r,
        (None, Some(max)) => (max / 2.0).max(1.0),
        (None, None) => bail!("mixed needs --mixed-rate or the create scenario first"),
    };
    let key = ctx.enterprise().await?;
    let make = create_request(&key);
    let d = ctx.duration();
    let (alone, secs) = open_loop(&ctx.client, &ctx.base, rate, d, make.clone(), 200).await;
    let mut alone = alone.outcome("create@half", secs);
    alone.extra.insert("rate".into(), json!(rate));

    let flood = flooding_tenant(ctx).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood_task = {
        let target = ctx.target.clone();
        let conc = ctx.args.concurrency;
        let flood_for = d + Duration::from_secs(1);
        tokio::spawn(
            async move { closed_loop(&target, conc, Stop::After(flood_for), flood, 429).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (with, secs) = open_loop(&ctx.client, &ctx.base, rate, d, make, 200).await;
    stop.store(true, Ordering::Relaxed);
    let (flood_samples, flood_secs) = flood_task.await?;
    let flood_out = flood_samples.outcome("flood", flood_secs);
    let mut mixed = with.outcome("mixed", secs);
    mixed.extra.insert("rate".into(), json!(rate));
    mixed
        .extra
        .insert("p99_without_flood_ms".into(), json!(alone.p99_ms));
    mixed.extra.insert(
        "p99_ratio".into(),
        json!(mixed.p99_ms / alone.p99_ms.max(0.001)),
    );
    mixed.extra.insert("flood_rps".into(), json!(flood_out.rps));
    mixed.extra.insert("flood_429".into(), json!(flood_out.ok));
    mixed
        .extra
        .insert("flood_other".into(), json!(flood_out.errors));
    Ok(vec![alone, mixed])
}

async fn scenario_webhook_drain(ctx: &mut Ctx) -> Result<Outcome> {
    let n = ctx.args.webhook_n;
    let recv = receiver::Receiver::start(n).await?;
    let key = ctx
        .create_tenant(
            &format!("Bench Hooks {}", run_tag()),
            "enterprise",
            100_000_000,
        )
        .await?;
    let resp = ctx
        .client
        .post(ctx.url("/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": recv.url(), "events": ["support.ticket_created"]}))
        .send()
        .await?;
    if resp.status().as_u16() != 201 {
        bail!(
            "POST /v1/webhooks: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    let make = create_request(&key);
    let t0 = Instant::now();
    let (created, create_secs) = closed_loop(
        &ctx.target,
        ctx.args.concurrency,
        Stop::Count(n as u64),
        make,
        200,
    )
    .await;
    let created_ok = created.ok;
    let at_create_end = recv.unique().await;
    let mut child = None;
    let drain_start = Instant::now();
    if let Some(cmd) = &ctx.args.workers_cmd {
        child = Some(
            tokio::process::Command::new("sh")
                .arg("-c")
                .arg(format!("exec {cmd}"))
                .kill_on_drop(true)
                .spawn()
                .context("starting --workers-cmd")?,
        );
    }
    let timeout = Duration::from_secs_f64(ctx.args.webhook_timeout);
    let all = recv.wait_all(created_ok as usize, timeout).await;
    let stats = recv.stats().await;
    if let Some(mut c) = child {
        let _ = c.kill().await;
    }
    let end_to_end = stats
        .last
        .map(|l| l.duration_since(t0).as_secs_f64())
        .unwrap_or(f64::NAN);
    let mut out = created.outcome("webhook-drain", create_secs);
    let delivered = stats.unique as f64;
    // deliveries/s: with --workers-cmd, first to last delivery of the backlog (the drain
    // alone); otherwise from the first create to the last delivery (end to end).
    let drain_rate = match (&ctx.args.workers_cmd, stats.first, stats.last) {
        (Some(_), Some(f), Some(l)) if l > f => {
            (delivered - 1.0) / l.duration_since(f).as_secs_f64()
        }
        (None, _, Some(_)) => delivered / end_to_end,
        _ => 0.0,
    };
    out.extra.insert("tickets".into(), json!(created_ok));
    out.extra
        .insert("delivered_unique".into(), json!(stats.unique));
    out.extra
        .insert("deliveries_total".into(), json!(stats.total));
    out.extra.insert("all_arrived".into(), json!(all));
    out.extra
        .insert("delivered_during_create".into(), json!(at_create_end));
    out.extra
        .insert("create_seconds".into(), json!(create_secs));
    out.extra
        .insert("end_to_end_seconds".into(), json!(end_to_end));
    out.extra.insert(
        "drain_seconds".into(),
        json!(
            stats
                .last
                .map(|l| l.duration_since(drain_start).as_secs_f64())
        ),
    );
    out.extra.insert(
        "mode".into(),
        json!(if ctx.args.workers_cmd.is_some() {
            "backlog"
        } else {
            "end_to_end"
        }),
    );
    out.extra
        .insert("deliveries_per_s".into(), json!(drain_rate));
    Ok(out)
}

/// Deterministic tokens, so the seeding SQL and the requests agree.
fn tenant_token(tag: &str, i: usize) -> String {
    format!("hl_sk_bn{tag}{i:032}")
}

fn uuid_v4() -> uuid::Uuid {
    uuid::Uuid::new_v4()
}

async fn seed_tenants(ctx: &Ctx, tag: &str, n: usize) -> Result<Vec<String>> {
    let tokens: Vec<String> = (0..n).map(|i| tenant_token(tag, i)).collect();
    let Some(cmd) = &ctx.args.seed_cmd else {
        // Through the admin API (slower): returns the minted keys instead.
        let keys = Arc::new(Mutex::new(Vec::with_capacity(n)));
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..ctx.args.concurrency {
            let (keys, next) = (keys.clone(), next.clone());
            let ctx_client = ctx.client.clone();
            let base = ctx.base.clone();
            let admin = ctx.args.admin_token.clone();
            let tag = tag.to_string();
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= n {
                        break;
                    }
                    let resp = ctx_client
                        .post(format!("{base}/admin/tenants"))
                        .bearer_auth(&admin)
                        .json(&json!({"name": format!("t{tag}{i}"), "email": format!("t{i}@{tag}.bench.test"), "plan": "free", "balance_cents": 0}))
                        .send()
                        .await;
                    if let Ok(r) = resp
                        && let Ok(v) = r.json::<Value>().await
                        && let Some(k) = v["secret_key"].as_str()
                    {
                        keys.lock().await.push(k.to_string());
                    }
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        return Ok(std::mem::take(&mut *keys.lock().await));
    };
    let rows: Vec<SeedTenant> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| SeedTenant {
            id: uuid_v4(),
            name: format!("Bench tenant {i}"),
            email: format!("t{i}@{tag}.bench.test"),
            plan: "free",
            token: token.clone(),
        })
        .collect();
    run_seed(
        cmd,
        &seed_tenants_sql(ctx.args.seed_dialect != "sqlite", &rows)?,
    )
    .await?;
    Ok(tokens)
}

/// A tenant seeded straight into the database the way `helpline tenants create` makes it: the
/// tenant row and its secret key's SHA-256 hash (a zero opening balance has no ledger entry).
pub struct SeedTenant {
    pub id: uuid::Uuid,
    pub name: String,
    pub email: String,
    pub plan: &'static str,
    pub token: String,
}

/// The SQL that inserts `tenants`, 1,000 per transaction (`pg`: PostgreSQL, else SQLite).
fn seed_tenants_sql(pg: bool, tenants: &[SeedTenant]) -> Result<String> {
    let now = if pg {
        "now()".to_string()
    } else {
        // sea-orm's SQLite text form of a DateTime<Utc>.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        format!("'{}'", sqlite_time(t))
    };
    let mut sql = String::with_capacity(tenants.len() * 400);
    if !pg {
        sql.push_str(".timeout 30000\n");
    }
    for chunk in tenants.chunks(1000) {
        sql.push_str("BEGIN;\nINSERT INTO tenants (id, name, email, plan, limits_mode, limit_rpm, limit_burst, balance_cents, created_at, updated_at) VALUES\n");
        let mut keys = String::from(
            "INSERT INTO api_keys (id, tenant_id, kind, prefix, key_hash, label, created_at, revoked_at) VALUES\n",
        );
        for (j, tenant) in chunk.iter().enumerate() {
            let kid = uuid_v4();
            let sep = if j + 1 == chunk.len() { ";\n" } else { ",\n" };
            let (tid_s, kid_s) = (sql_uuid(pg, tenant.id), sql_uuid(pg, kid));
            sql.push_str(&format!(
                "({tid_s}, {}, {}, '{}', 'plan', NULL, NULL, 0, {now}, {now}){sep}",
                sql_text(&tenant.name),
                sql_text(&tenant.email),
                tenant.plan
            ));
            let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                tenant.token.as_bytes(),
            ));
            keys.push_str(&format!(
                "({kid_s}, {tid_s}, 'secret', '{}', '{hash}', NULL, {now}, NULL){sep}",
                &tenant.token[..14]
            ));
        }
        sql.push_str(&keys);
        sql.push_str("COMMIT;\n");
    }
    Ok(sql)
}

/// A uuid literal: text on PostgreSQL, the 16-byte blob sea-orm stores on SQLite.
fn sql_uuid(pg: bool, id: uuid::Uuid) -> String {
    if pg {
        format!("'{id}'")
    } else {
        format!("X'{}'", id.simple())
    }
}

/// A quoted SQL string literal (both dialects).
fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Pipes `sql` into the `--seed-cmd` shell command.
async fn run_seed(cmd: &str, sql: &str) -> Result<()> {
    seed_output(cmd, sql).await.map(|_| ())
}

/// Pipes `sql` into the `--seed-cmd` shell command and returns what it printed.
async fn seed_output(cmd: &str, sql: &str) -> Result<String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting --seed-cmd")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    // Written while the output is read, so a chatty command cannot block on a full pipe.
    let write = async move {
        let written = stdin.write_all(sql.as_bytes()).await;
        drop(stdin);
        written
    };
    let (written, out) = tokio::join!(write, child.wait_with_output());
    let out = out?;
    if !out.status.success() {
        bail!("--seed-cmd failed: {}", out.status);
    }
    written.context("writing to --seed-cmd")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `YYYY-MM-DDTHH:MM:SS+00:00`: RFC 3339, as sqlx writes a `DateTime<Utc>` (less the fraction).
fn sqlite_time(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

async fn scenario_tenants(ctx: &mut Ctx) -> Result<Outcome> {
    let n = ctx.args.tenants_n;
    let pid = ctx.args.server_pid;
    let tag = run_tag();
    let seed_start = Instant::now();
    let tokens = Arc::new(seed_tenants(ctx, &tag, n).await?);
    let seed_secs = seed_start.elapsed().as_secs_f64();
    let rss_before = pid.and_then(vm_rss_kb);
    let actors_before = metric(ctx, "helpline_tenant_actors_live").await;
    // One authenticated mutation per tenant: a status change of an unknown ticket goes
    // through auth (cache), the tenant's rate limiter and its actor, and answers 404.
    let make: MakeRequest = {
        let tokens = tokens.clone();
        Arc::new(move |i| {
            let ticket = format!("tkt_{}", uuid::Uuid::now_v7().simple());
            Request::patch(format!("/v1/support/tickets/{ticket}"))
                .bearer(tokens[i as usize % tokens.len()].as_str())
                .json(&json!({"status": "resolved"}))
        })
    };
    let (s, secs) = closed_loop(
        &ctx.target,
        ctx.args.concurrency,
        Stop::Count(tokens.len() as u64),
        make,
        404,
    )
    .await;
    let rss_touched = pid.and_then(vm_rss_kb);
    let actors_touched = metric(ctx, "helpline_tenant_actors_live").await;
    let mut out = s.outcome("tenants", secs);
    let mut rss_idle = None;
    let mut actors_idle = None;
    if ctx.args.idle_wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(ctx.args.idle_wait)).await;
        rss_idle = pid.and_then(vm_rss_kb);
        actors_idle = metric(ctx, "helpline_tenant_actors_live").await;
    }
    let mb = |kb: Option<u64>| kb.map(|k| k as f64 / 1024.0);
    out.extra.insert("tenants".into(), json!(tokens.len()));
    out.extra.insert("seed_seconds".into(), json!(seed_secs));
    out.extra
        .insert("rss_before_mb".into(), json!(mb(rss_before)));
    out.extra
        .insert("rss_touched_mb".into(), json!(mb(rss_touched)));
    out.extra.insert("rss_idle_mb".into(), json!(mb(rss_idle)));
    out.extra
        .insert("actors_before".into(), json!(actors_before));
    out.extra
        .insert("actors_touched".into(), json!(actors_touched));
    out.extra.insert("actors_idle".into(), json!(actors_idle));
    out.extra
        .insert("idle_wait_s".into(), json!(ctx.args.idle_wait));
    Ok(out)
}

fn print_table(rows: &[Outcome]) {
    println!(
        "{:<14} {:>9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8}  errors / notes",
        "scenario", "requests", "ok", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for r in rows {
        let errors: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let notes: Vec<String> = r
            .extra
            .iter()
            .filter(|(_, v)| !v.is_null() && !v.is_object())
            .map(|(k, v)| match v.as_f64() {
                Some(f) if f.fract() != 0.0 => format!("{k}={f:.2}"),
                _ => format!("{k}={v}"),
            })
            .collect();
        println!(
            "{:<14} {:>9} {:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {} {}",
            r.scenario,
            r.requests,
            r.ok,
            r.rps,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.max_ms,
            if errors.is_empty() {
                "-".to_string()
            } else {
                errors.join(",")
            },
            notes.join(" ")
        );
    }
}

async fn run(args: RunArgs) -> Result<()> {
    let base = args.base_url.trim_end_matches('/').to_string();
    let target = Target::of(&base).await?;
    let mut ctx = Ctx {
        client: client(),
        base,
        target,
        enterprise: None,
        ticket_ids: Vec::new(),
        args: args.clone(),
    };
    let mut rows: Vec<Outcome> = Vec::new();
    for name in &args.scenarios {
        eprintln!("[bench] {name} …");
        let result = match name.as_str() {
            "healthz" => scenario_healthz(&mut ctx).await.map(|o| vec![o]),
            "create" => scenario_create(&mut ctx).await.map(|o| vec![o]),
            "read" => scenario_read(&mut ctx).await.map(|o| vec![o]),
            "reply" => scenario_reply(&mut ctx).await.map(|o| vec![o]),
            "reject" => scenario_reject(&mut ctx).await.map(|o| vec![o]),
            "mixed" => {
                let create = rows.iter().find(|r| r.scenario == "create").map(|r| r.rps);
                scenario_mixed(&mut ctx, create).await
            }
            "webhook-drain" => scenario_webhook_drain(&mut ctx).await.map(|o| vec![o]),
            "tenants" => scenario_tenants(&mut ctx).await.map(|o| vec![o]),
            "scale" => scale::scenario_scale(&mut ctx).await,
            "stream-idle" => stream::scenario_stream_idle(&mut ctx)
                .await
                .map(|o| vec![o]),
            "stream" => {
                let create = rows.iter().find(|r| r.scenario == "create").map(|r| r.rps);
                stream::scenario_stream(&mut ctx, create)
                    .await
                    .map(|o| vec![o])
            }
            other => bail!("unknown scenario {other}"),
        };
        match result {
            Ok(mut out) => {
                print_table(&out);
                rows.append(&mut out);
            }
            Err(e) => {
                eprintln!("[bench] {name} failed: {e:#}");
                rows.push(Outcome {
                    scenario: name.clone(),
                    extra: BTreeMap::from([("failed".to_string(), json!(format!("{e:#}")))]),
                    ..Outcome::default()
                });
            }
        }
    }
    println!();
    print_table(&rows);
    let doc = json!({
        "label": args.label,
        "base_url": args.base_url,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "pgbench_tps": args.pgbench_tps,
        "pgbench_serial_tps": args.pgbench_serial_tps,
        "scenarios": rows,
    });
    let text = serde_json::to_string_pretty(&doc)?;
    println!("{}", serde_json::to_string(&doc)?);
    if let Some(path) = &args.json {
        std::fs::write(path, text)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(*args).await,
        Command::Report { files, json } => report::report(&files, json.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = Samples {
            latencies_us: (1..=100).map(|i| i * 1000).collect(),
            ..Samples::default()
        };
        let o = s.outcome("x", 1.0);
        assert_eq!(
            (o.p50_ms, o.p90_ms, o.p99_ms, o.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
    }

    #[test]
    fn sqlite_time_matches_chrono_text() {
        assert_eq!(sqlite_time(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(sqlite_time(1_700_000_000), "2023-11-14T22:13:20+00:00");
    }

    #[test]
    fn tokens_have_the_key_shape() {
        let t = tenant_token("abcdef", 7);
        assert!(t.starts_with("hl_sk_"));
        assert_eq!(t.len() - "hl_sk_".len(), 40);
    }
}
