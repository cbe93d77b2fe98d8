//! `PUT /admin/support/status`: operators set the status banner every tenant reads.
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::banner::{Banner, Level};
use crate::http::auth::Staff;
use crate::http::error::ApiResult;
use crate::http::json::JsonBody;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/support/status").route(web::put().to(put_status)));
}

/// The new banner.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "degraded", "message": "Webhook deliveries are delayed"}))]
struct StatusIn {
    #[schema(value_type = Level, required = true)]
    status: Option<String>,
    /// At most 500 characters; empty when absent.
    #[schema(max_length = 500)]
    message: Option<String>,
}

/// Set the status banner
///
/// Sets the status level and message that `GET /v1/support/status` shows every tenant; every node serves the new banner within a second.
#[utoipa::path(
    put,
    path = "/admin/support/status",
    tag = "admin",
    request_body = StatusIn,
    responses((status = 200, description = "The banner as stored", body = Banner)),
    security(("staff_token" = [])),
)]

async fn put_status(
    state: web::Data<AppState>,
    _: Staff,
    JsonBody(input): JsonBody<StatusIn>,
) -> ApiResult<HttpResponse> {
    let banner = state
        .banner
        .publish(&state.db, input.status.as_deref(), input.message.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(banner))
}
