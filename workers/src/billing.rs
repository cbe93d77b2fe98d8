//! The billing-charge job: settles one ledger entry (`pending` → `settled`), reporting it to
//! `HELPLINE_BILLING_URL` first when that is set, with `Idempotency-Key` = the entry id so the
//! billing side applies it once even if we report twice.
use apalis::prelude::{BoxDynError, Data};
use chrono::Utc;
use entities::values::{ChargeStatus, LedgerKind, LedgerStatus};
use entities::{ledger_entries as ledger, tickets};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait, QueryFilter, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::batch::Batcher;
use crate::deps::{BILLING_ATTEMPTS, Deps, backoff};
use crate::jobs::{BillingJob, Job};
use crate::outbox;

pub async fn job(job: BillingJob, deps: Data<Deps>) -> Result<(), BoxDynError> {
    run(&deps, job.entry_id).await.map_err(Into::into)
}

/// The public id of a ledger entry, also its `Idempotency-Key`.
pub fn entry_id(id: Uuid) -> String {
    format!("led_{}", id.simple())
}

/// Entries settled in one transaction at most.
const BATCH: usize = 128;

/// Settles the entries of the billing handlers running at the same time together.
pub type Settlements = Batcher<Uuid, ()>;

/// Starts the settlement batch task; call inside a tokio runtime.
pub fn settlements(db: &DatabaseConnection) -> Settlements {
    let db = db.clone();
    Batcher::spawn(BATCH, move |ids| settle(db.clone(), ids))
}

pub async fn run(deps: &Deps, entry_id: Uuid) -> Result<(), DbErr> {
    if let Some(url) = &deps.settings.billing_url {
        let Some(entry) = ledger::Entity::find_by_id(entry_id).one(&deps.db).await? else {
            return Ok(());
        };
        if entry.status != LedgerStatus::Pending {
            return Ok(());
        }
        if let Err(error) = report(deps, url, &entry).await {
            return retry_later(deps, &entry, entry.settle_attempts + 1, error).await;
        }
    }
    // Settling is conditional on `pending`: a missing or already settled entry is left alone.
    Ok(deps.settlements.submit(entry_id).await?)
}

/// Reports the entry to the billing endpoint; `Err` says why it was not accepted.
async fn report(deps: &Deps, url: &str, entry: &ledger::Model) -> Result<(), String> {
    let report = json!({
        "id": entry_id(entry.id),
        "tenant_id": entry.tenant_id,
        "kind": entry.kind,
        "amount_cents": entry.amount_cents,
        "currency": "usd",
        "ticket_id": entry.ticket_id.map(|t| format!("tkt_{}", t.simple())),
        "created_at": entry.created_at,
    });
    let sent = deps
        .http
        .post(url)
        .header("Idempotency-Key", entry_id(entry.id))
        .json(&report)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("billing endpoint answered {}", r.status().as_u16())),
        Err(e) => Err(format!("billing endpoint unreachable: {e}")),
    }
}

/// Settles the pending entries among `ids`, and the ticket fees among them on their
/// tickets, in one transaction.
async fn settle(db: DatabaseConnection, ids: Vec<Uuid>) -> Result<Vec<()>, DbErr> {
    let now = Utc::now();
    let txn = db.begin().await?;
    let settled = ledger::Entity::update_many()
        .col_expr(ledger::Column::Status, Expr::value(LedgerStatus::Settled))
        .col_expr(ledger::Column::SettledAt, Expr::value(now))
        .col_expr(
            ledger::Column::SettleAttempts,
            Expr::col(ledger::Column::SettleAttempts).add(1),
        )
        .col_expr(
            ledger::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(ledger::Column::Id.is_in(ids.iter().copied()))
        .filter(ledger::Column::Status.eq(LedgerStatus::Pending))
        .exec_with_returning(&txn)
        .await?;
    let tickets: Vec<Uuid> = settled
        .iter()
        .filter(|entry| entry.kind == LedgerKind::TicketFee)
        .filter_map(|entry| entry.ticket_id)
        .collect();
    if !tickets.is_empty() {
        tickets::Entity::update_many()
            .col_expr(
                tickets::Column::ChargeStatus,
                Expr::value(ChargeStatus::Settled),
            )
            .filter(tickets::Column::Id.is_in(tickets))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(vec![(); ids.len()])
}

async fn retry_later(
    deps: &Deps,
    entry: &ledger::Model,
    attempt: i32,
    error: String,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let txn = deps.db.begin().await?;
    let failed_for_good = attempt >= BILLING_ATTEMPTS;
    let delay = backoff(deps.settings.billing_backoff, attempt);
    let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
    ledger::Entity::update_many()
        .col_expr(ledger::Column::SettleAttempts, Expr::value(attempt))
        .col_expr(ledger::Column::NextAttemptAt, Expr::value(at))
        .col_expr(ledger::Column::LastError, Expr::value(error))
        .col_expr(
            ledger::Column::Status,
            Expr::value(if failed_for_good {
                LedgerStatus::Failed
            } else {
                LedgerStatus::Pending
            }),
        )
        .filter(ledger::Column::Id.eq(entry.id))
        .exec(&txn)
        .await?;
    if !failed_for_good {
        outbox::enqueue(
            &txn,
            Job::Billing(BillingJob { entry_id: entry.id }),
            at,
            now,
        )
        .await?;
    }
    txn.commit().await?;
    deps.nudge.nudge();
    Ok(())
}

#[allow(unused_imports)]
use ExprTrait as _;
