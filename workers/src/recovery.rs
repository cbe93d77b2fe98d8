//! The safety net under the queues: work that is still `pending` well after it was due, and
//! that no worker holds, is queued again. This covers a job dropped by the queue backend (a
//! worker killed mid-task, a Redis flush) or a worker that could not record its outcome.
//! A re-queued job that also survives elsewhere is harmless: every job claims its row first.
use chrono::{DateTime, Duration, Utc};
use entities::values::{DeliveryStatus, LedgerStatus};
use entities::{emails, ledger_entries as ledger, webhook_deliveries as deliveries};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use crate::jobs::{BillingJob, EmailJob, Job, WebhookJob};
use crate::outbox;

/// Rows handled per sweep and table.
const BATCH: u64 = 500;

/// Re-queues overdue work; returns how many jobs were queued again.
pub async fn sweep(
    db: &DatabaseConnection,
    grace: Duration,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let overdue = now - grace;
    let free = |col: emails::Column| Condition::any().add(col.is_null()).add(col.lt(now));

    let email_ids = emails::Entity::find()
        .select_only()
        .column(emails::Column::Id)
        .filter(emails::Column::Status.eq(DeliveryStatus::Pending))
        .filter(emails::Column::NextAttemptAt.lt(overdue))
        .filter(free(emails::Column::InFlightUntil))
        .limit(BATCH)
        .into_tuple()
        .all(db)
        .await?;
    let delivery_ids = deliveries::Entity::find()
        .select_only()
        .column(deliveries::Column::Id)
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending))
        .filter(deliveries::Column::NextAttemptAt.lt(overdue))
        .filter(
            Condition::any()
                .add(deliveries::Column::InFlightUntil.is_null())
                .add(deliveries::Column::InFlightUntil.lt(now)),
        )
        .limit(BATCH)
        .into_tuple()
        .all(db)
        .await?;
    let entry_ids = ledger::Entity::find()
        .select_only()
        .column(ledger::Column::Id)
        .filter(ledger::Column::Status.eq(LedgerStatus::Pending))
        .filter(ledger::Column::NextAttemptAt.lt(overdue))
        .limit(BATCH)
        .into_tuple()
        .all(db)
        .await?;

    let email = |email_id| Job::Email(EmailJob { email_id });
    let webhook = |delivery_id| Job::Webhook(WebhookJob { delivery_id });
    let billing = |entry_id| Job::Billing(BillingJob { entry_id });
    Ok(requeue::<emails::Entity>(
        db,
        emails::Column::Id,
        emails::Column::NextAttemptAt,
        email_ids,
        email,
        now,
    )
    .await?
        + requeue::<deliveries::Entity>(
            db,
            deliveries::Column::Id,
            deliveries::Column::NextAttemptAt,
            delivery_ids,
            webhook,
            now,
        )
        .await?
        + requeue::<ledger::Entity>(
            db,
            ledger::Column::Id,
            ledger::Column::NextAttemptAt,
            entry_ids,
            billing,
            now,
        )
        .await?)
}

/// Marks the rows as due now (so the next sweep leaves them alone for a grace period) and
/// queues their jobs, in one transaction.
async fn requeue<E: EntityTrait>(
    db: &DatabaseConnection,
    id: E::Column,
    next_attempt_at: E::Column,
    ids: Vec<Uuid>,
    job: impl Fn(Uuid) -> Job,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    let txn = db.begin().await?;
    E::update_many()
        .col_expr(next_attempt_at, Expr::value(now))
        .filter(id.is_in(ids.clone()))
        .exec(&txn)
        .await?;
    for row in &ids {
        outbox::enqueue(&txn, job(*row), now, now).await?;
    }
    txn.commit().await?;
    Ok(ids.len())
}
