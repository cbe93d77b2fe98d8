//! `/admin/queues`: what every queue holds, its dead jobs, and replaying them (docs/API.md §7).
//! The work is `crate::queues`'.
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workers::jobs::Queue;

use crate::app::AppState;
use crate::http::auth::Staff;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::query::{PageParams, QueryMap};
use crate::pagination::PageOut;
use crate::queues::{self, JobState, QueueStats};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/queues").route(web::get().to(overview)))
        .service(web::resource("/queues/{queue}/jobs").route(web::get().to(list_jobs)))
        .service(web::resource("/queues/{queue}/jobs/{id}/retry").route(web::post().to(retry_job)));
}

pub fn parse_queue(raw: &str) -> ApiResult<Queue> {
    Queue::parse(raw).ok_or_else(ApiError::not_found)
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
        queues.push(queues::stats(&state.db, &state.jobs.transport, queue, now).await?);
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

/// A page of jobs: the one list envelope, documented with each job's fields (a job is
/// built as JSON, its shape differing per queue).
#[derive(Serialize, ToSchema)]
#[schema(value_type = PageOut<JobOut>)]
struct JobList(PageOut<serde_json::Value>);

/// The job list's filter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobStateParams {
    /// Default `dead`.
    #[param(inline, value_type = Option<JobState>)]
    pub state: Option<String>,
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
    let job_state = JobState::parse(q.get("state").unwrap_or("dead")).ok_or_else(|| {
        ApiError::validation(
            "state",
            "`state` must be one of dead, failed, pending, done",
        )
    })?;
    let (data, total) = queues::jobs(&state.db, queue, job_state, page).await?;
    Ok(HttpResponse::Ok().json(JobList(PageOut::new(data, total, page))))
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
    queues::retry(&state.db, queue, &id_raw, Utc::now()).await?;
    state.jobs.nudge.nudge();
    Ok(HttpResponse::Accepted().json(JobRetried {
        queue: queue.as_str(),
        id: id_raw,
        status: "pending",
    }))
}
