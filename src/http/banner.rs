//! The system-status banner: `GET /v1/support/status` (no key needed). Operators set it
//! with `PUT /admin/support/status` (`src/http/admin/banner.rs`).
use actix_web::{HttpResponse, web};

use crate::app::AppState;
use crate::banner::Banner;
use crate::http::error::ApiResult;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/support/status").route(web::get().to(get_status)));
}

/// Read the status banner
///
/// Public: no key needed. Every node shows a change within a second.
#[utoipa::path(
    get,
    path = "/v1/support/status",
    tag = "status",
    responses((status = 200, description = "The current banner", body = Banner,
               example = json!({"status": "operational", "message": "All systems operational", "updated_at": null}))),
)]
async fn get_status(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.banner.get(&state.db).await?))
}
