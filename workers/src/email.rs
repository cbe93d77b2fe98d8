//! The email job: sends one stored email through Resend. Network errors, 429 and 5xx are
//! retried with backoff (5 attempts in all); other 4xx fail at once. Every attempt carries
//! the same `Idempotency-Key` (the email's id), so Resend sends it at most once.
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data};
use chrono::{DateTime, Utc};
use entities::values::{DeliveryStatus, TicketEmailStatus};
use entities::{emails, tickets};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::deps::{Deps, EMAIL_ATTEMPTS, backoff};
use crate::jobs::{EmailJob, Job};
use crate::outbox;

pub async fn job(job: EmailJob, deps: Data<Deps>) -> Result<(), BoxDynError> {
    run(&deps, job.email_id).await.map_err(Into::into)
}

enum Outcome {
    Delivered {
        provider_id: Option<String>,
    },
    Retry {
        error: String,
        after: Option<Duration>,
    },
    Fail {
        error: String,
    },
}

/// The value sent as `Idempotency-Key`.
pub fn idempotency_key(email_id: Uuid) -> String {
    format!("eml_{}", email_id.simple())
}

pub async fn run(deps: &Deps, email_id: Uuid) -> Result<(), DbErr> {
    let now = Utc::now();
    // Claim it: only one worker sends a given email at a time, and a finished one never again.
    let claimed = emails::Entity::update_many()
        .col_expr(
            emails::Column::InFlightUntil,
            Expr::value(now + crate::lease::LEASE_FOR),
        )
        .col_expr(
            emails::Column::LeaseOwner,
            Expr::value(crate::lease::owner()),
        )
        .col_expr(
            emails::Column::Attempts,
            Expr::col(emails::Column::Attempts).add(1),
        )
        .filter(emails::Column::Id.eq(email_id))
        .filter(emails::Column::Status.eq(DeliveryStatus::Pending))
        .filter(
            Condition::any()
                .add(emails::Column::InFlightUntil.is_null())
                .add(emails::Column::InFlightUntil.lt(now)),
        )
        .exec(&deps.db)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(());
    }
    let Some(email) = emails::Entity::find_by_id(email_id).one(&deps.db).await? else {
        return Ok(());
    };
    let outcome = send(deps, &email).await;
    record(deps, &email, outcome).await
}

async fn send(deps: &Deps, email: &emails::Model) -> Outcome {
    let settings = &deps.settings;
    let Some(api_key) = &settings.resend_api_key else {
        return Outcome::Fail {
            error: "RESEND_API_KEY is not configured".into(),
        };
    };
    let mut body = json!({
        "from": settings.email_from,
        "to": [email.to_addr],
        "subject": email.subject,
        "text": email.body_text,
        "tags": [{"name": "kind", "value": email.kind}],
    });
    if let Some(reply_to) = &email.reply_to {
        body["reply_to"] = json!(reply_to);
    }
    let request = deps
        .http
        .post(format!("{}/emails", settings.resend_base_url))
        .bearer_auth(api_key)
        .header("Idempotency-Key", idempotency_key(email.id))
        .json(&body);
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                error: format!("network error: {e}"),
                after: None,
            };
        }
    };
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        let provider_id = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string));
        return Outcome::Delivered { provider_id };
    }
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or(text);
    let error = format!(
        "Resend answered {}: {}",
        status.as_u16(),
        truncate(&message, 300)
    );
    if status.as_u16() == 429 || status.is_server_error() {
        Outcome::Retry {
            error,
            after: retry_after,
        }
    } else {
        Outcome::Fail { error }
    }
}

pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

pub fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

async fn record(deps: &Deps, email: &emails::Model, outcome: Outcome) -> Result<(), DbErr> {
    let now = Utc::now();
    let txn = deps.db.begin().await?;
    let (status, error) = match outcome {
        Outcome::Delivered { provider_id } => {
            emails::Entity::update_many()
                .col_expr(
                    emails::Column::Status,
                    Expr::value(DeliveryStatus::Delivered),
                )
                .col_expr(emails::Column::ProviderId, Expr::value(provider_id))
                .col_expr(
                    emails::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    emails::Column::InFlightUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    emails::Column::LeaseOwner,
                    Expr::value(Option::<Uuid>::None),
                )
                .col_expr(emails::Column::UpdatedAt, Expr::value(now))
                .filter(emails::Column::Id.eq(email.id))
                .exec(&txn)
                .await?;
            (TicketEmailStatus::Delivered, None)
        }
        Outcome::Retry { error, after } if email.attempts < EMAIL_ATTEMPTS => {
            let delay =
                backoff(deps.settings.email_backoff, email.attempts).max(after.unwrap_or_default());
            let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            emails::Entity::update_many()
                .col_expr(emails::Column::LastError, Expr::value(error))
                .col_expr(
                    emails::Column::InFlightUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    emails::Column::LeaseOwner,
                    Expr::value(Option::<Uuid>::None),
                )
                .col_expr(emails::Column::NextAttemptAt, Expr::value(at))
                .col_expr(emails::Column::UpdatedAt, Expr::value(now))
                .filter(emails::Column::Id.eq(email.id))
                .exec(&txn)
                .await?;
            outbox::enqueue(&txn, Job::Email(EmailJob { email_id: email.id }), at, now).await?;
            txn.commit().await?;
            deps.nudge.nudge();
            return Ok(());
        }
        Outcome::Retry { error, .. } | Outcome::Fail { error } => {
            emails::Entity::update_many()
                .col_expr(emails::Column::Status, Expr::value(DeliveryStatus::Failed))
                .col_expr(emails::Column::LastError, Expr::value(error.clone()))
                .col_expr(
                    emails::Column::InFlightUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    emails::Column::LeaseOwner,
                    Expr::value(Option::<Uuid>::None),
                )
                .col_expr(emails::Column::UpdatedAt, Expr::value(now))
                .filter(emails::Column::Id.eq(email.id))
                .exec(&txn)
                .await?;
            (TicketEmailStatus::Failed, Some(error))
        }
    };
    if let Some(ticket_id) = email.ticket_id {
        set_ticket_email(&txn, ticket_id, status, error, now).await?;
    }
    txn.commit().await
}

/// The ticket's `email` field shows the outcome of its latest email.
pub async fn set_ticket_email<C: ConnectionTrait>(
    conn: &C,
    ticket_id: Uuid,
    status: TicketEmailStatus,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    tickets::Entity::update_many()
        .col_expr(tickets::Column::EmailStatus, Expr::value(status))
        .col_expr(tickets::Column::EmailReason, Expr::value(reason))
        .col_expr(tickets::Column::UpdatedAt, Expr::value(now))
        .filter(tickets::Column::Id.eq(ticket_id))
        .exec(conn)
        .await?;
    Ok(())
}
