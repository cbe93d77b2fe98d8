//! `POST /admin/tenants/{id}/erasure`: the operators' side of `POST /v1/account/erasure`.
use actix_web::{HttpResponse, web};
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::Staff;
use crate::http::erasure::{ErasureOut, request};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::path::path_id;
use crate::tenants;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tenants/{id}/erasure").route(web::post().to(admin_request_erasure)),
    );
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
    let tenant_id: Uuid = path_id(&path)?;
    tenants::manage::get(&state.db, tenant_id).await?;
    request(&state, tenant_id).await
}
