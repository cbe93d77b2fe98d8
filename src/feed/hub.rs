//! One reader per node follows the feed table and hands each new event to the open streams
//! that may see it: a stream never queries the database for live events. Positions are read
//! in order, so `head` (the last position handed out) splits every stream's history into
//! "read from the table" (up to `head` when it subscribed) and "handed out live" (after).
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use bytes::Bytes;
use entities::{api_keys, feed_events, staff, web_sessions};
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use tokio::sync::{Notify, mpsc, watch};
use uuid::Uuid;

use super::FeedError;
use super::end::EndReads;
use super::mailbox::{self, Refused};
use super::store::{self, FeedEnd, Scope};

/// Events waiting for one stream; a reader that falls further behind is cut off (it resumes
/// with `Last-Event-ID`) rather than buffered without bound.
const STREAM_BUFFER: u32 = 256;
/// Rows read per query while catching up.
const READ_BATCH: u64 = 500;
/// How often open streams' keys are checked for revocation (a stream ends within 5 s).
const REVOCATION_SWEEP: Duration = Duration::from_secs(2);
/// How often each stream gets a keep-alive comment. Proxies close a silent stream after
/// 15 s or so; and a write is the only way the server learns that a client left (the second
/// write after the close fails), which frees the tenant's place within two heartbeats.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A worker's fan-out sends the keep-alives of one slice of its streams per tick, so that
/// thousands of streams opened together do not all write in the same millisecond.
const HEARTBEAT_SLICES: u64 = 10;
/// Streams opened or closed before the allocator's free pages are given back (once a second
/// passed without any): a burst of subscribers leaves the pages its requests used free but
/// mapped between the streams' long-lived buffers.
const TRIM_AFTER_CHURN: usize = 1_000;
const TRIM_QUIET: Duration = Duration::from_secs(1);
/// How long a pass waits for the workers to hand its frames to their streams before the
/// reader reads on (only a stuck worker thread takes this long).
const PASS_WAIT: Duration = Duration::from_secs(1);
/// Ids per `IN (…)` of the revocation check.
const REVOCATION_CHUNK: usize = 500;
/// Reads without a wake-up: SQLite has no cross-process notification, so its reader polls
/// (an indexed probe past the head) between the wake-ups of this node's create rounds; on
/// PostgreSQL `NOTIFY` wakes it and this is a fallback.
const SQLITE_POLL: Duration = Duration::from_millis(50);
const POSTGRES_POLL: Duration = Duration::from_secs(1);
/// The channel the feed table's trigger notifies at every commit that added events.
const NOTIFY_CHANNEL: &str = "helpline_feed";

/// Wakes the node's feed reader: rung when this node committed events (SQLite creates, see
/// `tenants::commits`) or when PostgreSQL notifies a commit on any node. Without a ring the
/// reader polls ([`SQLITE_POLL`], [`POSTGRES_POLL`]).
#[derive(Clone, Default)]
pub struct FeedWake(Arc<Notify>);

impl FeedWake {
    /// Events were committed: the reader reads now (or right after its current pass).
    pub fn committed(&self) {
        self.0.notify_one();
    }

    /// Waits for a ring (one that came while nobody waited counts).
    pub async fn notified(&self) {
        self.0.notified().await;
    }
}

/// An event as the streams send it: formatted once, shared by every stream.
#[derive(Debug)]
pub struct Frame {
    pub seq: i64,
    pub tenant_id: Uuid,
    pub internal: bool,
    pub bytes: Bytes,
}

impl Frame {
    pub fn of(row: &feed_events::Model) -> Self {
        Self {
            seq: row.seq,
            tenant_id: row.tenant_id,
            internal: row.internal,
            bytes: super::stream::event_frame(row.seq, &row.kind, &row.payload),
        }
    }
}

/// What a stream's channel carries.
#[derive(Debug, Clone)]
pub enum Push {
    Event(Arc<Frame>),
    /// Time for a keep-alive comment (from the worker's shared tick, not a timer per stream).
    KeepAlive,
}

/// The credential that holds a stream open; a revoked one ends the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    Key(Uuid),
    Staff(Uuid),
    /// `HELPLINE_ADMIN_TOKEN`, which only configuration revokes.
    Bootstrap,
    /// A browser session (the Support tab's), which signing out or expiry ends.
    Session(Uuid),
}

struct Sub {
    id: u64,
    scope: Scope,
    holder: Holder,
    tx: mailbox::Sender,
}

impl Sub {
    /// Hands a frame over; `false` when the stream is gone or too far behind.
    fn offer(&self, frame: &Arc<Frame>) -> bool {
        match self.tx.try_send(Push::Event(frame.clone())) {
            Ok(()) => true,
            Err(Refused::Full) => {
                tracing::info!(stream = self.id, "feed stream fell behind; cut off");
                false
            }
            Err(Refused::Closed) => false,
        }
    }

    /// Asks for a keep-alive; `false` when the stream is gone. A stream with a full buffer
    /// has writes pending anyway and is not cut off for a keep-alive.
    fn keep_alive(&self) -> bool {
        self.tx.try_send(Push::KeepAlive) != Err(Refused::Closed)
    }
}

/// The tenant whose list a stream of `scope` is in; operator streams are in one list.
fn tenant_list(scope: Scope) -> Option<Uuid> {
    match scope {
        Scope {
            tenant_id: Some(tenant_id),
            internal: false,
        } => Some(tenant_id),
        _ => None,
    }
}

/// What the hub tells a thread's fan-out, in the order it happened.
enum Order {
    Add(Sub),
    Remove {
        id: u64,
        tenant: Option<Uuid>,
    },
    /// A pass's frames; the fan-out drops `done` once its streams have taken them.
    Frames {
        frames: Arc<[Arc<Frame>]>,
        done: mpsc::Sender<()>,
    },
    Revoked(Arc<HashSet<Holder>>),
}

/// The streams opened on one thread, fed by a task on that thread: the hub wakes it once per
/// pass and it wakes its streams. Waking a task from another thread costs a system call (the
/// worker's event loop is woken through an eventfd); waking one on the same thread does not.
#[derive(Default)]
struct Local {
    /// Tenant streams by tenant: an event is offered only to its tenant's streams.
    tenants: HashMap<Uuid, Vec<Sub>>,
    operators: Vec<Sub>,
}

impl Local {
    fn add(&mut self, sub: Sub) {
        match tenant_list(sub.scope) {
            Some(tenant_id) => self.tenants.entry(tenant_id).or_default().push(sub),
            None => self.operators.push(sub),
        }
    }

    fn remove(&mut self, id: u64, tenant: Option<Uuid>) {
        match tenant {
            Some(tenant_id) => self.forget(tenant_id, |s| s.id == id),
            None => self.operators.retain(|s| s.id != id),
        }
    }

    fn revoke(&mut self, revoked: &HashSet<Holder>) {
        for streams in self.tenants.values_mut() {
            streams.retain(|s| !revoked.contains(&s.holder));
        }
        self.tenants.retain(|_, streams| !streams.is_empty());
        self.operators.retain(|s| !revoked.contains(&s.holder));
    }

    /// Drops the tenant's streams that match `gone` (and the tenant's list once empty).
    fn forget(&mut self, tenant_id: Uuid, gone: impl Fn(&Sub) -> bool) {
        if let Some(streams) = self.tenants.get_mut(&tenant_id) {
            streams.retain(|s| !gone(s));
            if streams.is_empty() {
                self.tenants.remove(&tenant_id);
            }
        }
    }

    /// Offers a pass's frames to the streams whose scope sees them, each stream its frames
    /// in order, forgetting those that ended or fell behind. It wakes `chunk` streams at a
    /// time and then yields until they have run (they are queued ahead of it on the
    /// worker's `LocalSet`), so a request that became readable meanwhile waits behind one
    /// chunk of stream writes rather than the whole pass. It returns once every stream it
    /// woke has run.
    async fn pass(&mut self, frames: &[Arc<Frame>], chunk: usize) {
        let mut woken = 0;
        let mut woke = || {
            woken += 1;
            woken % chunk == 0
        };
        let mut by_tenant: HashMap<Uuid, Vec<&Arc<Frame>>> = HashMap::new();
        for frame in frames.iter().filter(|f| !f.internal) {
            by_tenant.entry(frame.tenant_id).or_default().push(frame);
        }
        for (tenant_id, seen) in by_tenant {
            let mut gone = HashSet::new();
            for sub in self.tenants.get(&tenant_id).into_iter().flatten() {
                if !seen.iter().all(|f| sub.offer(f)) {
                    gone.insert(sub.id);
                }
                if woke() {
                    tokio::task::yield_now().await;
                }
            }
            if !gone.is_empty() {
                self.forget(tenant_id, |s| gone.contains(&s.id));
            }
        }
        let mut gone = HashSet::new();
        for sub in &self.operators {
            let sees = |f: &Arc<Frame>| sub.scope.sees(f.tenant_id, f.internal);
            if !frames.iter().any(sees) {
                continue;
            }
            if !frames.iter().filter(|f| sees(f)).all(|f| sub.offer(f)) {
                gone.insert(sub.id);
            }
            if woke() {
                tokio::task::yield_now().await;
            }
        }
        if !gone.is_empty() {
            self.operators.retain(|s| !gone.contains(&s.id));
        }
        // The last chunk's streams are queued ahead of this task: once it runs again they
        // have written their frames.
        tokio::task::yield_now().await;
    }

    /// Asks one slice of the streams (by id) for a keep-alive, forgetting those that ended.
    fn keep_alive(&mut self, slice: u64) {
        let due = |s: &Sub| s.id % HEARTBEAT_SLICES != slice || s.keep_alive();
        for streams in self.tenants.values_mut() {
            streams.retain(due);
        }
        self.tenants.retain(|_, streams| !streams.is_empty());
        self.operators.retain(due);
    }
}

/// Streams a fan-out wakes before it lets the worker run them (see [`Local::pass`]).
const WAKE_CHUNK: usize = 256;

/// Starts a thread's fan-out. On an actix-web worker the connections are tasks of the
/// thread's `LocalSet`, which runs its tasks first in, first out; the fan-out joins them
/// there, so that the streams a pass woke have all written when it runs again and reports
/// the pass done. On the runtime's own queue it would run again after a few dozen of them
/// (the `LocalSet` runs 61 tasks per turn) and report the pass done while most still wait.
fn spawn_fan_out(orders: mpsc::UnboundedReceiver<Order>) {
    if actix_rt::Arbiter::try_current().is_some() {
        tokio::task::spawn_local(fan_out(orders));
    } else {
        tokio::spawn(fan_out(orders));
    }
}

/// A thread's fan-out; it ends (and so do its streams) when the hub drops its sender. It
/// also ticks the keep-alives of its streams: one timer per worker instead of one per stream.
async fn fan_out(mut orders: mpsc::UnboundedReceiver<Order>) {
    let mut local = Local::default();
    let tick = HEARTBEAT / HEARTBEAT_SLICES as u32;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut slice = 0;
    loop {
        tokio::select! {
            order = orders.recv() => match order {
                Some(Order::Frames { frames, done }) => {
                    local.pass(&frames, WAKE_CHUNK).await;
                    drop(done);
                }
                Some(Order::Add(sub)) => local.add(sub),
                Some(Order::Remove { id, tenant }) => local.remove(id, tenant),
                Some(Order::Revoked(revoked)) => local.revoke(&revoked),
                None => return,
            },
            _ = beat.tick() => {
                local.keep_alive(slice);
                slice = (slice + 1) % HEARTBEAT_SLICES;
            }
        }
    }
}

#[derive(Default)]
struct Subscribers {
    head: i64,
    next_id: u64,
    /// Open tenant streams by tenant (the per-tenant limit) and open operator streams.
    tenants: HashMap<Uuid, usize>,
    operators: usize,
    /// Open streams by credential, for the revocation sweep.
    holders: HashMap<Holder, usize>,
    /// One fan-out per thread that opened streams (an actix-web worker).
    threads: HashMap<ThreadId, mpsc::UnboundedSender<Order>>,
    /// Streams opened or closed since the last trim, and when the last one did.
    churn: usize,
    churned_at: Option<Instant>,
}

impl Subscribers {
    fn churned(&mut self) {
        self.churn += 1;
        self.churned_at = Some(Instant::now());
    }

    /// Whether many streams came or went and then none for a while (then counts afresh).
    fn trim_due(&mut self) -> bool {
        let quiet = self.churned_at.is_some_and(|at| at.elapsed() >= TRIM_QUIET);
        let due = self.churn >= TRIM_AFTER_CHURN && quiet;
        if due {
            self.churn = 0;
        }
        due
    }

    /// Sends `order` to every thread's fan-out (via `make`), forgetting those that ended.
    fn tell_all(&mut self, make: impl Fn() -> Order) {
        self.threads.retain(|_, tx| tx.send(make()).is_ok());
    }
}

pub struct Hub {
    db: DatabaseConnection,
    /// Open streams a tenant may hold on this node.
    per_tenant: usize,
    ends: Arc<EndReads>,
    subs: Mutex<Subscribers>,
    wake: FeedWake,
    closed: watch::Sender<bool>,
}

/// A stream's registration: live frames after the head it subscribed at. Dropping it
/// unregisters.
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    tenant: Option<Uuid>,
    holder: Holder,
    thread: ThreadId,
    pub frames: mailbox::Receiver,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subs = self.hub.lock();
        match self.tenant {
            Some(tenant_id) => {
                if let Some(open) = subs.tenants.get_mut(&tenant_id) {
                    *open = open.saturating_sub(1);
                    if *open == 0 {
                        subs.tenants.remove(&tenant_id);
                    }
                }
            }
            None => subs.operators = subs.operators.saturating_sub(1),
        }
        if let Some(open) = subs.holders.get_mut(&self.holder) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                subs.holders.remove(&self.holder);
            }
        }
        subs.churned();
        let remove = Order::Remove {
            id: self.id,
            tenant: self.tenant,
        };
        if let Some(tx) = subs.threads.get(&self.thread)
            && tx.send(remove).is_err()
        {
            subs.threads.remove(&self.thread);
        }
    }
}

impl Hub {
    /// Starts following the feed from its current end; `wake` makes it read at once.
    pub async fn start(
        db: DatabaseConnection,
        database_url: &str,
        per_tenant: usize,
        wake: FeedWake,
    ) -> Result<Arc<Self>, DbErr> {
        let head = store::last_seq(&db).await?;
        let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
        let hub = Arc::new(Self {
            ends: EndReads::of(db.clone()),
            db,
            per_tenant,
            subs: Mutex::new(Subscribers {
                head,
                ..Default::default()
            }),
            wake,
            closed: watch::channel(false).0,
        });
        let poll = if postgres { POSTGRES_POLL } else { SQLITE_POLL };
        tokio::spawn(hub.clone().follow(poll));
        tokio::spawn(hub.clone().sweep_revocations());
        if postgres {
            tokio::spawn(hub.clone().listen(database_url.to_string()));
        }
        Ok(hub)
    }

    fn lock(&self) -> MutexGuard<'_, Subscribers> {
        self.subs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a stream with the fan-out of the calling thread (started on first use, on
    /// the current Tokio runtime). A tenant stream counts against the per-tenant limit.
    /// Returns the head too: every event up to it is in the table, every later one comes
    /// through the subscription's `frames`.
    pub fn subscribe(
        self: &Arc<Self>,
        scope: Scope,
        holder: Holder,
    ) -> Result<(Subscription, i64), FeedError> {
        let tenant = tenant_list(scope);
        let mut subs = self.lock();
        match tenant {
            Some(tenant_id) => {
                let open = subs.tenants.entry(tenant_id).or_default();
                if *open >= self.per_tenant {
                    return Err(FeedError::TooManyStreams(self.per_tenant));
                }
                *open += 1;
            }
            None => subs.operators += 1,
        }
        *subs.holders.entry(holder).or_default() += 1;
        subs.churned();
        let id = subs.next_id;
        subs.next_id += 1;
        let (tx, frames) = mailbox::mailbox(STREAM_BUFFER);
        let sub = Sub {
            id,
            scope,
            holder,
            tx,
        };
        let thread = std::thread::current().id();
        let order = Order::Add(sub);
        let order = match subs.threads.get(&thread) {
            Some(fan_out) => fan_out.send(order).err().map(|e| e.0),
            None => Some(order),
        };
        if let Some(order) = order {
            // No fan-out on this thread yet (or its runtime ended): start one here.
            let (fan_out_tx, orders) = mpsc::unbounded_channel();
            let _ = fan_out_tx.send(order);
            spawn_fan_out(orders);
            subs.threads.insert(thread, fan_out_tx);
        }
        // The subscription unregisters on drop, taking the lock: build it after this guard.
        let head = subs.head;
        drop(subs);
        let sub = Subscription {
            hub: self.clone(),
            id,
            tenant,
            holder,
            thread,
            frames,
        };
        Ok((sub, head))
    }

    /// Open streams on this node (tenant streams, operator streams).
    pub fn open_streams(&self) -> (usize, usize) {
        let subs = self.lock();
        (subs.tenants.values().sum(), subs.operators)
    }

    /// The feed's end, read once for all the opens waiting for it at the same time.
    pub async fn end(&self) -> Result<FeedEnd, DbErr> {
        self.ends.read().await
    }

    /// Ends every stream and stops following (shutdown).
    pub fn close(&self) {
        self.closed.send_replace(true);
        // Each fan-out ends with its sender, dropping its streams' senders.
        self.lock().threads.clear();
    }

    /// Reads what was committed since the last pass and hands it out, one batch at a time:
    /// the next read waits until the workers have handed the previous batch to their
    /// streams. A busy node so sends more events per write instead of queueing passes.
    async fn catch_up(&self) -> Result<(), DbErr> {
        loop {
            let head = self.lock().head;
            let rows =
                store::rows_after(&self.db, Scope::operator(None), head, None, READ_BATCH).await?;
            let more = rows.len() as u64 == READ_BATCH;
            if let Some(mut done) =
                self.dispatch(rows.iter().map(|r| Arc::new(Frame::of(r))).collect())
            {
                // `None` once every fan-out dropped its sender.
                let _ = tokio::time::timeout(PASS_WAIT, done.recv()).await;
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Hands `frames` to every worker's fan-out; the answer ends when all have passed them
    /// on (`None` when there was nothing to hand out).
    fn dispatch(&self, frames: Vec<Arc<Frame>>) -> Option<mpsc::Receiver<()>> {
        let last = frames.last().map(|f| f.seq)?;
        let frames: Arc<[Arc<Frame>]> = frames.into();
        let (done, passed) = mpsc::channel(1);
        let mut subs = self.lock();
        subs.tell_all(|| Order::Frames {
            frames: frames.clone(),
            done: done.clone(),
        });
        subs.head = last;
        Some(passed)
    }

    /// Reads the feed every `poll` (sooner when woken); a pass that took longer than `poll`
    /// is followed by the next at once.
    async fn follow(self: Arc<Self>, poll: Duration) {
        let mut closed = self.closed.subscribe();
        loop {
            let next = tokio::time::Instant::now() + poll;
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = %e, "could not read the event feed");
            }
            if self.lock().trim_due() {
                tokio::task::spawn_blocking(crate::memory::release_free_memory);
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(next) => {}
                _ = closed.wait_for(|c| *c) => return,
            }
        }
    }

    /// Wakes the reader on every `NOTIFY helpline_feed` (sent at commit by the table's
    /// trigger, on whichever node wrote). A lost connection only delays events until the
    /// fallback poll; it is reopened after a pause.
    async fn listen(self: Arc<Self>, database_url: String) {
        let mut closed = self.closed.subscribe();
        loop {
            tokio::select! {
                e = self.listen_once(&database_url) => {
                    tracing::warn!(error = %e, "lost the feed's LISTEN connection");
                }
                _ = closed.wait_for(|c| *c) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(POSTGRES_POLL) => {}
                _ = closed.wait_for(|c| *c) => return,
            }
        }
    }

    async fn listen_once(&self, database_url: &str) -> sea_orm::sqlx::Error {
        use sea_orm::sqlx::postgres::PgListener;
        let mut listener = match PgListener::connect(database_url).await {
            Ok(listener) => listener,
            Err(e) => return e,
        };
        if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
            return e;
        }
        // Anything committed while nobody listened.
        self.wake.committed();
        loop {
            if let Err(e) = listener.recv().await {
                return e;
            }
            self.wake.committed();
        }
    }

    async fn sweep_revocations(self: Arc<Self>) {
        let mut closed = self.closed.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(REVOCATION_SWEEP) => {}
                _ = closed.wait_for(|c| *c) => return,
            }
            if let Err(e) = self.end_revoked().await {
                tracing::warn!(error = %e, "could not check feed streams for revoked keys");
            }
        }
    }

    /// Ends the streams whose key or operator token was revoked: one query per
    /// [`REVOCATION_CHUNK`] credentials, whatever the number of streams.
    async fn end_revoked(&self) -> Result<(), DbErr> {
        let holders: HashSet<Holder> = self.lock().holders.keys().copied().collect();
        let (mut keys, mut members, mut sessions) = (Vec::new(), Vec::new(), Vec::new());
        for holder in &holders {
            match holder {
                Holder::Key(id) => keys.push(*id),
                Holder::Staff(id) => members.push(*id),
                Holder::Session(id) => sessions.push(*id),
                Holder::Bootstrap => {}
            }
        }
        let mut live: HashSet<Holder> = HashSet::from([Holder::Bootstrap]);
        for chunk in keys.chunks(REVOCATION_CHUNK) {
            let ids: Vec<Uuid> = api_keys::Entity::find()
                .select_only()
                .column(api_keys::Column::Id)
                .filter(api_keys::Column::Id.is_in(chunk.iter().copied()))
                .filter(api_keys::Column::RevokedAt.is_null())
                .into_tuple()
                .all(&self.db)
                .await?;
            live.extend(ids.into_iter().map(Holder::Key));
        }
        for chunk in members.chunks(REVOCATION_CHUNK) {
            let ids: Vec<Uuid> = staff::Entity::find()
                .select_only()
                .column(staff::Column::Id)
                .filter(staff::Column::Id.is_in(chunk.iter().copied()))
                .filter(staff::Column::RevokedAt.is_null())
                .into_tuple()
                .all(&self.db)
                .await?;
            live.extend(ids.into_iter().map(Holder::Staff));
        }
        for chunk in sessions.chunks(REVOCATION_CHUNK) {
            let ids: Vec<Uuid> = web_sessions::Entity::find()
                .select_only()
                .column(web_sessions::Column::Id)
                .filter(web_sessions::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&self.db)
                .await?;
            live.extend(ids.into_iter().map(Holder::Session));
        }
        // Only credentials checked above: a stream opened meanwhile waits for the next sweep.
        let revoked: HashSet<Holder> = holders.difference(&live).copied().collect();
        if revoked.is_empty() {
            return Ok(());
        }
        let revoked = Arc::new(revoked);
        self.lock().tell_all(|| Order::Revoked(revoked.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn hub(per_tenant: usize) -> Arc<Hub> {
        Arc::new(Hub {
            ends: EndReads::of(DatabaseConnection::default()),
            db: DatabaseConnection::default(),
            per_tenant,
            subs: Mutex::default(),
            wake: FeedWake::default(),
            closed: watch::channel(false).0,
        })
    }

    fn frame(seq: i64, tenant_id: Uuid, internal: bool) -> Arc<Frame> {
        Arc::new(Frame {
            seq,
            tenant_id,
            internal,
            bytes: Bytes::from(format!("id: {seq}\n\n")),
        })
    }

    fn seq(push: Push) -> Option<i64> {
        match push {
            Push::Event(frame) => Some(frame.seq),
            Push::KeepAlive => None,
        }
    }

    /// The positions a stream received once its thread's fan-out has run.
    async fn received(sub: &mut Subscription) -> Vec<i64> {
        tokio::task::yield_now().await;
        std::iter::from_fn(|| sub.frames.try_recv())
            .filter_map(seq)
            .collect()
    }

    #[tokio::test]
    async fn each_stream_gets_what_its_scope_sees() {
        let hub = hub(20);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let key = Holder::Key(Uuid::now_v7());
        let mut of_a = hub.subscribe(Scope::tenant(a), key).expect("a").0;
        let mut of_b = hub.subscribe(Scope::tenant(b), key).expect("b").0;
        let mut ops = hub
            .subscribe(Scope::operator(None), Holder::Bootstrap)
            .expect("ops")
            .0;
        let mut ops_b = hub
            .subscribe(Scope::operator(Some(b)), Holder::Bootstrap)
            .expect("ops b")
            .0;
        hub.dispatch(vec![
            frame(1, a, false),
            frame(2, a, true),
            frame(3, b, false),
        ]);
        assert_eq!(received(&mut of_a).await, [1]);
        assert_eq!(received(&mut of_b).await, [3]);
        assert_eq!(received(&mut ops).await, [1, 2, 3]);
        assert_eq!(received(&mut ops_b).await, [3]);
        assert_eq!(hub.lock().head, 3);
        assert_eq!(hub.subscribe(Scope::tenant(a), key).expect("again").1, 3);
    }

    #[tokio::test]
    async fn a_tenant_gets_at_most_its_limit_and_a_closed_stream_frees_its_place() {
        let hub = hub(2);
        let tenant = Uuid::now_v7();
        let key = Holder::Key(Uuid::now_v7());
        let first = hub.subscribe(Scope::tenant(tenant), key).expect("first").0;
        let _second = hub.subscribe(Scope::tenant(tenant), key).expect("second").0;
        assert!(matches!(
            hub.subscribe(Scope::tenant(tenant), key),
            Err(FeedError::TooManyStreams(2))
        ));
        // Operators and other tenants are not counted against it.
        let _operator = hub
            .subscribe(Scope::operator(Some(tenant)), Holder::Bootstrap)
            .expect("operator")
            .0;
        let _other = hub
            .subscribe(Scope::tenant(Uuid::now_v7()), key)
            .expect("another tenant")
            .0;
        drop(first);
        assert_eq!(hub.open_streams(), (2, 1));
        hub.subscribe(Scope::tenant(tenant), key)
            .expect("a freed place");
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_is_cut_off_after_what_it_was_given() {
        let hub = hub(20);
        let tenant = Uuid::now_v7();
        let mut slow = hub
            .subscribe(Scope::tenant(tenant), Holder::Bootstrap)
            .expect("slow")
            .0;
        let frames: Vec<_> = (1..=STREAM_BUFFER as i64 + 1)
            .map(|seq| frame(seq, tenant, false))
            .collect();
        hub.dispatch(frames);
        let mut got = Vec::new();
        while let Some(push) = slow.frames.recv().await {
            got.extend(seq(push));
        }
        assert_eq!(got, (1..=STREAM_BUFFER as i64).collect::<Vec<_>>());
        drop(slow);
        assert_eq!(hub.open_streams(), (0, 0), "unregistered");
    }

    #[tokio::test]
    async fn a_revoked_credential_ends_its_streams_only() {
        let hub = hub(20);
        let tenant = Uuid::now_v7();
        let (revoked, kept) = (Holder::Key(Uuid::now_v7()), Holder::Key(Uuid::now_v7()));
        let mut gone = hub
            .subscribe(Scope::tenant(tenant), revoked)
            .expect("gone")
            .0;
        let mut stays = hub.subscribe(Scope::tenant(tenant), kept).expect("stays").0;
        hub.lock()
            .tell_all(|| Order::Revoked(Arc::new(HashSet::from([revoked]))));
        assert!(gone.frames.recv().await.is_none(), "the stream ended");
        hub.dispatch(vec![frame(1, tenant, false)]);
        assert_eq!(received(&mut stays).await, [1]);
    }

    #[tokio::test]
    async fn the_fan_out_keeps_every_stream_alive_and_waits_for_its_streams() {
        let hub = hub(20);
        let tenant = Uuid::now_v7();
        let mut streams: Vec<_> = (0..HEARTBEAT_SLICES + 1)
            .map(|_| {
                hub.subscribe(Scope::tenant(tenant), Holder::Bootstrap)
                    .expect("subscribe")
                    .0
            })
            .collect();
        let passed = hub.dispatch(vec![frame(1, tenant, false)]);
        let mut passed = passed.expect("something to hand out");
        assert!(passed.recv().await.is_none(), "the pass ends");
        // The fan-out has run: every stream holds the frame without yielding again.
        for stream in &mut streams {
            assert_eq!(stream.frames.try_recv().and_then(seq), Some(1));
        }
        // One shared tick, a slice of the streams at a time: each gets a keep-alive within
        // a heartbeat.
        for stream in &mut streams {
            let push = tokio::time::timeout(HEARTBEAT * 2, stream.frames.recv()).await;
            assert!(matches!(push, Ok(Some(Push::KeepAlive))), "{push:?}");
        }
    }

    /// On an actix-web worker (a `LocalSet`), a pass is done only once every stream it woke
    /// has run: the reader's next read waits for the whole pass.
    #[actix_rt::test]
    async fn a_pass_on_a_worker_is_done_when_every_stream_it_woke_has_run() {
        let hub = hub(1_000);
        let tenant = Uuid::now_v7();
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let streams = 500;
        for _ in 0..streams {
            let mut sub = hub
                .subscribe(Scope::tenant(tenant), Holder::Bootstrap)
                .expect("subscribe")
                .0;
            let ran = ran.clone();
            tokio::task::spawn_local(async move {
                while let Some(push) = sub.frames.recv().await {
                    if matches!(push, Push::Event(_)) {
                        ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
        // Let the fan-out take its streams and the streams wait for frames.
        tokio::task::yield_now().await;
        let mut passed = hub
            .dispatch(vec![frame(1, tenant, false)])
            .expect("something to hand out");
        assert!(passed.recv().await.is_none(), "the pass ends");
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), streams);
    }

    /// A pass wakes its streams a chunk at a time: a task woken during the pass (a request
    /// that became readable) runs after the chunk ahead of it, not after the whole pass;
    /// and the pass still ends only once every stream has its frames, each in order.
    #[actix_rt::test]
    async fn a_pass_lets_a_task_woken_meanwhile_run_between_its_chunks() {
        let hub = hub(10_000);
        let (tenant, other) = (Uuid::now_v7(), Uuid::now_v7());
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let request = Arc::new(Notify::new());
        let streams = WAKE_CHUNK * 3 + 1;
        let mut got = Vec::new();
        for n in 0..streams {
            let scope = match n % 2 {
                0 => Scope::tenant(tenant),
                _ => Scope::operator(Some(tenant)),
            };
            let mut sub = hub
                .subscribe(scope, Holder::Bootstrap)
                .expect("subscribe")
                .0;
            let (ran, request) = (ran.clone(), request.clone());
            got.push(tokio::task::spawn_local(async move {
                let mut seqs = Vec::new();
                while let Some(push) = sub.frames.recv().await {
                    seqs.extend(seq(push));
                    if seqs.len() == 2 && ran.fetch_add(1, Ordering::SeqCst) == 0 {
                        request.notify_one();
                    }
                }
                seqs
            }));
        }
        let ran_before_request = {
            let (ran, request) = (ran.clone(), request.clone());
            tokio::task::spawn_local(async move {
                request.notified().await;
                ran.load(Ordering::SeqCst)
            })
        };
        tokio::task::yield_now().await;
        let frames = vec![
            frame(1, tenant, false),
            frame(2, other, false),
            frame(3, tenant, false),
        ];
        let mut passed = hub.dispatch(frames).expect("something to hand out");
        assert!(passed.recv().await.is_none(), "the pass ends");
        assert_eq!(ran.load(Ordering::SeqCst), streams, "every stream ran");
        let ran_before_request = ran_before_request.await.expect("request");
        assert!(
            ran_before_request <= WAKE_CHUNK,
            "the woken task waited for {ran_before_request} streams"
        );
        hub.close();
        for stream in got {
            assert_eq!(stream.await.expect("stream"), [1, 3]);
        }
    }

    #[test]
    fn memory_is_trimmed_once_after_a_burst_of_streams_settles() {
        let mut subs = Subscribers::default();
        assert!(!subs.trim_due(), "nothing opened");
        for _ in 0..TRIM_AFTER_CHURN {
            subs.churned();
        }
        assert!(!subs.trim_due(), "streams are still coming");
        subs.churned_at = Instant::now().checked_sub(TRIM_QUIET);
        assert!(subs.trim_due());
        assert!(!subs.trim_due(), "once");
        subs.churned();
        subs.churned_at = Instant::now().checked_sub(TRIM_QUIET);
        assert!(!subs.trim_due(), "a few streams are not a burst");
    }

    #[test]
    fn each_thread_gets_its_own_fan_out() {
        let hub = hub(20);
        let tenant = Uuid::now_v7();
        let runtime = || {
            // Timers on: the fan-out ticks the keep-alives.
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime")
        };
        let streams: Vec<_> = (0..2)
            .map(|_| {
                let hub = hub.clone();
                std::thread::spawn(move || {
                    runtime().block_on(async move {
                        let mut sub = hub
                            .subscribe(Scope::tenant(tenant), Holder::Bootstrap)
                            .expect("subscribe")
                            .0;
                        let frame = loop {
                            match sub.frames.recv().await {
                                Some(Push::KeepAlive) => continue,
                                other => break other.and_then(seq),
                            }
                        };
                        (frame, std::thread::current().id())
                    })
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while hub.open_streams().0 < 2 {
            assert!(std::time::Instant::now() < deadline, "streams not open");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(hub.lock().threads.len(), 2);
        hub.dispatch(vec![frame(7, tenant, false)]);
        for stream in streams {
            assert_eq!(stream.join().expect("thread").0, Some(7));
        }
    }
}
