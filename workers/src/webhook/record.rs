//! Recording what came of an attempt, which also releases the delivery's claim. Successes,
//! the common case, are recorded in batches (one `UPDATE` per attempt count and response
//! status); a retry, a failure or a `410` is recorded alone, together with what goes with
//! it (the retry's outbox row, the disabled endpoint).
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entities::{webhook_deliveries as deliveries, webhook_endpoints as endpoints};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait, UpdateMany,
};
use uuid::Uuid;

use super::attempt::Outcome;
use crate::deps::Deps;
use crate::jobs::{Job, WebhookJob};
use crate::outbox;
use entities::values::DeliveryStatus;

/// A delivered attempt, waiting to be recorded with others.
#[derive(Debug)]
pub struct Success {
    id: Uuid,
    attempts: i32,
    status: u16,
}

/// Returns once the outcome is committed.
pub async fn record(
    deps: &Deps,
    delivery: &deliveries::Model,
    outcome: Outcome,
) -> Result<(), DbErr> {
    let attempts = delivery.attempts + 1;
    let schedule = &deps.settings.webhook_retry_schedule;
    match outcome {
        Outcome::Delivered { status } => {
            let success = Success {
                id: delivery.id,
                attempts,
                status,
            };
            Ok(deps.webhooks.successes.submit(success).await?)
        }
        Outcome::Gone => gone(&deps.db, delivery, attempts).await,
        Outcome::Retry {
            status,
            error,
            after,
        } if (attempts as usize) < schedule.len() => {
            let delay = schedule[attempts as usize].max(after.unwrap_or_default());
            retry(deps, delivery.id, attempts, status, error, delay).await
        }
        Outcome::Retry { status, error, .. } | Outcome::Fail { status, error } => {
            finish([delivery.id], attempts)
                .col_expr(
                    deliveries::Column::Status,
                    Expr::value(DeliveryStatus::Failed),
                )
                .col_expr(
                    deliveries::Column::ResponseStatus,
                    Expr::value(status.map(i32::from)),
                )
                .col_expr(deliveries::Column::LastError, Expr::value(error))
                .col_expr(deliveries::Column::NextAttemptAt, Expr::value(NO_TIME))
                .exec(&deps.db)
                .await?;
            Ok(())
        }
    }
}

/// Records a batch of successes; answers each once all are committed.
pub async fn successes(db: DatabaseConnection, batch: Vec<Success>) -> Result<Vec<()>, DbErr> {
    let now = Utc::now();
    let mut alike: BTreeMap<(i32, u16), Vec<Uuid>> = BTreeMap::new();
    for success in &batch {
        alike
            .entry((success.attempts, success.status))
            .or_default()
            .push(success.id);
    }
    for ((attempts, status), ids) in alike {
        finish(ids, attempts)
            .col_expr(
                deliveries::Column::Status,
                Expr::value(DeliveryStatus::Delivered),
            )
            .col_expr(
                deliveries::Column::ResponseStatus,
                Expr::value(i32::from(status)),
            )
            .col_expr(
                deliveries::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .col_expr(deliveries::Column::DeliveredAt, Expr::value(now))
            .col_expr(deliveries::Column::NextAttemptAt, Expr::value(NO_TIME))
            .exec(&db)
            .await?;
    }
    Ok(vec![(); batch.len()])
}

const NO_TIME: Option<DateTime<Utc>> = None;

/// The update every outcome makes: count the attempt and release the claim.
fn finish(ids: impl IntoIterator<Item = Uuid>, attempts: i32) -> UpdateMany<deliveries::Entity> {
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::Attempts, Expr::value(attempts))
        .col_expr(deliveries::Column::InFlightUntil, Expr::value(NO_TIME))
        .col_expr(
            deliveries::Column::LeaseOwner,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(deliveries::Column::Id.is_in(ids))
}

/// `410 Gone`: the delivery fails and its endpoint is disabled.
async fn gone(
    db: &DatabaseConnection,
    delivery: &deliveries::Model,
    attempts: i32,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    finish([delivery.id], attempts)
        .col_expr(
            deliveries::Column::Status,
            Expr::value(DeliveryStatus::Failed),
        )
        .col_expr(deliveries::Column::ResponseStatus, Expr::value(410))
        .col_expr(
            deliveries::Column::LastError,
            Expr::value("410 Gone: the endpoint was disabled"),
        )
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(NO_TIME))
        .exec(&txn)
        .await?;
    if let Some(endpoint_id) = delivery.endpoint_id {
        disable_endpoint(&txn, endpoint_id).await?;
    }
    txn.commit().await
}

async fn disable_endpoint<C: ConnectionTrait>(conn: &C, endpoint_id: Uuid) -> Result<(), DbErr> {
    endpoints::Entity::update_many()
        .col_expr(endpoints::Column::Enabled, Expr::value(false))
        .col_expr(
            endpoints::Column::DisabledReason,
            Expr::value("the receiver answered 410 Gone"),
        )
        .col_expr(endpoints::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(endpoints::Column::Id.eq(endpoint_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Schedules the next attempt `delay` from now, through the outbox.
async fn retry(
    deps: &Deps,
    id: Uuid,
    attempts: i32,
    status: Option<u16>,
    error: String,
    delay: std::time::Duration,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
    let txn = deps.db.begin().await?;
    finish([id], attempts)
        .col_expr(
            deliveries::Column::ResponseStatus,
            Expr::value(status.map(i32::from)),
        )
        .col_expr(deliveries::Column::LastError, Expr::value(error))
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(at))
        .exec(&txn)
        .await?;
    let job = Job::Webhook(WebhookJob { delivery_id: id });
    outbox::enqueue(&txn, job, at, now).await?;
    txn.commit().await?;
    deps.nudge.nudge();
    Ok(())
}
