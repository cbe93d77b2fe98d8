//! The system-status banner: `GET /v1/support/status` (no key needed) and
//! `PUT /admin/support/status`.
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::Staff;
use crate::error::{ApiError, ApiResult};
use crate::http::json::JsonBody;
use crate::status_banner::Level;

pub fn tenant_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/support/status").route(web::get().to(get_status)));
}

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/support/status").route(web::put().to(put_status)));
}

async fn get_status(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.banner.get(&state.db).await?))
}

/// Longest banner message, in characters.
const MAX_MESSAGE_CHARS: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusIn {
    status: Option<String>,
    message: Option<String>,
}

async fn put_status(
    state: web::Data<AppState>,
    _: Staff,
    JsonBody(input): JsonBody<StatusIn>,
) -> ApiResult<HttpResponse> {
    let level = input
        .status
        .as_deref()
        .and_then(Level::parse)
        .ok_or_else(|| {
            ApiError::validation(
                "status",
                "`status` must be one of operational, degraded, outage",
            )
        })?;
    let message = input.message.unwrap_or_default().trim().to_string();
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::validation(
            "message",
            format!("`message` must be at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    Ok(HttpResponse::Ok().json(state.banner.set(&state.db, level, message).await?))
}
