//! `/admin/queues`: what every queue holds, its dead jobs, and replaying them (docs/API.md §7).
//! Counts come from our own tables (the source of truth for each job's fate) plus the
//! backend's pending tasks, read from its keys and tables directly.
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use entities::{
    emails, erasure_requests as erasures, ledger_entries as ledger, outbox, sla_alerts,
    webhook_deliveries as deliveries,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workers::jobs::{BillingJob, EmailJob, Job, PrivacyJob, Queue, WebhookJob};

use crate::app::AppState;
use crate::domain::ids::{DeliveryId, LedgerId, TicketId};
use crate::http::auth::Staff;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::path::path_id;
use crate::http::query::{PageParams, QueryMap};
use crate::webhooks::deliveries::reset as reset_delivery;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/queues").route(web::get().to(overview)))
        .service(web::resource("/queues/{queue}/jobs").route(web::get().to(list_jobs)))
        .service(web::resource("/queues/{queue}/jobs/{id}/retry").route(web::post().to(retry_job)));
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

fn parse_queue(raw: &str) -> ApiResult<Queue> {
    Queue::parse(raw).ok_or_else(ApiError::not_found)
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
/// `ledger_entries`), and its word for a finished job.
struct OutcomeTable<E: EntityTrait> {
    status: E::Column,
    last_error: E::Column,
    /// Tables whose jobs claim their row while they run.
    in_flight_until: Option<E::Column>,
    done: &'static str,
}

impl<E> OutcomeTable<E>
where
    E: EntityTrait,
    E::Model: Sync,
{
    /// `(running, done, failed, dead)`: failed means pending after an error (will retry).
    async fn counts(&self, db: &DatabaseConnection, now: DateTime<Utc>) -> Result<[u64; 4], DbErr> {
        let with_status = |status: &str| E::find().filter(self.status.eq(status));
        let running = match self.in_flight_until {
            Some(col) => with_status("pending").filter(col.gt(now)).count(db).await?,
            None => 0,
        };
        Ok([
            running,
            with_status(self.done).count(db).await?,
            with_status("pending")
                .filter(self.last_error.is_not_null())
                .count(db)
                .await?,
            with_status("failed").count(db).await?,
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
            OutcomeTable::<emails::Entity> {
                status: emails::Column::Status,
                last_error: emails::Column::LastError,
                in_flight_until: Some(emails::Column::InFlightUntil),
                done: "delivered",
            }
            .counts(db, now)
            .await
        }
        Queue::Webhook => {
            OutcomeTable::<deliveries::Entity> {
                status: deliveries::Column::Status,
                last_error: deliveries::Column::LastError,
                in_flight_until: Some(deliveries::Column::InFlightUntil),
                done: "delivered",
            }
            .counts(db, now)
            .await
        }
        Queue::Billing => {
            OutcomeTable::<ledger::Entity> {
                status: ledger::Column::Status,
                last_error: ledger::Column::LastError,
                in_flight_until: None,
                done: "settled",
            }
            .counts(db, now)
            .await
        }
        Queue::Privacy => {
            let with_status =
                |status: &str| erasures::Entity::find().filter(erasures::Column::Status.eq(status));
            Ok([
                with_status("running").count(db).await?,
                with_status("done").count(db).await?,
                0,
                0,
            ])
        }
        // An SLA job that runs either fires its alert (a row) or finds it no longer applies;
        // a failed run schedules itself again in the outbox.
        Queue::Sla => Ok([0, sla_alerts::Entity::find().count(db).await?, 0, 0]),
    }
}

pub async fn stats(state: &AppState, queue: Queue, now: DateTime<Utc>) -> ApiResult<QueueStats> {
    let (outbox_pending, scheduled, oldest) = outbox_counts(&state.db, queue, now).await?;
    let backend = state
        .jobs
        .transport
        .counts(queue)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, queue = queue.as_str(), "queue backend counts unavailable");
            Default::default()
        });
    let [running, done, failed, dead] = outcome_counts(&state.db, queue, now).await?;
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

/// Every queue.
#[derive(Serialize, ToSchema)]
struct QueuesOut {
    /// `sqlite` or `redis`.
    #[schema(example = "sqlite")]
    backend: &'static str,
    queues: Vec<QueueStats>,
}

/// Queue overview
///
/// Per queue: pending, scheduled, running, done, failed, dead, and the oldest pending age.
#[utoipa::path(
    get,
    path = "/admin/queues",
    tag = "admin",
    responses((status = 200, description = "Every queue", body = QueuesOut)),
    security(("staff_token" = [])),
)]
async fn overview(state: web::Data<AppState>, _: Staff) -> ApiResult<HttpResponse> {
    let now = Utc::now();
    let mut queues = Vec::new();
    for queue in Queue::ALL {
        queues.push(stats(&state, queue, now).await?);
    }
    Ok(HttpResponse::Ok().json(QueuesOut {
        backend: state.jobs.transport.kind(),
        queues,
    }))
}

/// A queue name.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // describes the `{queue}` path segment, parsed by `Queue::parse`
enum QueueName {
    Email,
    Webhook,
    Billing,
    Privacy,
    Sla,
}

/// One job as ops see it.
#[derive(ToSchema)]
#[allow(dead_code)] // describes `job_json`
struct JobOut {
    /// `eml_…`, `dlv_…`, `led_…`, the tenant id for `privacy`, `tkt_…:warning` or
    /// `tkt_…:breached` for `sla`.
    id: String,
    tenant_id: Uuid,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    /// Webhook jobs only.
    #[schema(nullable = false)]
    event_type: Option<String>,
    /// Webhook jobs only; `null` for the ops webhook.
    endpoint_id: Option<String>,
}

/// A page of jobs.
#[derive(Serialize, ToSchema)]
struct JobList {
    #[schema(value_type = Vec<JobOut>)]
    data: Vec<Value>,
    total: u64,
    limit: u64,
    offset: u64,
}

/// The job list's filter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobStateParams {
    /// Default `dead`.
    #[param(inline, value_type = Option<JobState>)]
    pub state: Option<String>,
}

/// Which jobs to list.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum JobState {
    Dead,
    Failed,
    Pending,
    Done,
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

/// List a queue's jobs
///
/// Newest first; `state=dead` (default) lists the jobs out of attempts.
#[utoipa::path(
    get,
    path = "/admin/queues/{queue}/jobs",
    tag = "admin",
    params(("queue" = inline(QueueName), Path, description = "The queue"), JobStateParams, PageParams),
    responses(
        (status = 200, description = "A page of jobs", body = JobList,
         links(("RetryJob" = (
             operation_id = "retry_job",
             parameters(("queue" = "$request.path.queue"), ("id" = "$response.body#/data/0/id")),
             description = "Retry the newest job listed",
         )))),
        (status = 400, description = "`validation_failed`: `state`, `limit` or `offset` is invalid", body = ErrorBody),
        (status = 404, description = "`not_found`: no such queue", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn list_jobs(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let queue = parse_queue(&path)?;
    let q = QueryMap::from_request(&req)?;
    let page = q.page()?;
    let state_filter = q.get("state").unwrap_or("dead");
    let (status, retrying) = match state_filter {
        "dead" => ("failed", false),
        "failed" => ("pending", true),
        "pending" => ("pending", false),
        "done" => ("done", false),
        _ => {
            return Err(ApiError::validation(
                "state",
                "`state` must be one of dead, failed, pending, done",
            ));
        }
    };
    let (data, total): (Vec<Value>, u64) = match queue {
        Queue::Email => {
            let status = if status == "done" {
                "delivered"
            } else {
                status
            };
            let mut query = emails::Entity::find().filter(emails::Column::Status.eq(status));
            if retrying {
                query = query.filter(emails::Column::LastError.is_not_null());
            }
            let total = query.clone().count(&state.db).await?;
            let rows = query
                .order_by_desc(emails::Column::Id)
                .offset(page.offset)
                .limit(page.limit)
                .all(&state.db)
                .await?;
            let data = rows
                .into_iter()
                .map(|e| {
                    job_json(
                        workers::email::idempotency_key(e.id),
                        e.tenant_id,
                        &e.status,
                        e.attempts,
                        e.last_error,
                        e.created_at,
                    )
                })
                .collect();
            (data, total)
        }
        Queue::Webhook => {
            let status = if status == "done" {
                "delivered"
            } else {
                status
            };
            let mut query =
                deliveries::Entity::find().filter(deliveries::Column::Status.eq(status));
            if retrying {
                query = query.filter(deliveries::Column::LastError.is_not_null());
            }
            let total = query.clone().count(&state.db).await?;
            let rows = query
                .order_by_desc(deliveries::Column::Id)
                .offset(page.offset)
                .limit(page.limit)
                .all(&state.db)
                .await?;
            let data = rows
                .into_iter()
                .map(|d| {
                    let mut job = job_json(
                        DeliveryId::from_uuid(d.id).to_string(),
                        d.tenant_id,
                        &d.status,
                        d.attempts,
                        d.last_error,
                        d.created_at,
                    );
                    job["event_type"] = json!(d.event_type);
                    job["endpoint_id"] =
                        json!(d.endpoint_id.map(crate::webhooks::events::endpoint_id));
                    job
                })
                .collect();
            (data, total)
        }
        Queue::Billing => {
            let status = if status == "done" { "settled" } else { status };
            let mut query = ledger::Entity::find().filter(ledger::Column::Status.eq(status));
            if retrying {
                query = query.filter(ledger::Column::LastError.is_not_null());
            }
            let total = query.clone().count(&state.db).await?;
            let rows = query
                .order_by_desc(ledger::Column::Id)
                .offset(page.offset)
                .limit(page.limit)
                .all(&state.db)
                .await?;
            let data = rows
                .into_iter()
                .map(|e| {
                    job_json(
                        LedgerId::from_uuid(e.id).to_string(),
                        e.tenant_id,
                        &e.status,
                        e.settle_attempts,
                        e.last_error,
                        e.created_at,
                    )
                })
                .collect();
            (data, total)
        }
        Queue::Privacy => {
            let status = match status {
                "done" => "done",
                "failed" => "running",
                other => other,
            };
            let query = erasures::Entity::find().filter(erasures::Column::Status.eq(status));
            let total = query.clone().count(&state.db).await?;
            let rows = query
                .offset(page.offset)
                .limit(page.limit)
                .all(&state.db)
                .await?;
            let data = rows
                .into_iter()
                .map(|r| {
                    job_json(
                        r.tenant_id.to_string(),
                        r.tenant_id,
                        &r.status,
                        0,
                        None,
                        r.requested_at,
                    )
                })
                .collect();
            (data, total)
        }
        // Only fired alerts are recorded; scheduled ones wait in the outbox (`scheduled`).
        Queue::Sla if state_filter == "done" => {
            let total = sla_alerts::Entity::find().count(&state.db).await?;
            let rows = sla_alerts::Entity::find()
                .order_by_desc(sla_alerts::Column::FiredAt)
                .offset(page.offset)
                .limit(page.limit)
                .all(&state.db)
                .await?;
            let data = rows
                .into_iter()
                .map(|r| {
                    let id = format!("{}:{}", TicketId::from_uuid(r.ticket_id), r.kind);
                    job_json(id, r.tenant_id, "done", 1, None, r.fired_at)
                })
                .collect();
            (data, total)
        }
        Queue::Sla => (Vec::new(), 0),
    };
    Ok(HttpResponse::Ok().json(JobList {
        data,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

fn prefixed_uuid(raw: &str, prefix: &str) -> ApiResult<Uuid> {
    raw.strip_prefix(prefix)
        .and_then(|hex| Uuid::try_parse(hex).ok())
        .ok_or_else(ApiError::not_found)
}

/// A replayed job.
#[derive(Serialize, ToSchema)]
struct JobRetried {
    #[schema(example = "email")]
    queue: &'static str,
    id: String,
    #[schema(example = "pending")]
    status: &'static str,
}

/// Retry a job
///
/// Replays one job: back to pending with a fresh attempt now.
#[utoipa::path(
    post,
    path = "/admin/queues/{queue}/jobs/{id}/retry",
    tag = "admin",
    params(
        ("queue" = inline(QueueName), Path, description = "The queue"),
        ("id" = String, Path, description = "The job id as listed (`eml_…`, `dlv_…`, `led_…`, or a tenant id)"),
    ),
    responses(
        (status = 202, description = "The job is pending again", body = JobRetried),
        (status = 404, description = "`not_found`: no such queue or job (or nothing to retry)", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn retry_job(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (queue_raw, id_raw) = path.into_inner();
    let queue = parse_queue(&queue_raw)?;
    let now = Utc::now();
    let txn = crate::db::begin_write(&state.db).await?;
    let job = match queue {
        Queue::Webhook => {
            let id: DeliveryId = path_id(&id_raw)?;
            if !reset_delivery(&txn, id.uuid(), now).await? {
                return Err(ApiError::not_found());
            }
            Job::Webhook(WebhookJob {
                delivery_id: id.uuid(),
            })
        }
        Queue::Email => {
            let id = prefixed_uuid(&id_raw, "eml_")?;
            let reset = emails::Entity::update_many()
                .col_expr(emails::Column::Status, Expr::value("pending"))
                .col_expr(emails::Column::Attempts, Expr::value(0))
                .col_expr(emails::Column::NextAttemptAt, Expr::value(now))
                .col_expr(
                    emails::Column::InFlightUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(emails::Column::Id.eq(id))
                .filter(emails::Column::Status.ne("delivered"))
                .exec(&txn)
                .await?;
            if reset.rows_affected == 0 {
                return Err(ApiError::not_found());
            }
            Job::Email(EmailJob { email_id: id })
        }
        Queue::Billing => {
            let id = prefixed_uuid(&id_raw, "led_")?;
            let reset = ledger::Entity::update_many()
                .col_expr(ledger::Column::Status, Expr::value("pending"))
                .col_expr(ledger::Column::SettleAttempts, Expr::value(0))
                .col_expr(ledger::Column::NextAttemptAt, Expr::value(now))
                .filter(ledger::Column::Id.eq(id))
                .filter(ledger::Column::Status.ne("settled"))
                .exec(&txn)
                .await?;
            if reset.rows_affected == 0 {
                return Err(ApiError::not_found());
            }
            Job::Billing(BillingJob { entry_id: id })
        }
        Queue::Privacy => {
            let tenant_id: Uuid = path_id(&id_raw)?;
            let reset = erasures::Entity::update_many()
                .col_expr(erasures::Column::Status, Expr::value("pending"))
                .filter(erasures::Column::TenantId.eq(tenant_id))
                .filter(erasures::Column::Status.ne("pending"))
                .exec(&txn)
                .await?;
            if reset.rows_affected == 0 {
                return Err(ApiError::not_found());
            }
            Job::Privacy(PrivacyJob { tenant_id })
        }
        // A failed SLA run schedules itself again: there are no dead SLA jobs to retry.
        Queue::Sla => return Err(ApiError::not_found()),
    };
    workers::outbox::enqueue(&txn, job, now, now).await?;
    txn.commit().await?;
    state.jobs.nudge.nudge();
    Ok(HttpResponse::Accepted().json(JobRetried {
        queue: queue.as_str(),
        id: id_raw,
        status: "pending",
    }))
}
