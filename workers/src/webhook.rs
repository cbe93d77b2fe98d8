//! The webhook job: one delivery attempt of one event to one endpoint (or the ops webhook),
//! signed per Standard Webhooks. Failures are retried on `HELPLINE_WEBHOOK_RETRY_SCHEDULE`
//! (a longer `Retry-After` wins); `410 Gone` disables the endpoint; after the last attempt
//! the delivery is `failed`. `webhook-id` is the event id on every attempt.
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data};
use chrono::{DateTime, Utc};
use entities::{
    webhook_deliveries as deliveries, webhook_endpoints as endpoints, webhook_events as events,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DbErr, EntityTrait, ExprTrait, QueryFilter, TransactionTrait,
};
use uuid::Uuid;

use crate::deps::Deps;
use crate::email::{retry_after, truncate};
use crate::jobs::{Job, WebhookJob};
use crate::{outbox, signing, ssrf};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// A worker holds a delivery this long (more than the 15 s request timeout).
const IN_FLIGHT_FOR: chrono::Duration = chrono::Duration::seconds(60);

pub async fn job(job: WebhookJob, deps: Data<Deps>) -> Result<(), BoxDynError> {
    run(&deps, job.delivery_id).await.map_err(Into::into)
}

/// The public id of an event: `evt_` + its UUID.
pub fn event_id(id: Uuid) -> String {
    format!("evt_{}", id.simple())
}

enum Outcome {
    Delivered {
        status: u16,
    },
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    Gone,
    Fail {
        status: Option<u16>,
        error: String,
    },
}

struct Target {
    url: String,
    secret: String,
}

pub async fn run(deps: &Deps, delivery_id: Uuid) -> Result<(), DbErr> {
    let now = Utc::now();
    let claimed = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::InFlightUntil,
            Expr::value(now + IN_FLIGHT_FOR),
        )
        .filter(deliveries::Column::Id.eq(delivery_id))
        .filter(deliveries::Column::Status.eq(PENDING))
        .filter(
            Condition::any()
                .add(deliveries::Column::InFlightUntil.is_null())
                .add(deliveries::Column::InFlightUntil.lt(now)),
        )
        .exec(&deps.db)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(());
    }
    let Some(delivery) = deliveries::Entity::find_by_id(delivery_id)
        .one(&deps.db)
        .await?
    else {
        return Ok(());
    };
    let outcome = match target(deps, &delivery).await? {
        Err(reason) => Outcome::Fail {
            status: None,
            error: reason,
        },
        Ok(target) => match events::Entity::find_by_id(delivery.event_id)
            .one(&deps.db)
            .await?
        {
            None => Outcome::Fail {
                status: None,
                error: "the event no longer exists".into(),
            },
            Some(event) => attempt(deps, &target, &event).await,
        },
    };
    record(deps, &delivery, outcome).await
}

/// Where this delivery goes, or why it cannot go anywhere.
async fn target(
    deps: &Deps,
    delivery: &deliveries::Model,
) -> Result<Result<Target, String>, DbErr> {
    let Some(endpoint_id) = delivery.endpoint_id else {
        return Ok(match &deps.settings.ops_webhook {
            Some(ops) => Ok(Target {
                url: ops.url.clone(),
                secret: ops.secret.clone(),
            }),
            None => Err("the ops webhook is no longer configured".into()),
        });
    };
    Ok(
        match endpoints::Entity::find_by_id(endpoint_id)
            .one(&deps.db)
            .await?
        {
            None => Err("the endpoint was deleted".into()),
            Some(e) if !e.enabled => Err("the endpoint is disabled".into()),
            Some(e) => Ok(Target {
                url: e.url,
                secret: e.secret,
            }),
        },
    )
}

async fn attempt(deps: &Deps, target: &Target, event: &events::Model) -> Outcome {
    let url = match ssrf::parse(&target.url) {
        Ok(url) => url,
        Err(e) => {
            return Outcome::Fail {
                status: None,
                error: e.to_string(),
            };
        }
    };
    match ssrf::check(&url, deps.settings.allow_private_targets).await {
        Ok(()) => {}
        Err(ssrf::TargetError::Unresolvable) => {
            return Outcome::Retry {
                status: None,
                error: "the host could not be resolved".into(),
                after: None,
            };
        }
        Err(e) => {
            return Outcome::Fail {
                status: None,
                error: format!("refused at delivery: {e}"),
            };
        }
    }
    let body = event.payload.to_string();
    let msg_id = event_id(event.id);
    let timestamp = Utc::now().timestamp();
    let signature = match signing::sign(&target.secret, &msg_id, timestamp, body.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Fail {
                status: None,
                error: e.to_string(),
            };
        }
    };
    let sent = deps
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            let error = if e.is_timeout() {
                "timed out after 15 s".to_string()
            } else {
                format!("request failed: {e}")
            };
            return Outcome::Retry {
                status: None,
                error,
                after: None,
            };
        }
    };
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Outcome::Delivered { status };
    }
    if status == 410 {
        return Outcome::Gone;
    }
    let after = matches!(status, 429 | 503)
        .then(|| retry_after(response.headers()))
        .flatten();
    let text = response.text().await.unwrap_or_default();
    Outcome::Retry {
        status: Some(status),
        error: format!("receiver answered {status}: {}", truncate(&text, 200)),
        after,
    }
}

async fn record(deps: &Deps, delivery: &deliveries::Model, outcome: Outcome) -> Result<(), DbErr> {
    let now = Utc::now();
    let attempts = delivery.attempts + 1;
    let schedule = &deps.settings.webhook_retry_schedule;
    let txn = deps.db.begin().await?;
    let update = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::Attempts, Expr::value(attempts))
        .col_expr(
            deliveries::Column::InFlightUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(deliveries::Column::Id.eq(delivery.id));
    let none_at = Option::<DateTime<Utc>>::None;
    match outcome {
        Outcome::Delivered { status } => {
            update
                .col_expr(deliveries::Column::Status, Expr::value(DELIVERED))
                .col_expr(
                    deliveries::Column::ResponseStatus,
                    Expr::value(i32::from(status)),
                )
                .col_expr(
                    deliveries::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(deliveries::Column::DeliveredAt, Expr::value(now))
                .col_expr(deliveries::Column::NextAttemptAt, Expr::value(none_at))
                .exec(&txn)
                .await?;
        }
        Outcome::Gone => {
            update
                .col_expr(deliveries::Column::Status, Expr::value(FAILED))
                .col_expr(deliveries::Column::ResponseStatus, Expr::value(410))
                .col_expr(
                    deliveries::Column::LastError,
                    Expr::value("410 Gone: the endpoint was disabled"),
                )
                .col_expr(deliveries::Column::NextAttemptAt, Expr::value(none_at))
                .exec(&txn)
                .await?;
            if let Some(endpoint_id) = delivery.endpoint_id {
                endpoints::Entity::update_many()
                    .col_expr(endpoints::Column::Enabled, Expr::value(false))
                    .col_expr(
                        endpoints::Column::DisabledReason,
                        Expr::value("the receiver answered 410 Gone"),
                    )
                    .col_expr(endpoints::Column::UpdatedAt, Expr::value(now))
                    .filter(endpoints::Column::Id.eq(endpoint_id))
                    .exec(&txn)
                    .await?;
            }
        }
        Outcome::Retry {
            status,
            error,
            after,
        } if (attempts as usize) < schedule.len() => {
            let planned = schedule[attempts as usize];
            let delay = planned.max(after.unwrap_or_default());
            let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            update
                .col_expr(
                    deliveries::Column::ResponseStatus,
                    Expr::value(status.map(i32::from)),
                )
                .col_expr(deliveries::Column::LastError, Expr::value(error))
                .col_expr(deliveries::Column::NextAttemptAt, Expr::value(at))
                .exec(&txn)
                .await?;
            outbox::enqueue(
                &txn,
                Job::Webhook(WebhookJob {
                    delivery_id: delivery.id,
                }),
                at,
                now,
            )
            .await?;
            txn.commit().await?;
            deps.nudge.nudge();
            return Ok(());
        }
        Outcome::Retry { status, error, .. } | Outcome::Fail { status, error } => {
            update
                .col_expr(deliveries::Column::Status, Expr::value(FAILED))
                .col_expr(
                    deliveries::Column::ResponseStatus,
                    Expr::value(status.map(i32::from)),
                )
                .col_expr(deliveries::Column::LastError, Expr::value(error))
                .col_expr(deliveries::Column::NextAttemptAt, Expr::value(none_at))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await
}

#[allow(unused_imports)]
use ExprTrait as _;
