//! Lazily started tenant actors. An actor stops after an idle period and removes itself;
//! the next message for that tenant starts a fresh one. Actors live on a small pool of
//! dedicated arbiters, so any thread (HTTP worker, job, test) can reach them.
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use dashmap::DashMap;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::actor::{ActorHost, CreateTicket, TenantActor};
use super::commits::CreateCommits;
use crate::config::Config;
use crate::feed::hub::FeedWake;
use crate::metrics::{CreateStage, observe_create_stage};
use crate::tickets::error::TicketError;
use crate::tickets::ops::{Created, NewTicket};
use workers::outbox::Nudge;

/// The tenant's actor did not take the message (it stopped twice, or its mailbox timed out).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the tenant is busy")]
pub struct TenantBusy;

pub struct Registry {
    actors: DashMap<Uuid, Addr<TenantActor>>,
    arbiters: Vec<ArbiterHandle>,
    hasher: RandomState,
    db: DatabaseConnection,
    config: Arc<Config>,
    nudge: Nudge,
    idle_after: Duration,
    me: Weak<Registry>,
    /// How batches of creates are written (in rounds on SQLite; see [`CreateCommits`]).
    commits: CreateCommits,
    /// Create transactions run, and the creates they carried (for `/metrics`).
    create_batches: AtomicU64,
    creates_batched: AtomicU64,
}

impl Registry {
    pub fn new(
        db: DatabaseConnection,
        config: Arc<Config>,
        nudge: Nudge,
        feed: FeedWake,
        arbiters: usize,
    ) -> Arc<Self> {
        let arbiters: Vec<ArbiterHandle> = (0..arbiters.max(1))
            .map(|_| Arbiter::new().handle())
            .collect();
        let commits = CreateCommits::for_backend(&db, &config, &arbiters[0], feed);
        Arc::new_cyclic(|me| Self {
            actors: DashMap::new(),
            arbiters,
            hasher: RandomState::new(),
            commits,
            db,
            idle_after: config.actor_idle,
            config,
            nudge,
            me: me.clone(),
            create_batches: AtomicU64::new(0),
            creates_batched: AtomicU64::new(0),
        })
    }

    /// The tenant's actor, started if it is not running.
    pub fn actor(&self, tenant_id: Uuid) -> Addr<TenantActor> {
        if let Some(addr) = self.actors.get(&tenant_id)
            && addr.connected()
        {
            return addr.clone();
        }
        let mut entry = self
            .actors
            .entry(tenant_id)
            .or_insert_with(|| self.start(tenant_id));
        if !entry.connected() {
            *entry = self.start(tenant_id);
        }
        entry.clone()
    }

    /// Sends `msg` to the tenant's actor, restarting it once if it stopped in between.
    pub async fn send<M>(&self, tenant_id: Uuid, msg: M) -> Result<M::Result, TenantBusy>
    where
        M: Message + Send + Clone + 'static,
        M::Result: Send,
        TenantActor: Handler<M>,
    {
        for _ in 0..2 {
            match self.actor(tenant_id).send(msg.clone()).await {
                Ok(result) => return Ok(result),
                Err(MailboxError::Closed) => self.forget(tenant_id),
                Err(MailboxError::Timeout) => break,
            }
        }
        Err(TenantBusy)
    }

    /// Creates a ticket through the tenant's actor (which batches the creates waiting
    /// together), timing the trip there and back.
    pub async fn create(
        &self,
        tenant_id: Uuid,
        new: NewTicket,
    ) -> Result<Result<Created, TicketError>, TenantBusy> {
        let sent = Instant::now();
        let answered = self.send(tenant_id, CreateTicket { new, sent }).await?;
        let resumed = Instant::now().saturating_duration_since(answered.at);
        observe_create_stage(CreateStage::Reply, resumed);
        Ok(answered.value)
    }

    /// Removes the tenant's actor entry if it is no longer running.
    pub fn forget(&self, tenant_id: Uuid) {
        self.actors
            .remove_if(&tenant_id, |_, addr| !addr.connected());
    }

    pub fn live(&self) -> usize {
        self.actors.len()
    }

    /// Create transactions run so far, and the creates they carried.
    pub fn create_batches(&self) -> (u64, u64) {
        (
            self.create_batches.load(Ordering::Relaxed),
            self.creates_batched.load(Ordering::Relaxed),
        )
    }

    fn start(&self, tenant_id: Uuid) -> Addr<TenantActor> {
        let index = (self.hasher.hash_one(tenant_id) as usize) % self.arbiters.len();
        let db = self.db.clone();
        let config = self.config.clone();
        let nudge = self.nudge.clone();
        let host: Weak<dyn ActorHost> = self.me.clone();
        let idle_after = self.idle_after;
        let commits = self.commits.clone();
        TenantActor::start_in_arbiter(&self.arbiters[index], move |_| TenantActor {
            tenant_id,
            db,
            config,
            nudge,
            host,
            commits,
            idle_after,
            last_active: Instant::now(),
            queued_creates: Default::default(),
            flush_scheduled: false,
        })
    }
}

impl ActorHost for Registry {
    fn stopped(&self, tenant_id: Uuid, addr: &Addr<TenantActor>) {
        self.actors
            .remove_if(&tenant_id, |_, current| current == addr);
    }

    fn created_batch(&self, creates: usize) {
        self.create_batches.fetch_add(1, Ordering::Relaxed);
        self.creates_batched
            .fetch_add(creates as u64, Ordering::Relaxed);
    }
}

impl Drop for Registry {
    /// Stops the actor threads (and with them the actors' database handles).
    fn drop(&mut self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}
