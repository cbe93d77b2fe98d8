//! Erasure of a tenant's personal data (docs/API.md §9): `POST /v1/account/erasure` → `202` and a
//! privacy job; `GET /v1/account/erasure` for its state. The operators' side is
//! `src/http/admin/erasure.rs`; the rules are in `src/account/erasure.rs`.
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use entities::erasure_requests as requests;
use serde::Serialize;
use uuid::Uuid;

use crate::account::erasure;
use crate::app::AppState;
use crate::http::auth::SecretKey;
use crate::http::error::ApiResult;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/erasure")
            .route(web::get().to(get_erasure))
            .route(web::post().to(request_erasure)),
    );
}

/// The state of the tenant's erasure request.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErasureOut {
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
            status: r.status.to_string(),
            requested_at: Some(r.requested_at),
            completed_at: r.completed_at,
        },
    }
}

/// Requests erasure and answers `202` with the request's state.
pub(crate) async fn request(state: &AppState, tenant_id: Uuid) -> ApiResult<HttpResponse> {
    let requested = erasure::request(&state.db, tenant_id, Utc::now()).await?;
    if requested.queued {
        state.jobs.nudge.nudge();
    }
    Ok(HttpResponse::Accepted().json(view(requested.request)))
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
    let found = erasure::latest(&state.db, key.tenant_id).await?;
    Ok(HttpResponse::Ok().json(view(found)))
}
