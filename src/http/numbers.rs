//! `/v1/numbers`: bring-your-own-carrier number registrations (SPEC §8,
//! `seeds/004_bbdcd3283d2d2059.txt`). There is no carrier inventory search or purchase.
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::SecretKey;
use crate::domain::validate::E164Number;
use crate::error::{ApiError, ApiResult};
use crate::http::json::JsonBody;
use crate::http::query::QueryMap;
use crate::numbers::no_such_number;
use crate::numbers::registry::{self, Registered};
use crate::numbers::view::NumberOut;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/numbers")
            .route(web::get().to(list_numbers))
            .route(web::post().to(register_number)),
    )
    .service(web::resource("/numbers/{number}").route(web::delete().to(remove_number)))
    .service(web::resource("/numbers/{number}/attach").route(web::post().to(attach_number)));
}

/// The `{number}` path segment, sent as `+1555…` or `%2B1555…` (the router decodes the
/// latter). Something that is not E.164 cannot be registered, so it answers 404.
fn path_number(raw: &str) -> ApiResult<E164Number> {
    E164Number::parse(raw).map_err(|_| no_such_number())
}

/// A body `agent_id`: absent or null is `None`; anything else must be a UUID.
fn body_agent_id(raw: Option<&str>) -> ApiResult<Option<Uuid>> {
    raw.map(|raw| {
        Uuid::try_parse(raw.trim()).map_err(|_| {
            ApiError::validation("agent_id", "`agent_id` must be an agent id (a UUID)")
        })
    })
    .transpose()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumberIn {
    number: Option<String>,
    agent_id: Option<String>,
}

async fn register_number(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    JsonBody(body): JsonBody<NumberIn>,
) -> ApiResult<HttpResponse> {
    let number = body
        .number
        .as_deref()
        .ok_or_else(|| ApiError::validation("number", "`number` is required"))?;
    let number = E164Number::parse(number)?;
    let agent_id = body_agent_id(body.agent_id.as_deref())?;
    let registered =
        registry::register(&state.db, key.tenant_id, &number, agent_id, Utc::now()).await?;
    let (mut response, row) = match registered {
        Registered::Created(row) => (HttpResponse::Created(), row),
        Registered::Existing(row) => (HttpResponse::Ok(), row),
    };
    Ok(response.json(json!({
        "status": "registered", "number": row.number, "agent_id": row.agent_id,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachIn {
    agent_id: Option<String>,
}

async fn attach_number(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
    JsonBody(body): JsonBody<AttachIn>,
) -> ApiResult<HttpResponse> {
    let agent_id = body_agent_id(body.agent_id.as_deref())?
        .ok_or_else(|| ApiError::validation("agent_id", "`agent_id` is required"))?;
    let number = path_number(&path)?;
    let row = registry::attach(&state.db, key.tenant_id, &number, agent_id, Utc::now()).await?;
    Ok(HttpResponse::Created().json(json!({
        "status": "attached", "agent_id": row.agent_id, "number": row.number,
    })))
}

async fn list_numbers(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let (rows, total) = registry::list(&state.db, key.tenant_id, page).await?;
    let data: Vec<NumberOut> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(json!({
        "numbers": data, "total": total, "offset": page.offset, "limit": page.limit,
    })))
}

async fn remove_number(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let number = path_number(&path)?;
    registry::remove(&state.db, key.tenant_id, &number).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "removed", "number": number.as_str()})))
}
