//! Erasure of a tenant's personal data (SPEC §9): `POST /v1/account/erasure` → `202` and a
//! privacy job; `GET /v1/account/erasure` for its state; `POST /admin/tenants/{id}/erasure`
//! for operators. Asking again while one is pending or running changes nothing.
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use entities::{erasure_requests as requests, tenants};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde::Serialize;
use uuid::Uuid;
use workers::jobs::{Job, PrivacyJob};

use crate::app::AppState;
use crate::auth::{SecretKey, Staff};
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn tenant_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/erasure")
            .route(web::get().to(get_erasure))
            .route(web::post().to(request_erasure)),
    );
}

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tenants/{id}/erasure").route(web::post().to(admin_request_erasure)),
    );
}

/// The state of the tenant's erasure request.
#[derive(Serialize, utoipa::ToSchema)]
struct ErasureOut {
    #[schema(example = "erasure")]
    object: &'static str,
    /// `none`, `pending`, `running` or `done`.
    #[schema(example = "pending")]
    status: String,
    requested_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

fn view(request: Option<requests::Model>) -> ErasureOut {
    match request {
        None => ErasureOut {
            object: "erasure",
            status: "none".into(),
            requested_at: None,
            completed_at: None,
        },
        Some(r) => ErasureOut {
            object: "erasure",
            status: r.status,
            requested_at: Some(r.requested_at),
            completed_at: r.completed_at,
        },
    }
}

async fn request(state: &AppState, tenant_id: Uuid) -> ApiResult<HttpResponse> {
    let now = Utc::now();
    let txn = crate::db::begin_write(&state.db).await?;
    let existing = requests::Entity::find_by_id(tenant_id).one(&txn).await?;
    if existing.as_ref().is_some_and(|r| r.status != "done") {
        txn.rollback().await?;
        return Ok(HttpResponse::Accepted().json(view(existing)));
    }
    requests::Entity::insert(requests::ActiveModel {
        tenant_id: Set(tenant_id),
        status: Set("pending".into()),
        requested_at: Set(now),
        completed_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(requests::Column::TenantId)
            .update_columns([
                requests::Column::Status,
                requests::Column::RequestedAt,
                requests::Column::CompletedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    workers::outbox::enqueue(&txn, Job::Privacy(PrivacyJob { tenant_id }), now, now).await?;
    let saved = requests::Entity::find_by_id(tenant_id).one(&txn).await?;
    txn.commit().await?;
    state.jobs.nudge.nudge();
    Ok(HttpResponse::Accepted().json(view(saved)))
}

/// Erase the account's personal data
///
/// Queues a privacy job: contact emails, ticket subjects and descriptions and message bodies
/// become `"[erased]"`; webhook and email payloads holding them are deleted. Ids, timestamps,
/// categories, statuses and the ledger stay. Asking again while one is pending or running
/// changes nothing.
#[utoipa::path(
    post,
    path = "/v1/account/erasure",
    tag = "account",
    responses((status = 202, description = "Erasure requested (or already under way)", body = ErasureOut)),
    security(("secret_key" = [])),
)]
async fn request_erasure(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    request(&state, key.tenant_id).await
}

/// Read the erasure state
///
/// Whether an erasure of the account's personal data was requested, and how far it has got.
#[utoipa::path(
    get,
    path = "/v1/account/erasure",
    tag = "account",
    responses((status = 200, description = "The latest erasure request, or status `none`", body = ErasureOut)),
    security(("secret_key" = [])),
)]
async fn get_erasure(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let found = requests::Entity::find_by_id(key.tenant_id)
        .one(&state.db)
        .await?;
    Ok(HttpResponse::Ok().json(view(found)))
}

/// Erase a tenant's personal data
///
/// The operator's side of `POST /v1/account/erasure`.
#[utoipa::path(
    post,
    path = "/admin/tenants/{id}/erasure",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id (UUID)")),
    responses(
        (status = 202, description = "Erasure requested (or already under way)", body = ErasureOut),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn admin_request_erasure(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let tenant_id: Uuid = path.parse().map_err(|_| ApiError::not_found())?;
    tenants::Entity::find_by_id(tenant_id)
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    request(&state, tenant_id).await
}
