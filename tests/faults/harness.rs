//! Runs the real `helpline` binary as child processes, with what each fault test needs
//! around it: a fresh PostgreSQL database on the shared server, a private `redis-server` or
//! a private PostgreSQL cluster on free ports, and HTTP shortcuts. Everything a test starts
//! is stopped when its handle drops, also when the test fails or times out.
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The binary under test: the one cargo built for this test crate, or `FAULTS_HELPLINE_BIN`
/// (e.g. a release build, or a copy when several checkouts share one target dir).
fn bin() -> String {
    std::env::var("FAULTS_HELPLINE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_helpline").into())
}
/// The shared Redis (`bash .ci/run` starts it). Tests on it use their own key prefix.
pub const SHARED_REDIS: &str = "redis://127.0.0.1:6379";
/// The shared PostgreSQL server, where each test creates its own database.
pub const PG_HOST: &str = "127.0.0.1";
pub const PG_PORT: u16 = 5432;

/// The relay's sweep and the recovery grace every deployment runs with (`Deployment::new`).
pub const OUTBOX_SWEEP: Duration = Duration::from_millis(100);
pub const RECOVERY_GRACE: Duration = Duration::from_secs(2);
/// How long after a process on another machine dies its leases are taken back.
pub fn dead_node_noticed_within() -> Duration {
    workers::lease::DEAD_AFTER + workers::lease::HEARTBEAT_EVERY
}

/// The process tests run one at a time: each starts several multi-threaded servers and
/// checks timings (503 within seconds, a banner within 1 s) that a 2-core machine running
/// five of them at once would blur. The property tests do not take it.
static SERIAL: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Runs one fault test: alone among the process tests, and within `limit` (on timeout the
/// future is dropped, which kills every child it started, and the test fails).
pub async fn bounded<F: Future<Output = ()>>(name: &str, limit: Duration, test: F) {
    let _turn = SERIAL
        .acquire()
        .await
        .expect("the test semaphore is never closed");
    let started = Instant::now();
    if tokio::time::timeout(limit, test).await.is_err() {
        panic!("{name}: did not finish within {limit:?}");
    }
    eprintln!("{name}: passed in {:.1}s", started.elapsed().as_secs_f64());
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The last `lines` lines of a log file, for failure reports.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------
// A database of its own on the shared PostgreSQL server.

/// `helpline_fault_<uuid>` on the shared server, dropped (`WITH (FORCE)`) on drop.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

fn psql(port: u16, sql: &str) -> std::io::Result<std::process::Output> {
    Command::new("psql")
        .args(["-h", PG_HOST, "-p", &port.to_string(), "-U", "postgres"])
        .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .stdin(Stdio::null())
        .output()
}

impl PgDatabase {
    pub fn create() -> Self {
        let name = format!("helpline_fault_{}", uuid::Uuid::new_v4().simple());
        let out = psql(PG_PORT, &format!("CREATE DATABASE {name}"))
            .expect("psql must be installed (PostgreSQL client)");
        assert!(
            out.status.success(),
            "cannot create {name} (PostgreSQL must run on {PG_HOST}:{PG_PORT}; bash .ci/run starts it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            url: format!("postgres://postgres@{PG_HOST}:{PG_PORT}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(
            PG_PORT,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Helpline processes.

/// The environment of one deployment (database, queue, secrets) shared by its processes.
pub struct Deployment {
    pub dir: TempDir,
    pub admin_token: String,
    env: BTreeMap<String, String>,
    started: usize,
}

impl Deployment {
    /// Defaults tuned for tests: fast relay sweeps and recovery, small pools (several test
    /// binaries share one PostgreSQL), private targets allowed (receivers are on loopback).
    pub fn new(database_url: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let admin_token = format!("fault-admin-{}", uuid::Uuid::new_v4().simple());
        let mut env = BTreeMap::new();
        for (k, v) in [
            ("DATABASE_URL", database_url.to_string()),
            (
                "HELPLINE_QUEUE_URL",
                format!("sqlite://{}/queue.db?mode=rwc", dir.path().display()),
            ),
            (
                "HELPLINE_REDIS_PREFIX",
                format!("fault:{}:", uuid::Uuid::new_v4().simple()),
            ),
            ("HELPLINE_ADMIN_TOKEN", admin_token.clone()),
            ("HELPLINE_ALLOW_PRIVATE_TARGETS", "true".into()),
            (
                "HELPLINE_OUTBOX_SWEEP",
                format!("{}ms", OUTBOX_SWEEP.as_millis()),
            ),
            (
                "HELPLINE_RECOVERY_GRACE",
                format!("{}ms", RECOVERY_GRACE.as_millis()),
            ),
            ("HELPLINE_WORKER_CONCURRENCY", "8".into()),
            ("HELPLINE_DB_POOL_SIZE", "10".into()),
            ("HELPLINE_EMAIL_BACKOFF", "200ms".into()),
            ("HELPLINE_BILLING_BACKOFF", "200ms".into()),
            (
                "HELPLINE_WEBHOOK_RETRY_SCHEDULE",
                "0s,1s,1s,1s,1s,1s,1s,1s".into(),
            ),
            (
                "RUST_LOG",
                "info,sqlx=warn,sea_orm=warn,apalis=warn,apalis_core=warn".into(),
            ),
        ] {
            env.insert(k.to_string(), v);
        }
        Self {
            dir,
            admin_token,
            env,
            started: 0,
        }
    }

    /// On the embedded default: a SQLite database file and the SQLite queue, in the temp dir.
    pub fn embedded() -> Self {
        let mut deployment = Self::new("");
        let url = format!(
            "sqlite://{}/helpline.db?mode=rwc",
            deployment.dir.path().display()
        );
        deployment.set("DATABASE_URL", url);
        deployment
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.env.insert(key.to_string(), value.into());
        self
    }

    fn spawn(&mut self, args: &[&str], port: Option<u16>) -> Node {
        self.started += 1;
        let log = self
            .dir
            .path()
            .join(format!("{}-{}.log", args[0], self.started));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut command = Command::new(bin());
        command
            .args(args)
            .env_clear()
            .envs(&self.env)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(port) = port {
            command.env("HELPLINE_LISTEN", format!("127.0.0.1:{port}"));
        }
        kill_with_parent(&mut command);
        let child = command.spawn().expect("start the helpline binary");
        Node {
            api: Api {
                base: port
                    .map(|p| format!("http://127.0.0.1:{p}"))
                    .unwrap_or_default(),
                client: client(),
                admin_token: self.admin_token.clone(),
            },
            child: Some(child),
            log,
        }
    }

    /// Starts `helpline serve` or `helpline api` (and waits until `/healthz` answers).
    pub async fn start(&mut self, command: &str) -> Node {
        self.start_with(&[command]).await
    }

    pub async fn start_with(&mut self, args: &[&str]) -> Node {
        let mut node = self.spawn(args, Some(free_port()));
        node.wait_healthy(Duration::from_secs(40)).await;
        node
    }

    /// Starts `helpline worker` and waits for its "worker started" line.
    pub async fn start_worker(&mut self) -> Node {
        let mut node = self.spawn(&["worker"], None);
        let deadline = Instant::now() + Duration::from_secs(40);
        while !std::fs::read_to_string(&node.log)
            .unwrap_or_default()
            .contains("worker started")
        {
            node.assert_running();
            assert!(
                Instant::now() < deadline,
                "the worker did not start:\n{}",
                tail(&node.log, 40)
            );
            sleep(Duration::from_millis(50)).await;
        }
        node
    }
}

impl Drop for Deployment {
    /// Removes this deployment's keys from the shared Redis (its queues, rate-limit buckets).
    fn drop(&mut self) {
        if self.env.get("REDIS_URL").map(String::as_str) != Some(SHARED_REDIS) {
            return;
        }
        let prefix = &self.env["HELPLINE_REDIS_PREFIX"];
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "redis-cli -h 127.0.0.1 -p 6379 --scan --pattern '{prefix}*' | \
                 xargs -r -n 200 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null"
            ))
            .stdin(Stdio::null())
            .status();
    }
}

/// Children die with the test thread that started them, even if the test binary is killed.
fn kill_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
}

pub fn client() -> reqwest::Client {
    crate::support::http_client()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

/// One running `helpline` process. Dropping it kills it (SIGKILL). Its HTTP API is
/// `node.api` (also reachable through deref), which can be cloned into load tasks.
pub struct Node {
    pub api: Api,
    child: Option<Child>,
    pub log: PathBuf,
}

impl std::ops::Deref for Node {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// HTTP shortcuts against one node.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub key: String,
}

impl Node {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!("helpline exited early ({status}):\n{}", tail(&self.log, 60));
        }
    }

    async fn wait_healthy(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            self.assert_running();
            let probe = self
                .client
                .get(format!("{}/healthz", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "helpline did not become healthy in {limit:?}:\n{}",
                tail(&self.log, 60)
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM: asks for a graceful stop.
    pub fn terminate(&self) {
        let pid = self.pid();
        assert!(pid > 0, "the process is not running");
        // SAFETY: sends a signal to our own child.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid}");
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().expect("the process is running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "helpline did not exit within {limit:?}:\n{}",
                tail(&self.log, 60)
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// A request that must get an answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send(method.clone(), path, Some(token), body.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"))
    }

    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        let (actual, value) = self.call(method.clone(), path, token, body).await;
        assert_eq!(actual, status, "{method} {path}: {value}");
        value
    }

    pub async fn create_tenant(&self, plan: &str, balance_cents: i64) -> Tenant {
        let body = json!({
            "name": format!("Fault {plan}"), "email": "ops@fault.test",
            "plan": plan, "balance_cents": balance_cents,
        });
        let created = self
            .expect(
                Method::POST,
                "/admin/tenants",
                &self.admin_token,
                Some(body),
                StatusCode::CREATED,
            )
            .await;
        Tenant {
            id: created["tenant"]["id"].as_str().expect("tenant id").into(),
            key: created["secret_key"].as_str().expect("secret key").into(),
        }
    }

    /// A `support.ticket_created` endpoint pointing at `url`; returns its id.
    pub async fn add_webhook(&self, tenant: &Tenant, url: &str) -> String {
        let body =
            json!({"url": url, "events": ["support.ticket_created"], "description": "faults"});
        let created = self
            .expect(
                Method::POST,
                "/v1/webhooks",
                &tenant.key,
                Some(body),
                StatusCode::CREATED,
            )
            .await;
        created["id"].as_str().expect("endpoint id").into()
    }

    /// `POST /v1/support/tickets`; the raw outcome.
    pub async fn try_create_ticket(
        &self,
        tenant: &Tenant,
        subject: &str,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        self.send(
            Method::POST,
            "/v1/support/tickets",
            Some(&tenant.key),
            Some(&ticket_body(subject)),
        )
        .await
    }

    /// Creates a ticket that must succeed; returns its id.
    pub async fn create_ticket(&self, tenant: &Tenant, subject: &str) -> String {
        let (status, body) = self
            .try_create_ticket(tenant, subject)
            .await
            .expect("create ticket");
        assert_eq!(status, StatusCode::OK, "create ticket: {body}");
        ticket_id(&body)
    }

    pub async fn balance(&self, tenant: &Tenant) -> i64 {
        self.expect(
            Method::GET,
            "/v1/billing/balance",
            &tenant.key,
            None,
            StatusCode::OK,
        )
        .await["balance_cents"]
            .as_i64()
            .expect("balance_cents")
    }

    /// Every row of a cursor-paginated list (`data` + `next_cursor`), 200 at a time.
    pub async fn walk(&self, path: &str, tenant: &Tenant) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                None => format!("{path}?limit=200"),
                Some(c) => format!("{path}?limit=200&cursor={c}"),
            };
            let body = self
                .expect(Method::GET, &page, &tenant.key, None, StatusCode::OK)
                .await;
            rows.extend(body["data"].as_array().expect("data").iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return rows,
            }
        }
    }

    pub async fn ticket_ids(&self, tenant: &Tenant) -> HashSet<String> {
        self.walk("/v1/support/tickets", tenant)
            .await
            .iter()
            .map(|t| t["id"].as_str().expect("ticket id").to_string())
            .collect()
    }

    /// Asserts docs/API.md §4: the balance equals the sum of the ledger, and there is exactly one
    /// fee per saved ticket (no double charge, no ticket without its charge).
    pub async fn assert_books_balance(&self, tenant: &Tenant, start_cents: i64, fee: i64) {
        let balance = self.balance(tenant).await;
        let ledger = self.walk("/v1/billing/ledger", tenant).await;
        let sum: i64 = ledger
            .iter()
            .map(|e| e["amount_cents"].as_i64().expect("amount_cents"))
            .sum();
        assert_eq!(balance, sum, "balance equals the sum of the ledger");
        let fees: Vec<&Value> = ledger
            .iter()
            .filter(|e| e["kind"] == "ticket_fee")
            .collect();
        let fee_tickets: HashSet<&str> = fees
            .iter()
            .map(|e| e["ticket_id"].as_str().expect("fee names its ticket"))
            .collect();
        assert_eq!(fee_tickets.len(), fees.len(), "one fee per ticket");
        let tickets = self.ticket_ids(tenant).await;
        let tickets: HashSet<&str> = tickets.iter().map(String::as_str).collect();
        assert_eq!(fee_tickets, tickets, "every saved ticket was charged once");
        assert_eq!(balance, start_cents - fee * tickets.len() as i64);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!(
                "--- last lines of {} ---\n{}",
                self.log.display(),
                tail(&self.log, 30)
            );
        }
        self.kill();
    }
}

pub use crate::support::{eventually, ticket_body};

pub fn ticket_id(created: &Value) -> String {
    created["ticket"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no ticket id in {created}"))
        .to_string()
}

// ---------------------------------------------------------------------------------------
// A private redis-server.

/// `redis-server` on its own port, keeping nothing on disk. Stopped on drop.
pub struct PrivateRedis {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts it on the same port, empty.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is already running");
        let log = File::create(self.dir.path().join("redis.log")).expect("log");
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        kill_with_parent(&mut command);
        self.child = Some(command.spawn().expect("redis-server must be installed"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ping() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills it (SIGKILL): everything it held is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn ping(&self) -> bool {
        let Ok(mut conn) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
        let mut answer = [0u8; 7];
        conn.write_all(b"PING\r\n").is_ok()
            && conn.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// A private PostgreSQL cluster.

/// A throwaway PostgreSQL cluster (`initdb` into a temp dir, its own port, trust auth),
/// stopped on drop. Run as the `postgres` user when the test runs as root (initdb refuses
/// root).
pub struct PrivatePostgres {
    pub port: u16,
    bin: PathBuf,
    dir: TempDir,
    owner: Option<(u32, u32)>,
    running: bool,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`, else `pg_config --bindir`.
fn postgres_bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return bin;
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("PostgreSQL server binaries (initdb, pg_ctl) must be installed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// uid and gid of `name` from /etc/passwd.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name) && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

impl PrivatePostgres {
    pub fn init() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // SAFETY: geteuid has no preconditions.
        let owner = if unsafe { libc::geteuid() } == 0 {
            let ids = user_ids("postgres").expect("running as root needs a `postgres` user");
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1)).expect("chown");
            Some(ids)
        } else {
            None
        };
        let pg = Self {
            port: free_port(),
            bin: postgres_bin_dir(),
            dir,
            owner,
            running: false,
        };
        let out = pg
            .command("initdb")
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .arg("-D")
            .arg(pg.data())
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(self.dir.path()).stdin(Stdio::null());
        if let Some((uid, gid)) = self.owner {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(gid);
        }
        command
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn start(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("postgres.log"))
            .args(["-o", &options, "-w", "-t", "30", "start"])
            .output()
            .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            tail(&self.dir.path().join("postgres.log"), 20)
        );
        self.running = true;
    }

    /// `pg_ctl stop -m immediate`: every connection is cut at once, as in a crash.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .output();
        self.running = false;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `check`, which lists what is still missing, until the list is empty; returns how
/// long that took. After `limit` it fails, naming what was still missing.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let started = Instant::now();
    loop {
        let missing = check().await;
        if missing.is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}; still missing {}: {}",
            missing.len(),
            missing
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
        sleep(Duration::from_millis(100)).await;
    }
}
