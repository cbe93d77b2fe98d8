//! The apalis queues: Redis when `REDIS_URL` is set, otherwise an embedded SQLite queue.
//! The same jobs and handlers run on both. Retries and delays are not left to apalis (its
//! Redis backend ignores `max_attempts`); jobs reschedule themselves through the outbox.
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::{ConnectionManager, RedisStorage};
use apalis_sqlite::{SqlitePool, SqliteStorage};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::deps::Deps;
use crate::jobs::{BillingJob, EmailJob, Job, PrivacyJob, Queue, SlaJob, WebhookJob};
use crate::poll::SteadyInterval;
use crate::sqlite_queue::{Pushed, SqliteQueue};
use crate::{billing, email, privacy, sla, webhook};
use apalis_core::error::WorkerError;
use tokio::sync::watch;

/// At most this many tasks wait in one Redis queue (see `Transport::room`).
pub const REDIS_QUEUE_CAP: usize = 4_000;

/// How often idle workers look for new tasks on Redis (the SQLite queue paces itself, see
/// `SqliteQueue`).
const POLL: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub enum Transport {
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
    Sqlite {
        pool: SqlitePool,
        prefix: String,
        /// Wakes this process's idle workers of a queue when it pushes to that queue.
        pushed: Arc<Pushed>,
    },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// Counts for one queue as the backend sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BackendCounts {
    pub pending: u64,
    pub running: u64,
}

impl Transport {
    /// Connects lazily with short timeouts: a process starts while Redis is down, and during
    /// an outage pushes fail fast (the outbox keeps the jobs) instead of hanging.
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| e.to_string())?;
        Ok(Transport::Redis {
            conn,
            prefix: prefix.to_string(),
        })
    }

    /// Opens (creating) the SQLite queue file and its tables.
    pub async fn sqlite(url: &str, prefix: &str) -> Result<Self, String> {
        use apalis_sqlite::SqliteConnectOptions;
        use std::str::FromStr;
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| e.to_string())?
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10));
        // Each worker polls, acks and heartbeats on its own connections; a small pool stalls.
        let pool = apalis_sqlite::SqlitePoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await
            .map_err(|e| e.to_string())?;
        SqliteStorage::setup(&pool)
            .await
            .map_err(|e| e.to_string())?;
        // apalis sets synchronous=OFF, which can lose an acknowledged job in a crash.
        sea_orm::sqlx::query("PRAGMA synchronous = NORMAL;")
            .execute(&pool)
            .await
            .map_err(|e| e.to_string())?;
        // apalis's index on `Jobs.lock_by` turns every ack into a scan of all the jobs the
        // worker ever ran: SQLite picks it for the ack's `lock_by = ?` and then, for each of
        // those rows, re-parses the ack batch's JSON (`json_each`) to match ids, so a drain
        // of n jobs costs n² JSON parses (a few thousand jobs drained at ~250 a second).
        // Without it the ack walks its batch and finds each job by id. Nothing we run
        // filters on `lock_by` alone (`sqlite_job_queries_find_jobs_by_id` checks the plans).
        sea_orm::sqlx::query("DROP INDEX IF EXISTS LIdx;")
            .execute(&pool)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Transport::Sqlite {
            pool,
            prefix: prefix.to_string(),
            pushed: Arc::default(),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Redis { .. } => "redis",
            Transport::Sqlite { .. } => "sqlite",
        }
    }

    fn queue_name(&self, queue: Queue) -> String {
        let prefix = match self {
            Transport::Redis { prefix, .. } | Transport::Sqlite { prefix, .. } => prefix,
        };
        format!("{prefix}{}", queue.as_str())
    }

    /// `fetch` is how many tasks a worker takes per poll (pushing ignores it).
    ///
    /// Tasks are not "locked": a fetched task already sits in the worker's in-flight set,
    /// which is what acks and the re-queueing of a dead worker's tasks use. The lock only
    /// marks it `Running` in its metadata, and its `LREM` scans the whole waiting list for
    /// every task (a backlog of thousands made Redis the busiest process of a drain).
    fn redis_storage<T>(
        &self,
        conn: &ConnectionManager,
        queue: Queue,
        fetch: usize,
    ) -> RedisStorage<T> {
        RedisStorage::new(conn.clone()).with_config(
            apalis_redis::Config::default()
                .queue(self.queue_name(queue))
                .batch_size(fetch)
                .lock_tasks(false),
        )
    }

    /// `fetch` as for Redis. A fetched task is already `Queued` under the worker's name,
    /// which is all that re-queueing a dead worker's tasks and the ack need; the lock would
    /// only mark it `Running`, at the price of a write transaction per batch whose
    /// `status IN (…)` filter SQLite serves from the status index, reading every waiting
    /// task of every queue (a backlog of n tasks: n²/batch index reads to drain).
    fn sqlite_config(&self, queue: Queue, fetch: usize) -> apalis_sqlite::Config {
        apalis_sqlite::Config::default()
            .queue(self.queue_name(queue))
            .batch_size(fetch)
            .lock_tasks(false)
    }

    /// A Redis worker's backend: the storage, polled every `POLL`.
    fn redis_worker<T>(
        &self,
        conn: &ConnectionManager,
        queue: Queue,
        fetch: usize,
    ) -> PollWith<RedisStorage<T>, SteadyInterval> {
        self.redis_storage(conn, queue, fetch)
            .poll_with_strategy(SteadyInterval::new(POLL))
    }

    /// A SQLite worker's backend: apalis-sqlite's queries, fetching when there may be work
    /// (see `SqliteQueue`), woken by this process's pushes.
    fn sqlite_worker<T>(
        &self,
        (pool, pushed): (&SqlitePool, &Pushed),
        queue: Queue,
        fetch: usize,
    ) -> SqliteQueue<T> {
        SqliteQueue::new(
            pool,
            self.sqlite_config(queue, fetch),
            pushed.of(queue).clone(),
        )
    }

    /// Pushes jobs of one queue with one backend call: one Lua script on Redis, one
    /// transaction on SQLite.
    async fn push_typed<T>(&self, queue: Queue, jobs: Vec<T>) -> Result<(), String>
    where
        T: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
    {
        if jobs.is_empty() {
            return Ok(());
        }
        match self {
            Transport::Redis { conn, .. } => self
                .redis_storage::<T>(conn, queue, 1)
                .push_bulk(jobs)
                .await
                .map_err(|e| e.to_string()),
            Transport::Sqlite { pool, pushed, .. } => {
                SqliteStorage::<T>::new(pool)
                    .with_config(self.sqlite_config(queue, 1))
                    .push_bulk(jobs)
                    .await
                    .map_err(|e| e.to_string())?;
                pushed.of(queue).notify_one();
                Ok(())
            }
        }
    }

    pub async fn push(&self, job: Job) -> Result<(), String> {
        self.push_all(vec![job]).await
    }

    /// Pushes `jobs` with one backend call per queue among them. Jobs of one queue are
    /// queued all or none; give jobs of a single queue to know exactly which were sent.
    pub async fn push_all(&self, jobs: Vec<Job>) -> Result<(), String> {
        let (mut email, mut webhook, mut billing, mut privacy, mut sla) =
            (vec![], vec![], vec![], vec![], vec![]);
        for job in jobs {
            match job {
                Job::Email(j) => email.push(j),
                Job::Webhook(j) => webhook.push(j),
                Job::Billing(j) => billing.push(j),
                Job::Privacy(j) => privacy.push(j),
                Job::Sla(j) => sla.push(j),
            }
        }
        self.push_typed(Queue::Email, email).await?;
        self.push_typed(Queue::Webhook, webhook).await?;
        self.push_typed(Queue::Billing, billing).await?;
        self.push_typed(Queue::Privacy, privacy).await?;
        self.push_typed(Queue::Sla, sla).await
    }

    /// How many more jobs `queue` may take now; `None` when the backend has no limit.
    ///
    /// apalis-redis 1.0 parks every pushed task in the queue's scheduled set, and its fetch
    /// script promotes *all* due ones with one Lua `unpack`, which fails above ~8,000
    /// values: with a bigger backlog every fetch errors and the queue never moves again. So
    /// the relay keeps each Redis queue below `REDIS_QUEUE_CAP` tasks waiting; the rest
    /// waits in the outbox, which is where a backlog belongs anyway.
    pub async fn room(&self, queue: Queue) -> Result<Option<usize>, String> {
        match self {
            Transport::Redis { .. } => {
                let waiting = self.counts(queue).await?.pending;
                let waiting = usize::try_from(waiting).unwrap_or(usize::MAX);
                Ok(Some(REDIS_QUEUE_CAP.saturating_sub(waiting)))
            }
            Transport::Sqlite { .. } => Ok(None),
        }
    }

    /// True when the queue backend answers.
    pub async fn ping(&self) -> bool {
        match self {
            Transport::Redis { conn, .. } => {
                let mut conn = conn.clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            }
            Transport::Sqlite { pool, .. } => {
                sea_orm::sqlx::query("SELECT 1").execute(pool).await.is_ok()
            }
        }
    }

    /// Pending and running tasks in the backend (read from its own keys and tables, since
    /// apalis-redis's metrics API fails).
    pub async fn counts(&self, queue: Queue) -> Result<BackendCounts, String> {
        let name = self.queue_name(queue);
        match self {
            Transport::Redis { conn, .. } => {
                let mut conn = conn.clone();
                let keys = apalis_redis::Config::default().queue(&name);
                let (active, scheduled): (u64, u64) = redis::pipe()
                    .cmd("LLEN")
                    .arg(keys.active_jobs_list())
                    .cmd("ZCARD")
                    .arg(keys.scheduled_jobs_set())
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                // Tasks a worker holds live in per-worker sets; our own tables count them.
                Ok(BackendCounts {
                    pending: active + scheduled,
                    running: 0,
                })
            }
            Transport::Sqlite { pool, .. } => {
                let rows: Vec<(String, i64)> = sea_orm::sqlx::query_as(
                    "SELECT status, COUNT(*) FROM Jobs WHERE job_type = ?1 GROUP BY status",
                )
                .bind(&name)
                .fetch_all(pool)
                .await
                .map_err(|e| e.to_string())?;
                let count = |status: &str| {
                    rows.iter()
                        .find(|(s, _)| s == status)
                        .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0))
                };
                // `Queued`: fetched by a worker, which runs it (tasks are not locked, so
                // they stay `Queued` until acked).
                Ok(BackendCounts {
                    pending: count("Pending"),
                    running: count("Queued") + count("Running"),
                })
            }
        }
    }

    /// Runs the workers of every queue until `stop` turns true; running jobs finish first.
    pub async fn run_workers(
        self,
        deps: Deps,
        concurrency: Concurrency,
        stop: watch::Receiver<bool>,
    ) {
        macro_rules! supervised {
            ($backend:ident, $conn:expr, $job:ty, $queue:expr, $handler:path) => {{
                let concurrency = concurrency.of($queue);
                // One fetch can fill every free slot.
                let backend = self.$backend::<$job>($conn, $queue, concurrency);
                let deps = deps.clone();
                let name = format!("{}-{}", self.queue_name($queue), std::process::id());
                supervise($queue, stop.clone(), move |run, signal| {
                    WorkerBuilder::new(format!("{name}-{run}"))
                        .backend(backend.clone())
                        .concurrency(concurrency)
                        .data(deps.clone())
                        .build($handler)
                        .run_until(signal)
                })
            }};
        }
        match &self {
            Transport::Redis { conn, .. } => {
                tokio::join!(
                    supervised!(redis_worker, conn, EmailJob, Queue::Email, email::job),
                    supervised!(redis_worker, conn, WebhookJob, Queue::Webhook, webhook::job),
                    supervised!(redis_worker, conn, BillingJob, Queue::Billing, billing::job),
                    supervised!(redis_worker, conn, PrivacyJob, Queue::Privacy, privacy::job),
                    supervised!(redis_worker, conn, SlaJob, Queue::Sla, sla::job),
                );
            }
            Transport::Sqlite { pool, pushed, .. } => {
                let sqlite = (pool, &**pushed);
                tokio::join!(
                    supervised!(sqlite_worker, sqlite, EmailJob, Queue::Email, email::job),
                    supervised!(
                        sqlite_worker,
                        sqlite,
                        WebhookJob,
                        Queue::Webhook,
                        webhook::job
                    ),
                    supervised!(
                        sqlite_worker,
                        sqlite,
                        BillingJob,
                        Queue::Billing,
                        billing::job
                    ),
                    supervised!(
                        sqlite_worker,
                        sqlite,
                        PrivacyJob,
                        Queue::Privacy,
                        privacy::job
                    ),
                    supervised!(sqlite_worker, sqlite, SlaJob, Queue::Sla, sla::job),
                );
            }
        }
    }
}

/// Jobs a worker process runs at once, per queue.
#[derive(Debug, Clone, Copy)]
pub struct Concurrency {
    /// Webhook deliveries mostly wait on receivers, so they get more slots.
    pub webhook: usize,
    pub other: usize,
}

impl Concurrency {
    pub fn of(self, queue: Queue) -> usize {
        match queue {
            Queue::Webhook => self.webhook,
            Queue::Email | Queue::Billing | Queue::Privacy | Queue::Sla => self.other,
        }
    }
}

/// Keeps one queue's worker running until `stop`: a worker whose backend failed (Redis down,
/// a locked queue file) is started again after a pause that grows to 5 s, so an outage costs
/// a retry a few seconds apart rather than a busy loop.
async fn supervise<F, Fut>(queue: Queue, mut stop: watch::Receiver<bool>, mut start: F)
where
    F: FnMut(
        usize,
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), std::io::Error>> + Send>>,
    ) -> Fut,
    Fut: std::future::Future<Output = Result<(), WorkerError>>,
{
    let mut failures = 0usize;
    for run in 0.. {
        if *stop.borrow() {
            return;
        }
        let mut signal_rx = stop.clone();
        let signal = Box::pin(async move {
            let _ = signal_rx.wait_for(|stopped| *stopped).await;
            Ok(())
        });
        match start(run, signal).await {
            Ok(()) => return,
            Err(error) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(30) {
                    tracing::warn!(
                        queue = queue.as_str(),
                        ?error,
                        failures,
                        "job worker stopped; restarting"
                    );
                }
                let pause = Duration::from_millis(200 * failures.min(25) as u64);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    /// The plan SQLite picks for a statement, one line per step. It asks a new connection:
    /// `EXPLAIN QUERY PLAN` does not check the schema version, so a pooled connection that
    /// read the schema before `LIdx` was dropped would still plan with it.
    async fn plan(url: &str, sql: &str) -> String {
        use sea_orm::sqlx::Connection;
        let mut conn = sea_orm::sqlx::SqliteConnection::connect(url).await.unwrap();
        let rows: Vec<(i64, i64, i64, String)> = sea_orm::sqlx::query_as(
            sea_orm::sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")),
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        rows.into_iter()
            .map(|(.., detail)| detail)
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn seen(job: EmailJob, seen: Data<mpsc::UnboundedSender<uuid::Uuid>>) {
        let _ = seen.send(job.email_id);
    }

    /// The SQLite queue's worker on an empty queue: a handful of fetches a second, not the
    /// thousands apalis's own polling sent; a push from this process is picked up at once,
    /// and a batch is drained.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_sqlite_worker_fetches_rarely_and_wakes_on_a_push() {
        let path = std::env::temp_dir().join(format!("queue-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let transport = Transport::sqlite(&url, "").await.unwrap();
        let Transport::Sqlite { pool, pushed, .. } = &transport else {
            unreachable!("a SQLite transport");
        };
        let backend = transport.sqlite_worker::<EmailJob>((pool, pushed), Queue::Email, 4);
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let worker = WorkerBuilder::new("idle-test")
            .backend(backend.clone())
            .concurrency(4)
            .data(seen_tx)
            .build(seen)
            .run_until(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
                Ok::<(), std::io::Error>(())
            });
        let worker = tokio::spawn(worker);

        // Waits of 50, 100, 200, 400 and 800 ms after the first fetch: 6 in 2 s.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = backend.fetches();
        assert!((3..=10).contains(&idle), "{idle} fetches in 2 s idle");

        // Now waiting up to 1 s between fetches; a push ends the wait.
        let email_id = uuid::Uuid::new_v4();
        let pushed_at = std::time::Instant::now();
        transport
            .push(Job::Email(EmailJob { email_id }))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), seen_rx.recv())
            .await
            .unwrap();
        let pickup = pushed_at.elapsed();
        assert_eq!(got, Some(email_id));
        assert!(
            pickup < Duration::from_millis(250),
            "picked up after {pickup:?}"
        );

        let ids: Vec<uuid::Uuid> = (0..50).map(|_| uuid::Uuid::new_v4()).collect();
        transport
            .push_all(
                ids.iter()
                    .map(|&email_id| Job::Email(EmailJob { email_id }))
                    .collect(),
            )
            .await
            .unwrap();
        let mut drained = std::collections::HashSet::new();
        while drained.len() < ids.len() {
            let id = tokio::time::timeout(Duration::from_secs(5), seen_rx.recv())
                .await
                .unwrap()
                .unwrap();
            drained.insert(id);
        }
        assert!(ids.iter().all(|id| drained.contains(id)));

        stop_tx.send(true).unwrap();
        worker.await.unwrap().unwrap();
        // Every task was acked: nothing waits or runs.
        assert_eq!(
            transport.counts(Queue::Email).await.unwrap(),
            BackendCounts::default()
        );
        pool.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test]
    async fn sqlite_job_queries_find_jobs_by_id() {
        let path = std::env::temp_dir().join(format!("queue-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let Transport::Sqlite { pool, .. } = Transport::sqlite(&url, "").await.unwrap() else {
            unreachable!("a SQLite transport");
        };
        // The shape of apalis's ack: a JSON batch of results joined to the worker's jobs.
        let ack = plan(
            &url,
            "WITH j AS (SELECT value ->> 'task_id' AS task_id, value ->> 'status' AS status \
             FROM json_each(?1)) \
             UPDATE Jobs SET status = j.status, done_at = strftime('%s', 'now') FROM j \
             WHERE Jobs.id = j.task_id AND Jobs.lock_by = ?2",
        )
        .await;
        assert!(
            ack.contains("SCAN json_each")
                && ack.contains("SEARCH Jobs USING INDEX sqlite_autoindex_Jobs_1 (id=?)"),
            "{ack}"
        );
        // The counts behind `GET /admin/queues` read an index, not the jobs.
        let counts = plan(
            &url,
            "SELECT status, COUNT(*) FROM Jobs WHERE job_type = ?1 GROUP BY status",
        )
        .await;
        assert!(counts.contains("COVERING INDEX"), "{counts}");
        pool.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
