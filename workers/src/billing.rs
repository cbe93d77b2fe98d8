//! The billing-charge job: settles one ledger entry (`pending` → `settled`), reporting it to
//! `HELPLINE_BILLING_URL` first when that is set, with `Idempotency-Key` = the entry id so the
//! billing side applies it once even if we report twice.
use apalis::prelude::{BoxDynError, Data};
use chrono::Utc;
use entities::{ledger_entries as ledger, tickets};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

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

pub async fn run(deps: &Deps, entry_id: Uuid) -> Result<(), DbErr> {
    let Some(entry) = ledger::Entity::find_by_id(entry_id).one(&deps.db).await? else {
        return Ok(());
    };
    if entry.status != "pending" {
        return Ok(());
    }
    let attempt = entry.settle_attempts + 1;
    if let Some(url) = &deps.settings.billing_url {
        let report = json!({
            "id": self::entry_id(entry.id),
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
            .header("Idempotency-Key", self::entry_id(entry.id))
            .json(&report)
            .send()
            .await;
        let failure = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("billing endpoint answered {}", r.status().as_u16())),
            Err(e) => Some(format!("billing endpoint unreachable: {e}")),
        };
        if let Some(error) = failure {
            return retry_later(deps, &entry, attempt, error).await;
        }
    }
    let now = Utc::now();
    let txn = deps.db.begin().await?;
    let settled = ledger::Entity::update_many()
        .col_expr(ledger::Column::Status, Expr::value("settled"))
        .col_expr(ledger::Column::SettledAt, Expr::value(now))
        .col_expr(ledger::Column::SettleAttempts, Expr::value(attempt))
        .col_expr(
            ledger::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(ledger::Column::Id.eq(entry.id))
        .filter(ledger::Column::Status.eq("pending"))
        .exec(&txn)
        .await?;
    if settled.rows_affected == 1
        && let Some(ticket_id) = entry.ticket_id
        && entry.kind == "ticket_fee"
    {
        tickets::Entity::update_many()
            .col_expr(tickets::Column::ChargeStatus, Expr::value("settled"))
            .filter(tickets::Column::Id.eq(ticket_id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await
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
            Expr::value(if failed_for_good { "failed" } else { "pending" }),
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
