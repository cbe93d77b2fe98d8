//! One actor per tenant: every mutation of the tenant's tickets and balance runs here, one
//! at a time, each in its own transaction. Handlers that await the database return
//! `AtomicResponse` so the next message waits (a `ResponseActFuture` would interleave them
//! across awaits and lose updates).
use std::sync::Weak;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use entities::ledger_entries;
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::registry::Registry;
use crate::error::ApiError;
use crate::ledger::{self, ApplyError, Change, LedgerKind};

pub struct TenantActor {
    pub tenant_id: Uuid,
    pub db: DatabaseConnection,
    pub registry: Weak<Registry>,
    pub idle_after: Duration,
    pub last_active: Instant,
}

impl TenantActor {
    fn touch(&mut self) {
        self.last_active = Instant::now();
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
    type Result = AtomicResponse<Self, Result<ledger_entries::Model, ApiError>>;

    fn handle(&mut self, msg: Credit, _: &mut Context<Self>) -> Self::Result {
        self.touch();
        let db = self.db.clone();
        let change = Change {
            tenant_id: self.tenant_id,
            kind: LedgerKind::TopUp,
            amount_cents: msg.amount_cents,
            ticket_id: None,
            note: msg.note,
        };
        AtomicResponse::new(Box::pin(
            async move {
                let txn = db.begin().await?;
                let entry = ledger::apply(&txn, change, Utc::now())
                    .await
                    .map_err(|e| match e {
                        ApplyError::Db(e) => ApiError::from(e),
                        ApplyError::InsufficientBalance => ApiError::internal("credit refused"),
                    })?;
                txn.commit().await?;
                Ok(entry)
            }
            .into_actor(self),
        ))
    }
}
