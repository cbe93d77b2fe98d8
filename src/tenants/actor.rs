//! One actor per tenant: every mutation of the tenant's tickets and balance runs here, one
//! at a time, each in its own transaction. Handlers that await the database return
//! `AtomicResponse` so the next message waits (a `ResponseActFuture` would interleave them
//! across awaits and lose updates).
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use entities::{ledger_entries, tickets};
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::billing::ledger::{self, ApplyError, Change, LedgerKind};
use crate::config::Config;
use crate::metrics::{CreateStage, observe_create_stage};
use crate::tenants::commits::{CreateCommits, Slot};
use crate::tickets::error::TicketError;
use crate::tickets::merge::{self, Merge, Merged};
use crate::tickets::ops::{self, Created, NewMessage, NewTicket, Replied, TicketChange};
use workers::outbox::Nudge;

/// What an actor reports to whoever started it; the registry implements it, so the actor
/// does not depend on the registry.
pub trait ActorHost: Send + Sync {
    /// The actor `addr` of `tenant_id` stopped (idle).
    fn stopped(&self, tenant_id: Uuid, addr: &Addr<TenantActor>);
    /// One create transaction ran, carrying `creates` tickets.
    fn created_batch(&self, creates: usize);
}

pub struct TenantActor {
    pub tenant_id: Uuid,
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    /// Whoever started the actor (the registry), told when it stops and what it batched.
    pub host: Weak<dyn ActorHost>,
    /// How batches of creates are written (in rounds with other tenants' on SQLite).
    pub commits: CreateCommits,
    /// Wakes the outbox relay after a commit that queued jobs.
    pub nudge: Nudge,
    pub idle_after: Duration,
    pub last_active: Instant,
    /// Creates waiting for the next `FlushCreates`, in arrival order.
    pub queued_creates: VecDeque<QueuedCreate>,
    pub flush_scheduled: bool,
}

/// A create waiting for its batch: when the actor took it, and where its answer goes.
pub struct QueuedCreate {
    new: NewTicket,
    taken: Instant,
    answer: oneshot::Sender<Answered<Result<Created, TicketError>>>,
}

/// An answer and when it was given (the caller times how long it took to run again).
pub struct Answered<T> {
    pub value: T,
    pub at: Instant,
}

type Reply<T, E = TicketError> = AtomicResponse<TenantActor, Result<T, E>>;

impl TenantActor {
    /// Runs one mutation to completion before the mailbox yields the next message.
    fn serialized<T: 'static, E: 'static>(
        &mut self,
        work: impl Future<Output = Result<T, E>> + 'static,
    ) -> Reply<T, E> {
        self.last_active = Instant::now();
        let nudge = self.nudge.clone();
        let work = async move {
            let result = work.await;
            if result.is_ok() {
                nudge.nudge();
            }
            result
        };
        AtomicResponse::new(Box::pin(work.into_actor(self)))
    }
}

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let check_every = (self.idle_after / 2).max(Duration::from_millis(100));
        ctx.run_interval(check_every, |actor, ctx| {
            if actor.last_active.elapsed() >= actor.idle_after {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        if let Some(host) = self.host.upgrade() {
            host.stopped(self.tenant_id, &ctx.address());
        }
    }
}

/// Adds credit to the balance (an operator's top-up): one `top_up` ledger entry.
#[derive(Clone)]
pub struct Credit {
    pub amount_cents: i64,
    pub note: Option<String>,
}

impl Message for Credit {
    type Result = Result<ledger_entries::Model, ApplyError>;
}

impl Handler<Credit> for TenantActor {
    type Result = Reply<ledger_entries::Model, ApplyError>;

    fn handle(&mut self, msg: Credit, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let change = Change {
            tenant_id: self.tenant_id,
            kind: LedgerKind::TopUp,
            amount_cents: msg.amount_cents,
            ticket_id: None,
            note: msg.note,
        };
        self.serialized(async move {
            let txn = crate::db::begin_write(&db).await?;
            let entry = ledger::apply(&txn, change, Utc::now()).await?;
            txn.commit().await?;
            Ok(entry)
        })
    }
}

/// Opens a ticket and charges its fee. Creates are not run one at a time: each waits in the
/// actor's queue, and one `FlushCreates` opens everything that queued up meanwhile in a
/// single transaction (group commit; docs/PERFORMANCE.md). The order of creates is kept.
/// A ticket to create, and when its sender sent it.
#[derive(Clone)]
pub struct CreateTicket {
    pub new: NewTicket,
    pub sent: Instant,
}

impl Message for CreateTicket {
    type Result = Answered<Result<Created, TicketError>>;
}

impl Handler<CreateTicket> for TenantActor {
    type Result = ResponseFuture<Answered<Result<Created, TicketError>>>;

    fn handle(&mut self, msg: CreateTicket, ctx: &mut Context<Self>) -> Self::Result {
        let taken = Instant::now();
        observe_create_stage(
            CreateStage::Mailbox,
            taken.saturating_duration_since(msg.sent),
        );
        self.last_active = taken;
        let (answer, rx) = oneshot::channel();
        self.queued_creates.push_back(QueuedCreate {
            new: msg.new,
            taken,
            answer,
        });
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            ctx.notify(FlushCreates);
        }
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| Answered {
                value: Err(TicketError::TenantBusy),
                at: Instant::now(),
            })
        })
    }
}

const MAX_CREATE_BATCH: usize = 64;

/// Opens the queued creates (see `CreateTicket`).
struct FlushCreates;

impl Message for FlushCreates {
    type Result = ();
}

impl Handler<FlushCreates> for TenantActor {
    type Result = ResponseActFuture<Self, ()>;

    /// Waits for the batch's place in a round without blocking the mailbox, so that the
    /// creates that arrive meanwhile join the batch; the batch itself then runs alone, like
    /// every other write of this actor (`ctx.wait`).
    fn handle(&mut self, _: FlushCreates, _: &mut Context<Self>) -> Self::Result {
        let commits = self.commits.clone();
        let waiting = Instant::now();
        let turn = async move { commits.turn().await };
        Box::pin(turn.into_actor(self).map(move |slot, actor, ctx| {
            observe_create_stage(CreateStage::Turn, waiting.elapsed());
            let batch = actor.write_batch(slot, ctx);
            ctx.wait(batch);
        }))
    }
}

impl TenantActor {
    /// Writes the oldest waiting creates (at most [`MAX_CREATE_BATCH`]) in one transaction
    /// (`slot`'s round's, or its own without one), and answers each.
    fn write_batch(
        &mut self,
        slot: Option<Slot>,
        ctx: &mut Context<Self>,
    ) -> impl ActorFuture<Self, Output = ()> + 'static {
        let take = self.queued_creates.len().min(MAX_CREATE_BATCH);
        let started = Instant::now();
        let (batch, waiters): (Vec<NewTicket>, Vec<_>) = self
            .queued_creates
            .drain(..take)
            .map(|queued| {
                let waited = started.saturating_duration_since(queued.taken);
                observe_create_stage(CreateStage::Batch, waited);
                (queued.new, queued.answer)
            })
            .unzip();
        if let Some(host) = self.host.upgrade() {
            host.created_batch(batch.len());
        }
        self.flush_scheduled = !self.queued_creates.is_empty();
        if self.flush_scheduled {
            ctx.notify(FlushCreates);
        }
        let (db, config, tenant_id) = (self.db.clone(), self.config.clone(), self.tenant_id);
        let nudge = self.nudge.clone();
        let work = async move {
            let batch = match slot {
                // An empty batch gives its place up (the round does not wait for it).
                _ if batch.is_empty() => Ok(Vec::new()),
                Some(slot) => slot.write(tenant_id, batch).await,
                None => ops::create_batch(&db, &config, tenant_id, batch, Utc::now()).await,
            };
            match batch {
                Ok(results) => {
                    nudge.nudge();
                    let at = Instant::now();
                    for (waiter, value) in waiters.into_iter().zip(results) {
                        let _ = waiter.send(Answered { value, at });
                    }
                }
                Err(e) => {
                    let at = Instant::now();
                    for waiter in waiters {
                        let value = Err(e.clone());
                        let _ = waiter.send(Answered { value, at });
                    }
                }
            }
        };
        work.into_actor(self)
    }
}

/// Adds a message to a ticket of this tenant.
#[derive(Clone)]
pub struct AddMessage(pub NewMessage);

impl Message for AddMessage {
    type Result = Result<Replied, TicketError>;
}

impl Handler<AddMessage> for TenantActor {
    type Result = Reply<Replied>;

    fn handle(&mut self, m: AddMessage, _: &mut Context<Self>) -> Self::Result {
        let (db, config, tenant_id) = (self.db.clone(), self.config.clone(), self.tenant_id);
        self.serialized(async move { ops::reply(&db, &config, tenant_id, m.0, Utc::now()).await })
    }
}

/// Changes a ticket's status and/or priority.
#[derive(Clone)]
pub struct UpdateTicket(pub TicketChange);

impl Message for UpdateTicket {
    type Result = Result<tickets::Model, TicketError>;
}

impl Handler<UpdateTicket> for TenantActor {
    type Result = Reply<tickets::Model>;

    fn handle(&mut self, m: UpdateTicket, _: &mut Context<Self>) -> Self::Result {
        let (db, config, tenant_id) = (self.db.clone(), self.config.clone(), self.tenant_id);
        self.serialized(async move { ops::update(&db, &config, tenant_id, m.0, Utc::now()).await })
    }
}

/// Credits the bounty of a confirmed bug report.
#[derive(Clone)]
pub struct AwardBounty {
    pub ticket_id: Uuid,
    pub operator: String,
}

impl Message for AwardBounty {
    type Result = Result<(tickets::Model, ledger_entries::Model), TicketError>;
}

impl Handler<AwardBounty> for TenantActor {
    type Result = Reply<(tickets::Model, ledger_entries::Model)>;

    fn handle(&mut self, m: AwardBounty, _: &mut Context<Self>) -> Self::Result {
        let (db, config, tenant_id) = (self.db.clone(), self.config.clone(), self.tenant_id);
        self.serialized(async move {
            let amount = config.bounty_cents;
            ops::award_bounty(
                &db,
                &config,
                tenant_id,
                m.ticket_id,
                m.operator,
                amount,
                Utc::now(),
            )
            .await
        })
    }
}

/// Fires one SLA alert of a ticket of this tenant, if it still applies (see `crate::sla`).
#[derive(Clone)]
pub struct FireSla(pub workers::jobs::SlaJob);

impl Message for FireSla {
    type Result = Result<Vec<workers::jobs::SlaAlert>, sea_orm::DbErr>;
}

impl Handler<FireSla> for TenantActor {
    type Result = Reply<Vec<workers::jobs::SlaAlert>, sea_orm::DbErr>;

    fn handle(&mut self, m: FireSla, _: &mut Context<Self>) -> Self::Result {
        let (db, config) = (self.db.clone(), self.config.clone());
        self.serialized(async move { crate::sla::fire(&db, &config, m.0, Utc::now()).await })
    }
}

/// Merges a ticket of this tenant into another of its tickets.
#[derive(Clone)]
pub struct MergeTickets(pub Merge);

impl Message for MergeTickets {
    type Result = Result<Merged, TicketError>;
}

impl Handler<MergeTickets> for TenantActor {
    type Result = Reply<Merged>;

    fn handle(&mut self, m: MergeTickets, _: &mut Context<Self>) -> Self::Result {
        let (db, config, tenant_id) = (self.db.clone(), self.config.clone(), self.tenant_id);
        self.serialized(async move { merge::merge(&db, &config, tenant_id, m.0, Utc::now()).await })
    }
}
