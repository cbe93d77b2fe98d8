//! The safety net under the queues: work that is still `pending` well after it was due, and
//! that no worker holds, is queued again. This covers a job dropped by the queue backend (a
//! worker killed mid-task, a Redis flush) or a worker that could not record its outcome.
//! A re-queued job that also survives elsewhere is harmless: every job claims its row first.
use chrono::{DateTime, Duration, Utc};
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
    let mut requeued = 0;

    let ids: Vec<Uuid> = emails::Entity::find()
        .select_only()
        .column(emails::Column::Id)
        .filter(emails::Column::Status.eq(crate::email::PENDING))
        .filter(emails::Column::NextAttemptAt.lt(overdue))
        .filter(
            Condition::any()
                .add(emails::Column::InFlightUntil.is_null())
                .add(emails::Column::InFlightUntil.lt(now)),
        )
        .limit(BATCH)
        .into_tuple()
        .all(db)
        .await?;
    if !ids.is_empty() {
        let txn = db.begin().await?;
        emails::Entity::update_many()
            .col_expr(emails::Column::NextAttemptAt, Expr::value(now))
            .filter(emails::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        for email_id in &ids {
            outbox::enqueue(
                &txn,
                Job::Email(EmailJob {
                    email_id: *email_id,
                }),
                now,
                now,
            )
            .await?;
        }
        txn.commit().await?;
        requeued += ids.len();
    }

    let ids: Vec<Uuid> = deliveries::Entity::find()
        .select_only()
        .column(deliveries::Column::Id)
        .filter(deliveries::Column::Status.eq(crate::webhook::PENDING))
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
    if !ids.is_empty() {
        let txn = db.begin().await?;
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::NextAttemptAt, Expr::value(now))
            .filter(deliveries::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        for delivery_id in &ids {
            outbox::enqueue(
                &txn,
                Job::Webhook(WebhookJob {
                    delivery_id: *delivery_id,
                }),
                now,
                now,
            )
            .await?;
        }
        txn.commit().await?;
        requeued += ids.len();
    }

    let ids: Vec<Uuid> = ledger::Entity::find()
        .select_only()
        .column(ledger::Column::Id)
        .filter(ledger::Column::Status.eq("pending"))
        .filter(ledger::Column::NextAttemptAt.lt(overdue))
        .limit(BATCH)
        .into_tuple()
        .all(db)
        .await?;
    if !ids.is_empty() {
        let txn = db.begin().await?;
        ledger::Entity::update_many()
            .col_expr(ledger::Column::NextAttemptAt, Expr::value(now))
            .filter(ledger::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        for entry_id in &ids {
            outbox::enqueue(
                &txn,
                Job::Billing(BillingJob {
                    entry_id: *entry_id,
                }),
                now,
                now,
            )
            .await?;
        }
        txn.commit().await?;
        requeued += ids.len();
    }
    Ok(requeued)
}
