//! The job queues as ops see them (docs/API.md §7, §10): what every queue holds, the jobs in
//! one state, and replaying one. Counts come from our own tables (the source of truth for
//! each job's fate) plus the backend's pending tasks, read from its keys and tables directly.
use chrono::{DateTime, Utc};
use entities::values::{DeliveryStatus, ErasureStatus, LedgerStatus};
use entities::{
    emails, erasure_requests as erasures, ledger_entries as ledger, outbox, sla_alerts,
    webhook_deliveries as deliveries,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Value as DbValue,
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;
use workers::jobs::{BillingJob, EmailJob, Job, PrivacyJob, Queue, WebhookJob};
use workers::transport::Transport;

use crate::domain::ids::{DeliveryId, LedgerId, TicketId};
use crate::pagination::Page;
use crate::webhooks::deliveries::reset as reset_delivery;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// No such job, or nothing to retry.
    #[error("no such job")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What one queue holds.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct QueueStats {
    /// `email`, `webhook`, `billing`, `privacy` or `sla`.
    #[schema(example = "email")]
    pub name: &'static str,
    /// Due now: waiting in the outbox or in the queue backend.
    pub pending: u64,
    /// Retries and delayed jobs not due yet.
    pub scheduled: u64,
    pub running: u64,
    pub done: u64,
    /// Failed at least once and will be retried.
    pub failed: u64,
    /// Out of attempts; replay with `POST /admin/queues/{queue}/jobs/{id}/retry`.
    pub dead: u64,
    pub oldest_pending_age_seconds: Option<i64>,
}

async fn outbox_counts(
    db: &DatabaseConnection,
    queue: Queue,
    now: DateTime<Utc>,
) -> Result<(u64, u64, Option<i64>), DbErr> {
    let unsent = outbox::Entity::find()
        .filter(outbox::Column::Queue.eq(queue.as_str()))
        .filter(outbox::Column::SentAt.is_null());
    let due = unsent.clone().filter(outbox::Column::AvailableAt.lte(now));
    let pending = due.clone().count(db).await?;
    let scheduled = unsent
        .filter(outbox::Column::AvailableAt.gt(now))
        .count(db)
        .await?;
    let oldest = due
        .order_by_asc(outbox::Column::AvailableAt)
        .one(db)
        .await?;
    Ok((
        pending,
        scheduled,
        oldest.map(|row| (now - row.available_at).num_seconds()),
    ))
}

/// The columns of a table that records each job's outcome (`emails`, `webhook_deliveries`,
/// `ledger_entries`), and its statuses for a job still to run, finished, and out of attempts.
struct OutcomeTable<E: EntityTrait, S> {
    status: E::Column,
    last_error: E::Column,
    /// Tables whose jobs claim their row while they run.
    in_flight_until: Option<E::Column>,
    pending: S,
    done: S,
    dead: S,
}

impl<E, S> OutcomeTable<E, S>
where
    E: EntityTrait,
    E::Model: Sync,
    S: Into<DbValue> + Copy,
{
    /// `(running, done, failed, dead)`: failed means pending after an error (will retry).
    async fn counts(&self, db: &DatabaseConnection, now: DateTime<Utc>) -> Result<[u64; 4], DbErr> {
        let with_status = |status: S| E::find().filter(self.status.eq(status));
        let running = match self.in_flight_until {
            Some(col) => {
                with_status(self.pending)
                    .filter(col.gt(now))
                    .count(db)
                    .await?
            }
            None => 0,
        };
        Ok([
            running,
            with_status(self.done).count(db).await?,
            with_status(self.pending)
                .filter(self.last_error.is_not_null())
                .count(db)
                .await?,
            with_status(self.dead).count(db).await?,
        ])
    }
}

/// `(running, done, failed, dead)` from the table that records each job's outcome.
async fn outcome_counts(
    db: &DatabaseConnection,
    queue: Queue,
    now: DateTime<Utc>,
) -> Result<[u64; 4], DbErr> {
    match queue {
        Queue::Email => {
            OutcomeTable::<emails::Entity, _> {
                status: emails::Column::Status,
                last_error: emails::Column::LastError,
                in_flight_until: Some(emails::Column::InFlightUntil),
                pending: DeliveryStatus::Pending,
                done: DeliveryStatus::Delivered,
                dead: DeliveryStatus::Failed,
            }
            .counts(db, now)
            .await
        }
        Queue::Webhook => {
            OutcomeTable::<deliveries::Entity, _> {
                status: deliveries::Column::Status,
                last_error: deliveries::Column::LastError,
                in_flight_until: Some(deliveries::Column::InFlightUntil),
                pending: DeliveryStatus::Pending,
                done: DeliveryStatus::Delivered,
                dead: DeliveryStatus::Failed,
            }
            .counts(db, now)
            .await
        }
        Queue::Billing => {
            OutcomeTable::<ledger::Entity, _> {
                status: ledger::Column::Status,
                last_error: ledger::Column::LastError,
                in_flight_until: None,
                pending: LedgerStatus::Pending,
                done: LedgerStatus::Settled,
                dead: LedgerStatus::Failed,
            }
            .counts(db, now)
            .await
        }
        Queue::Privacy => {
            let with_status = |status: ErasureStatus| {
                erasures::Entity::find().filter(erasures::Column::Status.eq(status))
            };
            Ok([
                with_status(ErasureStatus::Running).count(db).await?,
                with_status(ErasureStatus::Done).count(db).await?,
                0,
                0,
            ])
        }
        // An SLA job that runs either fires its alert (a row) or finds it no longer applies;
        // a failed run schedules itself again in the outbox.
        Queue::Sla => Ok([0, sla_alerts::Entity::find().count(db).await?, 0, 0]),
    }
}

/// What `queue` holds: the outbox and the backend's pending jobs, and the outcomes recorded
/// in our tables.
pub async fn stats(
    db: &DatabaseConnection,
    transport: &Transport,
    queue: Queue,
    now: DateTime<Utc>,
) -> Result<QueueStats, DbErr> {
    let (outbox_pending, scheduled, oldest) = outbox_counts(db, queue, now).await?;
    let backend = transport.counts(queue).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, queue = queue.as_str(), "queue backend counts unavailable");
        Default::default()
    });
    let [running, done, failed, dead] = outcome_counts(db, queue, now).await?;
    Ok(QueueStats {
        name: queue.as_str(),
        pending: outbox_pending + backend.pending,
        scheduled,
        running: running.max(backend.running),
        done,
        failed,
        dead,
        oldest_pending_age_seconds: oldest,
    })
}

/// Which jobs to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum JobState {
    Dead,
    Failed,
    Pending,
    Done,
}

impl JobState {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "dead" => Some(Self::Dead),
            "failed" => Some(Self::Failed),
            "pending" => Some(Self::Pending),
            "done" => Some(Self::Done),
            _ => None,
        }
    }

    /// The stored status of an email's or a webhook delivery's job in this state.
    fn delivery_status(self) -> DeliveryStatus {
        match self {
            Self::Dead => DeliveryStatus::Failed,
            Self::Failed | Self::Pending => DeliveryStatus::Pending,
            Self::Done => DeliveryStatus::Delivered,
        }
    }

    /// The stored status of a ledger entry's settlement in this state.
    fn ledger_status(self) -> LedgerStatus {
        match self {
            Self::Dead => LedgerStatus::Failed,
            Self::Failed | Self::Pending => LedgerStatus::Pending,
            Self::Done => LedgerStatus::Settled,
        }
    }

    /// The stored status of an erasure request in this state: one that never finished
    /// (`running`) is listed as dead.
    fn erasure_status(self) -> ErasureStatus {
        match self {
            Self::Dead => ErasureStatus::Running,
            Self::Failed | Self::Pending => ErasureStatus::Pending,
            Self::Done => ErasureStatus::Done,
        }
    }
}

/// One job as ops see it.
fn job_json(
    id: String,
    tenant_id: Uuid,
    status: &str,
    attempts: i32,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
) -> Value {
    json!({"id": id, "tenant_id": tenant_id, "status": status, "attempts": attempts, "last_error": last_error, "created_at": created_at})
}

/// The rows of an outcome table in `status` (`retrying`: only those that failed before).
fn outcome_query<E: EntityTrait>(
    status_col: E::Column,
    last_error: E::Column,
    status: impl Into<DbValue>,
    retrying: bool,
) -> Select<E> {
    let query = E::find().filter(status_col.eq(status));
    if retrying {
        query.filter(last_error.is_not_null())
    } else {
        query
    }
}

/// One page of `query`, newest `order` first, each row shaped by `to_job`, and the total.
async fn page_of<E: EntityTrait>(
    db: &DatabaseConnection,
    query: Select<E>,
    order: Option<E::Column>,
    page: Page,
    to_job: impl Fn(E::Model) -> Value,
) -> Result<(Vec<Value>, u64), DbErr>
where
    E::Model: Sync,
{
    let total = query.clone().count(db).await?;
    let query = match order {
        Some(col) => query.order_by_desc(col),
        None => query,
    };
    let rows = query.offset(page.offset).limit(page.limit).all(db).await?;
    Ok((rows.into_iter().map(to_job).collect(), total))
}

/// A page of `queue`'s jobs in `state`, newest first, and how many there are.
pub async fn jobs(
    db: &DatabaseConnection,
    queue: Queue,
    state: JobState,
    page: Page,
) -> Result<(Vec<Value>, u64), DbErr> {
    let retrying = state == JobState::Failed;
    let listed = match queue {
        Queue::Email => {
            let query = outcome_query::<emails::Entity>(
                emails::Column::Status,
                emails::Column::LastError,
                state.delivery_status(),
                retrying,
            );
            page_of(db, query, Some(emails::Column::Id), page, |e| {
                job_json(
                    workers::email::idempotency_key(e.id),
                    e.tenant_id,
                    e.status.as_str(),
                    e.attempts,
                    e.last_error,
                    e.created_at,
                )
            })
            .await?
        }
        Queue::Webhook => {
            let query = outcome_query::<deliveries::Entity>(
                deliveries::Column::Status,
                deliveries::Column::LastError,
                state.delivery_status(),
                retrying,
            );
            page_of(db, query, Some(deliveries::Column::Id), page, |d| {
                let mut job = job_json(
                    DeliveryId::from_uuid(d.id).to_string(),
                    d.tenant_id,
                    d.status.as_str(),
                    d.attempts,
                    d.last_error,
                    d.created_at,
                );
                job["event_type"] = json!(d.event_type);
                job["endpoint_id"] = json!(d.endpoint_id.map(crate::webhooks::events::endpoint_id));
                job
            })
            .await?
        }
        Queue::Billing => {
            let query = outcome_query::<ledger::Entity>(
                ledger::Column::Status,
                ledger::Column::LastError,
                state.ledger_status(),
                retrying,
            );
            page_of(db, query, Some(ledger::Column::Id), page, |e| {
                job_json(
                    LedgerId::from_uuid(e.id).to_string(),
                    e.tenant_id,
                    e.status.as_str(),
                    e.settle_attempts,
                    e.last_error,
                    e.created_at,
                )
            })
            .await?
        }
        Queue::Privacy => {
            let query = erasures::Entity::find()
                .filter(erasures::Column::Status.eq(state.erasure_status()));
            page_of(db, query, None, page, |r| {
                job_json(
                    r.tenant_id.to_string(),
                    r.tenant_id,
                    r.status.as_str(),
                    0,
                    None,
                    r.requested_at,
                )
            })
            .await?
        }
        // Only fired alerts are recorded; scheduled ones wait in the outbox (`scheduled`).
        Queue::Sla if state == JobState::Done => {
            let query = sla_alerts::Entity::find();
            page_of(db, query, Some(sla_alerts::Column::FiredAt), page, |r| {
                let id = format!("{}:{}", TicketId::from_uuid(r.ticket_id), r.kind);
                job_json(id, r.tenant_id, "done", 1, None, r.fired_at)
            })
            .await?
        }
        Queue::Sla => (Vec::new(), 0),
    };
    Ok(listed)
}

fn prefixed_uuid(raw: &str, prefix: &str) -> Result<Uuid, QueueError> {
    raw.strip_prefix(prefix)
        .and_then(|hex| Uuid::try_parse(hex).ok())
        .ok_or(QueueError::NotFound)
}

/// Replays one job (`id_raw` as listed): back to pending with a fresh attempt now, queued
/// through the outbox.
pub async fn retry(
    db: &DatabaseConnection,
    queue: Queue,
    id_raw: &str,
    now: DateTime<Utc>,
) -> Result<(), QueueError> {
    let txn = crate::db::begin_write(db).await?;
    let job = match queue {
        Queue::Webhook => {
            let id: DeliveryId = id_raw.parse().map_err(|_| QueueError::NotFound)?;
            if !reset_delivery(&txn, id.uuid(), now).await? {
                return Err(QueueError::NotFound);
            }
            Job::Webhook(WebhookJob {
                delivery_id: id.uuid(),
            })
        }
        Queue::Email => {
            let id = prefixed_uuid(id_raw, "eml_")?;
            let reset = emails::Entity::update_many()
                .col_expr(emails::Column::Status, Expr::value(DeliveryStatus::Pending))
                .col_expr(emails::Column::Attempts, Expr::value(0))
                .col_expr(emails::Column::NextAttemptAt, Expr::value(now))
                .col_expr(
                    emails::Column::InFlightUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(emails::Column::Id.eq(id))
                .filter(emails::Column::Status.ne(DeliveryStatus::Delivered))
                .exec(&txn)
                .await?;
            if reset.rows_affected == 0 {
                return Err(QueueError::NotFound);
            }
            Job::Email(EmailJob { email_id: id })
        }
        Queue::Billing => {
            let id = prefixed_uuid(id_raw, "led_")?;
            let reset = ledger::Entity::update_many()
                .col_expr(ledger::Column::Status, Expr::value(LedgerStatus::Pending))
                .col_expr(ledger::Column::SettleAttempts, Expr::value(0))
                .col_expr(ledger::Column::NextAttemptAt, Expr::value(now))
                .filter(ledger::Column::Id.eq(id))
                .filter(ledger::Column::Status.ne(LedgerStatus::Settled))
                .exec(&txn)
                .await?;
            if reset.rows_affected == 0 {
                return Err(QueueError::NotFound);
            }
            Job::Billing(BillingJob { entry_id: id })
        }
        Queue::Privacy => {
            let tenant_id: Uuid = id_raw.parse().map_err(|_| QueueError::NotFound)?;
            let reset = erasures::Entity::update_many()
                .col_expr(
                    erasures::Column::Status,
                    Expr::value(ErasureStatus::Pending),
                )
                .filter(erasures::Column::TenantId.eq(tenant_id))
                .filter(erasures::Column::Status.ne(ErasureStatus::Pending))
                .exec(&txn)
                .await?;
            if reset.rows_affected == 0 {
                return Err(QueueError::NotFound);
            }
            Job::Privacy(PrivacyJob { tenant_id })
        }
        // A failed SLA run schedules itself again: there are no dead SLA jobs to retry.
        Queue::Sla => return Err(QueueError::NotFound),
    };
    workers::outbox::enqueue(&txn, job, now, now).await?;
    txn.commit().await?;
    Ok(())
}
