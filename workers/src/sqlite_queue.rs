//! The worker side of the SQLite queue: apalis-sqlite's tables and queries, with fetches
//! paced by us.
//!
//! apalis 1.0 starts a fetch on every wake-up of a worker whose buffer is empty (its poll
//! strategies only arm a timer; they cannot hold a fetch back), and each fetch on sqlx's
//! SQLite driver ends with wake-ups of its own, so an idle worker fetched in a loop (~2,000
//! empty `UPDATE Jobs …` a second for five queues, half a core). [`SqliteQueue`] drives
//! apalis's own `Persisted` state machine over apalis-sqlite's queries, and lets it start a
//! fetch only when its [`Pacer`] says so: at once after a fetch that found tasks; after an
//! empty one, when a task is pushed from this process or after a wait that doubles from
//! 50 ms to 1 s. A wake-up in between only runs the heartbeat and the acks.
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use apalis_core::backend::future::BoxSyncFuture;
use apalis_core::backend::persistence::{
    Persisted, Persistence, State, TaskEvent, TaskPersistLayer,
};
use apalis_core::backend::{Backend, BackendConfig, WireFormatBackend, WorkerFilter};
use apalis_core::task::Task;
use apalis_core::worker::context::WorkerContext;
use apalis_sqlite::{Config, Error, JsonCodec, SqlitePool, SqliteStorage, queries};
use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::Notify;

use crate::jobs::Queue;

/// The first wait after an empty fetch; each further empty fetch doubles it.
const IDLE_FIRST: Duration = Duration::from_millis(50);
/// The longest wait between fetches of an idle worker (a push from this process ends it).
const IDLE_MAX: Duration = Duration::from_secs(1);

/// One signal per queue, raised when tasks were pushed to it from this process.
#[derive(Debug, Default)]
pub struct Pushed {
    email: Arc<Notify>,
    webhook: Arc<Notify>,
    billing: Arc<Notify>,
    privacy: Arc<Notify>,
    sla: Arc<Notify>,
}

impl Pushed {
    pub fn of(&self, queue: Queue) -> &Arc<Notify> {
        match queue {
            Queue::Email => &self.email,
            Queue::Webhook => &self.webhook,
            Queue::Billing => &self.billing,
            Queue::Privacy => &self.privacy,
            Queue::Sla => &self.sla,
        }
    }
}

/// When a worker may start its next fetch.
struct Pacer {
    pushed: Arc<Notify>,
    /// The wait after the next empty fetch.
    next_wait: Duration,
    /// Armed after an empty fetch: ends after a wait or when a task is pushed.
    wait: Option<BoxSyncFuture<()>>,
}

impl Pacer {
    fn new(pushed: Arc<Notify>) -> Self {
        Self {
            pushed,
            next_wait: IDLE_FIRST,
            wait: None,
        }
    }

    /// Ready when a fetch may start; otherwise the waker is woken when one may.
    fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(wait) = &mut self.wait {
            ready!(wait.poll_unpin(cx));
            self.wait = None;
        }
        Poll::Ready(())
    }

    fn found_tasks(&mut self) {
        self.next_wait = IDLE_FIRST;
    }

    fn found_nothing(&mut self) {
        let wait = self.next_wait;
        self.next_wait = (wait * 2).min(IDLE_MAX);
        // `notify_one` leaves a permit when nobody waits, so a push during a fetch still
        // ends the next wait at once.
        let pushed = self.pushed.clone();
        self.wait = Some(BoxSyncFuture::new(
            async move {
                let _ = tokio::time::timeout(wait, pushed.notified()).await;
            }
            .boxed(),
        ));
    }
}

/// apalis-sqlite's persistence (the same queries and transactions), plus a count of the
/// fetches issued.
#[derive(Debug, Clone)]
struct Store {
    pool: SqlitePool,
    config: Config,
    pushed: Arc<Notify>,
    fetches: Arc<AtomicU64>,
}

impl Persistence for Store {
    type Compact = Vec<u8>;
    type Response = Value;
    type Error = Error;

    async fn register(&mut self, worker: &WorkerContext) -> Result<(), Error> {
        let dead_for = i64::try_from(self.config.heartbeat_interval.as_secs()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        queries::reenqueue_orphaned(
            &mut *tx,
            dead_for,
            self.config.queue.as_ref(),
            &WorkerFilter::Only(worker.name().to_owned()),
        )
        .await?;
        queries::register_worker(&mut *tx, &self.config, worker, "SqliteStorage").await?;
        tx.commit().await?;
        Ok(())
    }

    async fn heartbeat(&mut self, worker: &WorkerContext) -> Result<(), Error> {
        let dead_for = i64::try_from(self.config.orphaned_duration().as_secs()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        queries::keep_alive(&mut *tx, &self.config, worker).await?;
        let requeued = queries::reenqueue_orphaned(
            &mut *tx,
            dead_for,
            self.config.queue.as_ref(),
            &WorkerFilter::AllExcept(worker.name().to_owned()),
        )
        .await?;
        tx.commit().await?;
        if requeued > 0 {
            // A dead worker's tasks are waiting again: fetch them now, not after the wait.
            self.pushed.notify_one();
        }
        Ok(())
    }

    async fn fetch_next(&mut self, worker: &WorkerContext) -> Result<Vec<Task<Vec<u8>>>, Error> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let mut tx = self.pool.begin().await?;
        let tasks = queries::fetch_next(&mut *tx, &self.config, worker).await?;
        tx.commit().await?;
        Ok(tasks)
    }

    async fn reenqueue_abandoned(
        &mut self,
        tasks: Vec<Task<Vec<u8>>>,
        worker: &WorkerContext,
    ) -> Result<u64, Error> {
        let ids = tasks
            .iter()
            .filter_map(|task| task.task_id().map(ToString::to_string))
            .collect::<Vec<_>>();
        let mut tx = self.pool.begin().await?;
        let count =
            queries::reenqueue_abandoned(&mut *tx, self.config.queue.as_ref(), worker.name(), &ids)
                .await?;
        if usize::try_from(count).ok() != Some(tasks.len()) {
            return Err(Error::ReenqueueMismatch {
                queued: tasks.len(),
                abandoned: usize::try_from(count).unwrap_or(usize::MAX),
            });
        }
        tx.commit().await?;
        Ok(count)
    }

    async fn handle_events(
        &mut self,
        events: Vec<TaskEvent<Value>>,
        worker: &WorkerContext,
    ) -> Result<(), Error> {
        let mut locks = Vec::new();
        let mut acks = Vec::new();
        for event in &events {
            match event {
                TaskEvent::Lock { task_id, .. } => locks.push(task_id.to_string()),
                TaskEvent::Complete(result) => acks.push(result),
                _ => {}
            }
        }
        if locks.is_empty() && acks.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        if !locks.is_empty() {
            queries::lock_tasks(&mut *tx, &locks, worker.name()).await?;
        }
        if !acks.is_empty() {
            queries::ack_tasks(&mut *tx, &acks, worker.name()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn push_tasks(&mut self, tasks: Vec<Task<Vec<u8>>>) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        queries::push_tasks(&mut *tx, self.config.queue.as_ref(), &tasks).await?;
        tx.commit().await?;
        self.pushed.notify_one();
        Ok(())
    }
}

/// A worker's backend on the SQLite queue: apalis-sqlite's storage, fetching when the
/// [`Pacer`] allows. Pushing goes through `SqliteStorage`, then raises [`Pushed`].
#[derive(Debug)]
pub struct SqliteQueue<Args> {
    persisted: Persisted<Store>,
    pacer: Pacer,
    codec: JsonCodec<Vec<u8>>,
    args: PhantomData<fn() -> Args>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("next_wait", &self.next_wait)
            .field("waiting", &self.wait.is_some())
            .finish()
    }
}

impl<Args> Clone for SqliteQueue<Args> {
    /// A fresh worker's backend (apalis's state starts over) on the same store and signal.
    fn clone(&self) -> Self {
        Self {
            persisted: self.persisted.clone(),
            pacer: Pacer::new(self.pacer.pushed.clone()),
            codec: JsonCodec::default(),
            args: PhantomData,
        }
    }
}

impl<Args> SqliteQueue<Args> {
    /// `pushed` is the signal this process raises after pushing to `config`'s queue.
    pub fn new(pool: &SqlitePool, config: Config, pushed: Arc<Notify>) -> Self {
        Self {
            persisted: Persisted::new(Store {
                pool: pool.clone(),
                config,
                pushed: pushed.clone(),
                fetches: Arc::default(),
            }),
            pacer: Pacer::new(pushed),
            codec: JsonCodec::default(),
            args: PhantomData,
        }
    }

    /// Fetch statements issued so far by the workers of this backend and its clones.
    pub fn fetches(&self) -> u64 {
        self.persisted.fetches.load(Ordering::Relaxed)
    }
}

impl<Args> Backend for SqliteQueue<Args> {
    type Task = Task<Vec<u8>>;
    type Error = Error;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        let heartbeat = self.persisted.config.heartbeat_interval;
        self.persisted.poll_ready(cx, worker, heartbeat)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Error>>> {
        loop {
            // `Ready` is the one state in which apalis starts a fetch when polled.
            if matches!(self.persisted.state(), State::Ready) {
                ready!(self.pacer.poll_due(cx));
            }
            match self.persisted.poll_next(cx, worker) {
                Poll::Ready(next) => {
                    if matches!(next, Some(Ok(_))) {
                        self.pacer.found_tasks();
                    }
                    return Poll::Ready(next);
                }
                // Back in `Ready` while pending: the fetch just finished empty.
                Poll::Pending if matches!(self.persisted.state(), State::Ready) => {
                    self.pacer.found_nothing();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        self.persisted.poll_close(cx, worker)
    }
}

impl<Args> BackendConfig for SqliteQueue<Args> {
    type Args = Args;
    type Id = <SqliteStorage<Args> as BackendConfig>::Id;
    type Kind = <SqliteStorage<Args> as BackendConfig>::Kind;
    type Config = Config;
    type Layer = TaskPersistLayer<JsonCodec<Value>, Value>;

    fn config(&self) -> &Config {
        &self.persisted.config
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Self::Layer {
        let config = self.persisted.config.clone();
        self.persisted
            .layer(JsonCodec::default(), config.batch_size)
            .persist_results(config.persist_results)
            .lock_tasks(config.lock_tasks)
    }
}

impl<Args> WireFormatBackend for SqliteQueue<Args> {
    type Codec = JsonCodec<Vec<u8>>;
    type Compact = Vec<u8>;

    fn codec(&self) -> &Self::Codec {
        &self.codec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// How long the pacer holds the next fetch back after an empty one. The worker is only
    /// polled again when woken, so this waits on the waker the pacer registered (a pacer
    /// that registers none fails the timeout).
    async fn wait_after_empty_fetch(pacer: &mut Pacer) -> Duration {
        pacer.found_nothing();
        let start = Instant::now();
        tokio::time::timeout(
            Duration::from_secs(5),
            std::future::poll_fn(|cx| pacer.poll_due(cx)),
        )
        .await
        .expect("the pacer wakes its worker");
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_queue_is_fetched_less_and_less_often_until_a_push() {
        let pushed = Arc::new(Notify::new());
        let mut pacer = Pacer::new(pushed.clone());
        let waker = std::task::Waker::noop();
        assert!(pacer.poll_due(&mut Context::from_waker(waker)).is_ready());

        let mut waits = vec![];
        for _ in 0..7 {
            waits.push(wait_after_empty_fetch(&mut pacer).await.as_millis());
        }
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000]);

        // A push ends the wait at once, also one raised before the wait began (during the
        // fetch that came back empty).
        tokio::spawn({
            let pushed = pushed.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                pushed.notify_one();
            }
        });
        assert_eq!(wait_after_empty_fetch(&mut pacer).await.as_millis(), 30);
        pushed.notify_one();
        assert_eq!(wait_after_empty_fetch(&mut pacer).await.as_millis(), 0);

        // Work found: back to the shortest wait.
        pacer.found_tasks();
        assert_eq!(wait_after_empty_fetch(&mut pacer).await.as_millis(), 50);
    }
}
