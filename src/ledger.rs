//! Balance changes. Every change of a tenant's balance is one ledger entry written in the
//! same transaction, so the balance always equals the sum of the ledger.
use chrono::{DateTime, Utc};
use entities::ledger_entries;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter};
use sea_orm::{ColumnTrait, sea_query::Expr};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::ids::LedgerId;
use entities::tenants;
use workers::jobs::{BillingJob, Job};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    TicketFee,
    BountyCredit,
    TopUp,
    Refund,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::TicketFee => "ticket_fee",
            LedgerKind::BountyCredit => "bounty_credit",
            LedgerKind::TopUp => "top_up",
            LedgerKind::Refund => "refund",
        }
    }
}

/// One change of the tenant's balance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerEntryOut {
    #[schema(example = "led_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "ledger_entry")]
    pub object: &'static str,
    /// `ticket_fee`, `bounty_credit`, `top_up` or `refund`.
    #[schema(example = "ticket_fee")]
    pub kind: String,
    /// Negative for a debit.
    #[schema(example = -1)]
    pub amount_cents: i64,
    pub balance_after_cents: i64,
    pub ticket_id: Option<String>,
    pub note: Option<String>,
    /// Settlement by the billing job: `pending`, `settled` or `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

impl From<ledger_entries::Model> for LedgerEntryOut {
    fn from(m: ledger_entries::Model) -> Self {
        Self {
            id: LedgerId::from_uuid(m.id).to_string(),
            object: "ledger_entry",
            kind: m.kind,
            amount_cents: m.amount_cents,
            balance_after_cents: m.balance_after_cents,
            ticket_id: m
                .ticket_id
                .map(|t| crate::domain::ids::TicketId::from_uuid(t).to_string()),
            note: m.note,
            status: m.status,
            created_at: m.created_at,
            settled_at: m.settled_at,
        }
    }
}

/// A balance change to apply inside the caller's transaction.
pub struct Change {
    pub tenant_id: Uuid,
    pub kind: LedgerKind,
    pub amount_cents: i64,
    pub ticket_id: Option<Uuid>,
    pub note: Option<String>,
}

/// The balance could not go below zero.
#[derive(Debug)]
pub enum ApplyError {
    InsufficientBalance,
    Db(DbErr),
}

impl From<DbErr> for ApplyError {
    fn from(e: DbErr) -> Self {
        ApplyError::Db(e)
    }
}

/// Applies `change` to the tenant's balance and records it. The update is conditional
/// (`balance + amount >= 0`), so the database refuses an overdraft even when several nodes
/// race; the caller's transaction makes balance and ledger move together.
pub async fn apply<C: ConnectionTrait>(
    txn: &C,
    change: Change,
    now: DateTime<Utc>,
) -> Result<ledger_entries::Model, ApplyError> {
    let update = tenants::Entity::update_many()
        .col_expr(
            tenants::Column::BalanceCents,
            Expr::col(tenants::Column::BalanceCents).add(change.amount_cents),
        )
        .col_expr(tenants::Column::UpdatedAt, Expr::value(now))
        .filter(tenants::Column::Id.eq(change.tenant_id))
        .filter(tenants::Column::BalanceCents.gte(-change.amount_cents));
    // One round trip where the database can return the new balance (PostgreSQL, SQLite
    // >= 3.35); otherwise update, then read it back (docs/PERFORMANCE.md).
    let balance = if txn.support_returning() {
        match update.exec_with_returning(txn).await?.first() {
            Some(tenant) => tenant.balance_cents,
            None => return Err(ApplyError::InsufficientBalance),
        }
    } else {
        if update.exec(txn).await?.rows_affected != 1 {
            return Err(ApplyError::InsufficientBalance);
        }
        tenants::Entity::find_by_id(change.tenant_id)
            .one(txn)
            .await?
            .map(|t| t.balance_cents)
            .ok_or_else(|| DbErr::RecordNotFound("tenant".into()))?
    };
    let entry = ledger_entries::ActiveModel {
        id: Set(LedgerId::new().uuid()),
        tenant_id: Set(change.tenant_id),
        kind: Set(change.kind.as_str().to_string()),
        amount_cents: Set(change.amount_cents),
        balance_after_cents: Set(balance),
        ticket_id: Set(change.ticket_id),
        note: Set(change.note),
        status: Set("pending".to_string()),
        settle_attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        created_at: Set(now),
        settled_at: Set(None),
    };
    let entry = ledger_entries::Entity::insert(entry)
        .exec_with_returning(txn)
        .await?;
    // Every entry is settled by a billing job.
    let job = Job::Billing(BillingJob { entry_id: entry.id });
    workers::outbox::enqueue(txn, job, now, now).await?;
    Ok(entry)
}
