//! `GET /admin/staff`: the operators a ticket may be assigned to.
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::http::auth::Staff;
use crate::http::error::ApiResult;
use crate::staff;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/staff").route(web::get().to(list_staff)));
}

/// An operator.
#[derive(Serialize, ToSchema)]
struct StaffOut {
    /// What `assignee_id` names.
    id: uuid::Uuid,
    #[schema(example = "staff_operator")]
    object: &'static str,
    #[schema(example = "alice")]
    name: String,
    created_at: DateTime<Utc>,
}

/// Every active operator, by name.
#[derive(Serialize, ToSchema)]
struct StaffList {
    data: Vec<StaffOut>,
}

/// List operators
///
/// The operators whose token is not revoked: who a ticket may be assigned to. The bootstrap
/// `HELPLINE_ADMIN_TOKEN` is not an operator and is not listed.
#[utoipa::path(
    get,
    path = "/admin/staff",
    tag = "admin",
    responses((status = 200, description = "The operators", body = StaffList)),
    security(("staff_token" = [])),
)]
async fn list_staff(state: web::Data<AppState>, _: Staff) -> ApiResult<HttpResponse> {
    let data = staff::list(&state.db)
        .await?
        .into_iter()
        .map(|s| StaffOut {
            id: s.id,
            object: "staff_operator",
            name: s.name,
            created_at: s.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(StaffList { data }))
}
