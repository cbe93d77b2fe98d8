//! The system-status banner: `GET /v1/support/status` (no key needed). Operators set it
//! with `PUT /admin/support/status` (`src/http/admin/banner.rs`).
use actix_web::{HttpResponse, web};

use crate::app::AppState;
use crate::banner::Banner;
use crate::http::error::{ApiResult, ErrorBody};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/support/status").route(web::get().to(get_status)));
}

/// Read the status banner
///
/// Public: no key needed. Every node shows a change within a second.
///
/// From a browser: answers CORS preflights, and its answers carry `Access-Control-Allow-Origin`
/// echoing the page's `Origin` (`Vary: Origin`) when the request carries no key or a
/// publishable key, never a secret key. A publishable key with `allowed_origins` sent by a
/// page on another origin answers `403 origin_not_allowed`.
#[utoipa::path(
    get,
    path = "/v1/support/status",
    tag = "status",
    responses(
        (status = 200, description = "The current banner", body = Banner,
         headers(
            ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`, when it carries one and no key or a publishable key"),
            ("Vary" = String, description = "`Origin`"),
         ),
         example = json!({"status": "operational", "message": "All systems operational", "updated_at": null})),
        (status = 403, description = "`origin_not_allowed` (detail: the origin): a publishable key sent by a web page on an origin its `allowed_origins` do not list", body = ErrorBody,
         example = json!({"error": "This publishable key may not be used from this website's origin; add it to the key's allowed_origins", "code": "origin_not_allowed", "detail": "https://evil.example"})),
    ),
)]
async fn get_status(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.banner.get(&state.db).await?))
}
