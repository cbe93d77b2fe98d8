//! `/v1/numbers`: bring-your-own-carrier number registrations (docs/API.md §8). There is no
//! carrier inventory search or purchase.
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::domain::validate::E164Number;
use crate::http::auth::SecretKey;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::query::{PageParams, QueryMap};
use crate::numbers::NumberError;
use crate::numbers::registrations::{self, Registered};
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
    E164Number::parse(raw).map_err(|_| NumberError::NoSuchNumber.into())
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

/// A number to register, optionally attached to an agent.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"number": "+15551234567", "agent_id": "0193a0b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b"}))]
struct NumberIn {
    /// E.164: `+` then 2–15 digits, the first not 0.
    #[schema(value_type = String, required = true, example = "+15551234567")]
    number: Option<String>,
    /// An agent of this tenant; `null` or absent leaves the number unattached (or, when
    /// already registered, unchanged).
    #[schema(value_type = Option<uuid::Uuid>)]
    agent_id: Option<String>,
}

/// A number registration.
#[derive(Serialize, ToSchema)]
struct NumberRegistered {
    #[schema(example = "registered")]
    status: &'static str,
    #[schema(example = "+15551234567")]
    number: String,
    agent_id: Option<Uuid>,
}

/// Register a number
///
/// Bring your own carrier: registers a number this tenant already holds. No carrier
/// inventory search or purchase exists, by design.
#[utoipa::path(
    post,
    path = "/v1/numbers",
    tag = "numbers",
    request_body = NumberIn,
    responses(
        (status = 201, description = "Newly registered", body = NumberRegistered),
        (status = 200, description = "Already this tenant's (`agent_id` updated when given)", body = NumberRegistered),
        (status = 404, description = "`not_found` (detail `agent_id`): no such agent of this tenant", body = ErrorBody),
        (status = 409, description = "`number_taken`: registered to another account; `limit_reached` (detail `numbers`): the account has 1,000 numbers; `concurrent_update`: retry", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]

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
        registrations::register(&state.db, key.tenant_id, &number, agent_id, Utc::now()).await?;
    let (mut response, row) = match registered {
        Registered::Created(row) => (HttpResponse::Created(), row),
        Registered::Existing(row) => (HttpResponse::Ok(), row),
    };
    Ok(response.json(NumberRegistered {
        status: "registered",
        number: row.number,
        agent_id: row.agent_id,
    }))
}

/// The agent to attach a number to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"agent_id": "0193a0b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b"}))]
struct AttachIn {
    #[schema(value_type = uuid::Uuid, required = true)]
    agent_id: Option<String>,
}

/// A number attached to an agent.
#[derive(Serialize, ToSchema)]
struct NumberAttached {
    #[schema(example = "attached")]
    status: &'static str,
    agent_id: Option<Uuid>,
    #[schema(example = "+15551234567")]
    number: String,
}

/// Attach a number to an agent
///
/// Points one of the tenant's numbers at one of its agents, replacing any earlier agent.
#[utoipa::path(
    post,
    path = "/v1/numbers/{number}/attach",
    tag = "numbers",
    params(("number" = String, Path, description = "E.164, as `+1555…` or `%2B1555…`", example = "+15551234567")),
    request_body = AttachIn,
    responses(
        (status = 201, description = "Attached", body = NumberAttached),
        (status = 404, description = "`not_found` (detail `number` or `agent_id`): no such number or agent of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]

async fn attach_number(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
    JsonBody(body): JsonBody<AttachIn>,
) -> ApiResult<HttpResponse> {
    let agent_id = body_agent_id(body.agent_id.as_deref())?
        .ok_or_else(|| ApiError::validation("agent_id", "`agent_id` is required"))?;
    let number = path_number(&path)?;
    let row =
        registrations::attach(&state.db, key.tenant_id, &number, agent_id, Utc::now()).await?;
    Ok(HttpResponse::Created().json(NumberAttached {
        status: "attached",
        agent_id: row.agent_id,
        number: row.number,
    }))
}

/// A page of registered numbers.
#[derive(Serialize, ToSchema)]
struct NumberList {
    numbers: Vec<NumberOut>,
    total: u64,
    offset: u64,
    limit: u64,
}

/// List numbers
///
/// The tenant's phone numbers, with the agent each is attached to.
#[utoipa::path(
    get,
    path = "/v1/numbers",
    tag = "numbers",
    params(PageParams),
    responses(
        (status = 200, description = "A page of numbers", body = NumberList),
        (status = 400, description = "`validation_failed`: `limit` or `offset` is invalid", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_numbers(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let (rows, total) = registrations::list(&state.db, key.tenant_id, page).await?;
    let data: Vec<NumberOut> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(NumberList {
        numbers: data,
        total,
        offset: page.offset,
        limit: page.limit,
    }))
}

/// A removed number.
#[derive(Serialize, ToSchema)]
struct NumberRemoved {
    #[schema(example = "removed")]
    status: &'static str,
    #[schema(example = "+15551234567")]
    number: String,
}

/// Remove a number
///
/// Releases the number: it no longer belongs to this account and may be registered again.
#[utoipa::path(
    delete,
    path = "/v1/numbers/{number}",
    tag = "numbers",
    params(("number" = String, Path, description = "E.164, as `+1555…` or `%2B1555…`", example = "+15551234567")),
    responses(
        (status = 200, description = "Removed", body = NumberRemoved),
        (status = 404, description = "`not_found` (detail `number`): not this tenant's number", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn remove_number(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let number = path_number(&path)?;
    registrations::remove(&state.db, key.tenant_id, &number).await?;
    Ok(HttpResponse::Ok().json(NumberRemoved {
        status: "removed",
        number: number.as_str().to_string(),
    }))
}
