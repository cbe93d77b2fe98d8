//! `/admin/bots`: tokens for automated repliers (docs/API.md §7).
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::bots::{self, BotOut};
use crate::domain::ids::BotId;
use crate::domain::validate::Name;
use crate::http::auth::Staff;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::path::path_id;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/bots")
            .route(web::get().to(list_bots))
            .route(web::post().to(create_bot)),
    )
    .service(web::resource("/bots/{id}").route(web::delete().to(revoke_bot)));
}

/// A new bot.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "triage_bot"}))]
struct BotIn {
    /// 1–200 characters: the `author_name` of the bot's messages.
    name: String,
}

/// A new bot and its token.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "bot": {"id": "bot_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b", "object": "bot", "name": "triage_bot",
            "prefix": "hl_bot_Ab3dE6gH", "created_at": "2026-12-01T10:00:00Z", "revoked_at": null},
    "token": "hl_bot_Ab3dE6gHkL9mN2pQ5rS8tV1wX4yZ7aC0dF3gJ6kM9nP2qR5s0aB1cD"
}))]
struct BotCreated {
    bot: BotOut,
    /// Shown once; only its hash is stored.
    token: String,
}

/// Every active bot, newest first.
#[derive(Serialize, ToSchema)]
struct BotList {
    data: Vec<BotOut>,
}

/// Create a bot
///
/// Mints a bot token (`hl_bot_…`), shown once. A bot may list and read tickets
/// (`GET /admin/support/tickets…`) and post `POST /admin/support/tickets/{id}/reply` with
/// `body` and `internal`; its messages have `author` `triage_bot` and the bot's name as
/// `author_name`, never count as the first response and never change the status. Every other
/// route answers `403`. A bot is rate-limited like a tenant on the `base` plan.
#[utoipa::path(
    post,
    path = "/admin/bots",
    tag = "admin",
    request_body = BotIn,
    responses(
        (status = 201, description = "The bot and its token (shown once)", body = BotCreated),
        (status = 400, description = "`validation_failed`: `name` is missing or invalid", body = ErrorBody),
        (status = 403, description = "`forbidden`: a bot token cannot manage bots", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn create_bot(
    state: web::Data<AppState>,
    _: Staff,
    JsonBody(input): JsonBody<BotIn>,
) -> ApiResult<HttpResponse> {
    let name = Name::parse(&input.name, "name")?;
    let (bot, token) = bots::create(&state.db, name, Utc::now()).await?;
    Ok(HttpResponse::Created().json(BotCreated {
        bot: BotOut::from(bot),
        token: token.token,
    }))
}

/// List bots
///
/// The bots whose token is not revoked, newest first; tokens are never shown again.
#[utoipa::path(
    get,
    path = "/admin/bots",
    tag = "admin",
    responses(
        (status = 200, description = "The active bots", body = BotList),
        (status = 403, description = "`forbidden`: a bot token cannot manage bots", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn list_bots(state: web::Data<AppState>, _: Staff) -> ApiResult<HttpResponse> {
    let data = bots::list(&state.db)
        .await?
        .into_iter()
        .map(BotOut::from)
        .collect();
    Ok(HttpResponse::Ok().json(BotList { data }))
}

/// Revoke a bot
///
/// The bot's token stops working at once on this node and within 5 seconds on the others.
#[utoipa::path(
    delete,
    path = "/admin/bots/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Bot id (`bot_…`)")),
    responses(
        (status = 200, description = "The revoked bot", body = BotOut),
        (status = 403, description = "`forbidden`: a bot token cannot manage bots", body = ErrorBody),
        (status = 404, description = "`not_found`: no such bot, or already revoked", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn revoke_bot(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id: BotId = path_id(&path)?;
    let bot = bots::revoke(&state.db, id.uuid(), Utc::now())
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.auth.forget(&bot.token_hash);
    Ok(HttpResponse::Ok().json(BotOut::from(bot)))
}
