//! One actor per tenant: every mutation of the tenant's tickets and balance runs here, one
//! at a time, each in its own transaction. Handlers that await the database return
//! `AtomicResponse` so the next message waits (a `ResponseActFuture` would interleave them
//! across awaits and lose updates).
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use entities::{ledger_entries, tickets};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::registry::Registry;
use crate::config::Config;
use crate::error::ApiError;
use crate::ledger::{self, ApplyError, Change, LedgerKind};
use crate::tickets::ops::{self, Created, NewMessage, NewTicket, Replied, TicketChange};
use workers::outbox::Nudge;

pub struct TenantActor {
    pub tenant_id: Uuid,
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub registry: Weak<Registry>,
    /// Wakes the outbox relay after a commit that queued jobs.
    pub nudge: Nudge,
    pub idle_after: Duration,
    pub last_active: Instant,
}

type Reply<T> = AtomicResponse<TenantActor, Result<T, ApiError>>;

impl TenantActor {
    /// Runs one mutation to completion before the mailbox yields the next message.
    fn serialized<T: 'static>(
        &mut self,
        work: impl Future<Output = Result<T, ApiError>> + 'static,
    ) -> Reply<T> {
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
        if let Some(registry) = self.registry.upgrade() {
            registry.remove(self.tenant_id, &ctx.address());
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
    type Result = Result<ledger_entries::Model, ApiError>;
}

impl Handler<Credit> for TenantActor {
    type Result = Reply<ledger_entries::Model>;

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
            let entry = ledger::apply(&txn, change, Utc::now())
                .await
                .map_err(|e| match e {
                    ApplyError::Db(e) => ApiError::from(e),
                    ApplyError::InsufficientBalance => ApiError::internal("credit refused"),
                })?;
            txn.commit().await?;
            Ok(entry)
        })
    }
}

/// Opens a ticket and charges its fee.
#[derive(Clone)]
pub struct CreateTicket(pub NewTicket);

impl Message for CreateTicket {
    type Result = Result<Created, ApiError>;
}

impl Handler<CreateTicket> for TenantActor {
    type Result = Reply<Created>;

    fn handle(&mut self, msg: CreateTicket, _: &mut Context<Self>) -> Self::Result {
        let (db, config, tenant_id) = (self.db.clone(), self.config.clone(), self.tenant_id);
        self.serialized(
            async move { ops::create(&db, &config, tenant_id, msg.0, Utc::now()).await },
        )
    }
}

/// Adds a message to a ticket of this tenant.
#[derive(Clone)]
pub struct AddMessage(pub NewMessage);

impl Message for AddMessage {
    type Result = Result<Replied, ApiError>;
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
    type Result = Result<tickets::Model, ApiError>;
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
    type Result = Result<(tickets::Model, ledger_entries::Model), ApiError>;
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
