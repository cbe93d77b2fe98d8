//! Balance changes. Every change of a tenant's balance is one ledger entry written in the
//! same transaction, so the balance always equals the sum of the ledger.
use chrono::{DateTime, Utc};
use entities::ledger_entries;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, IntoActiveModel, QueryFilter,
    QuerySelect,
};
use sea_orm::{ColumnTrait, sea_query::Expr};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::ids::LedgerId;
use entities::tenants;
use workers::jobs::{BillingJob, Job};

pub use entities::values::LedgerKind;
use entities::values::LedgerStatus;

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
            kind: m.kind.to_string(),
            amount_cents: m.amount_cents,
            balance_after_cents: m.balance_after_cents,
            ticket_id: m
                .ticket_id
                .map(|t| crate::domain::ids::TicketId::from_uuid(t).to_string()),
            note: m.note,
            status: m.status.to_string(),
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
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the balance cannot cover the change")]
    InsufficientBalance,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Applies `change` to the tenant's balance and records it. The update is conditional
/// (`balance + amount >= 0`), so the database refuses an overdraft even when several nodes
/// race; the caller's transaction makes balance and ledger move together.
pub async fn apply<C: ConnectionTrait>(
    txn: &C,
    change: Change,
    now: DateTime<Utc>,
) -> Result<ledger_entries::Model, ApplyError> {
    let Some(tenant) = adjust_balance(txn, change.tenant_id, change.amount_cents, now).await?
    else {
        return Err(ApplyError::InsufficientBalance);
    };
    let entry = entry(change, tenant.balance_cents, now);
    record(txn, vec![entry.clone()], now).await?;
    Ok(entry)
}

/// What the fees of a batch of new tickets came to.
pub struct Fees {
    /// The tenant after the debit.
    pub tenant: tenants::Model,
    /// One entry per ticket paid for, in order; tickets past the end were not paid for.
    pub entries: Vec<ledger_entries::Model>,
}

/// Charges `fee` for each of `ticket_ids`, in order, for as many as the balance covers, with
/// one conditional update. `None` when the tenant does not exist.
pub async fn charge_fees<C: ConnectionTrait>(
    txn: &C,
    tenant_id: Uuid,
    fee: i64,
    ticket_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Option<Fees>, DbErr> {
    let wanted = i64::try_from(ticket_ids.len()).unwrap_or(i64::MAX);
    let mut paid = wanted;
    let mut tenant = adjust_balance(txn, tenant_id, -fee.saturating_mul(paid), now).await?;
    if tenant.is_none() {
        // Not enough for all of them: lock the row, so the count we compute still holds
        // when we take it (SQLite's write transaction already holds the database).
        let Some(locked) = tenants::Entity::find_by_id(tenant_id)
            .lock_exclusive()
            .one(txn)
            .await?
        else {
            return Ok(None);
        };
        paid = (locked.balance_cents / Ord::max(fee, 1)).clamp(0, wanted);
        tenant = if paid == 0 {
            Some(locked)
        } else {
            adjust_balance(txn, tenant_id, -fee * paid, now).await?
        };
    }
    let Some(tenant) = tenant else {
        return Err(DbErr::Custom("the balance changed under a row lock".into()));
    };
    let opening = tenant.balance_cents + fee * paid;
    let entries: Vec<ledger_entries::Model> = ticket_ids
        .iter()
        .take(usize::try_from(paid).unwrap_or(0))
        .zip(1..)
        .map(|(&ticket_id, n)| {
            let change = Change {
                tenant_id,
                kind: LedgerKind::TicketFee,
                amount_cents: -fee,
                ticket_id: Some(ticket_id),
                note: None,
            };
            entry(change, opening - fee * n, now)
        })
        .collect();
    record(txn, entries.clone(), now).await?;
    Ok(Some(Fees { tenant, entries }))
}

/// Adds `delta` to the balance unless that would take it below zero; the tenant after the
/// change, or `None` when it was refused (or the tenant does not exist).
async fn adjust_balance<C: ConnectionTrait>(
    txn: &C,
    tenant_id: Uuid,
    delta: i64,
    now: DateTime<Utc>,
) -> Result<Option<tenants::Model>, DbErr> {
    let update = tenants::Entity::update_many()
        .col_expr(
            tenants::Column::BalanceCents,
            Expr::col(tenants::Column::BalanceCents).add(delta),
        )
        .col_expr(tenants::Column::UpdatedAt, Expr::value(now))
        .filter(tenants::Column::Id.eq(tenant_id))
        .filter(tenants::Column::BalanceCents.gte(-delta));
    // One round trip where the database can return the new row (PostgreSQL, SQLite
    // >= 3.35); otherwise update, then read it back (docs/PERFORMANCE.md).
    if txn.support_returning() {
        return Ok(update.exec_with_returning(txn).await?.into_iter().next());
    }
    if update.exec(txn).await?.rows_affected != 1 {
        return Ok(None);
    }
    tenants::Entity::find_by_id(tenant_id).one(txn).await
}

fn entry(change: Change, balance_after: i64, now: DateTime<Utc>) -> ledger_entries::Model {
    let now = crate::db::as_stored(now);
    ledger_entries::Model {
        id: LedgerId::new().uuid(),
        tenant_id: change.tenant_id,
        kind: change.kind,
        amount_cents: change.amount_cents,
        balance_after_cents: balance_after,
        ticket_id: change.ticket_id,
        note: change.note,
        status: LedgerStatus::Pending,
        settle_attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        settled_at: None,
    }
}

/// Stores the entries, each with the billing job that settles it.
async fn record<C: ConnectionTrait>(
    txn: &C,
    entries: Vec<ledger_entries::Model>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if entries.is_empty() {
        return Ok(());
    }
    let jobs: Vec<(Job, DateTime<Utc>)> = entries
        .iter()
        .map(|e| (Job::Billing(BillingJob { entry_id: e.id }), now))
        .collect();
    ledger_entries::Entity::insert_many(
        entries
            .into_iter()
            .map(|e| e.into_active_model().reset_all()),
    )
    .exec_without_returning(txn)
    .await?;
    workers::outbox::enqueue_many(txn, jobs, now).await
}

/// One page of the tenant's ledger, newest first; `after` continues a keyset walk.
pub async fn page(
    db: &sea_orm::DatabaseConnection,
    tenant_id: Uuid,
    page: crate::pagination::Page,
    after: Option<Uuid>,
) -> Result<crate::pagination::Listed<ledger_entries::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let base =
        ledger_entries::Entity::find().filter(ledger_entries::Column::TenantId.eq(tenant_id));
    let (total, total_is_exact) =
        crate::pagination::capped_count(db, base.clone(), crate::pagination::COUNT_CAP).await?;
    let query = base.order_by_desc(ledger_entries::Column::Id);
    let query = match after {
        Some(after) => query.filter(ledger_entries::Column::Id.lt(after)),
        None => query.offset(page.offset),
    };
    let rows = query.limit(page.limit + 1).all(db).await?;
    let (rows, next_cursor) = crate::pagination::keyset_page(rows, page, |e| e.id);
    Ok(crate::pagination::Listed {
        rows,
        total,
        total_is_exact,
        next_cursor,
    })
}
