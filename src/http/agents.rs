//! `/v1/agents`: the tenant's agents, which numbers are attached to (docs/API.md §8).
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::domain::agent::AgentDescription;
use crate::domain::validate::Name;
use crate::http::auth::SecretKey;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::keys::Deleted;
use crate::http::query::{PageParams, QueryMap};
use crate::numbers::NumberError;
use crate::numbers::agents::{self, AgentFields};
use crate::numbers::view::AgentOut;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agents")
            .route(web::get().to(list_agents))
            .route(web::post().to(create_agent)),
    )
    .service(
        web::resource("/agents/{id}")
            .route(web::get().to(get_agent))
            .route(web::put().to(replace_agent))
            .route(web::delete().to(delete_agent)),
    );
}

/// A path id that is malformed answers 404, like an unknown one.
fn agent_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::try_parse(raw).map_err(|_| NumberError::NoSuchAgent.into())
}

/// The body of `POST` and `PUT`: `PUT` replaces both fields, so an absent description
/// clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Front desk", "description": "Answers the main line"}))]
struct AgentIn {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(max_length = 1000)]
    description: Option<String>,
}

impl AgentIn {
    fn parse(self) -> ApiResult<AgentFields> {
        let name = self
            .name
            .as_deref()
            .ok_or_else(|| ApiError::validation("name", "`name` is required"))?;
        Ok(AgentFields {
            name: Name::parse(name, "name")?,
            description: AgentDescription::parse_optional(self.description.as_deref())?,
        })
    }
}

/// Create an agent
///
/// An agent that numbers can be attached to. An account holds at most 500 agents.
#[utoipa::path(
    post,
    path = "/v1/agents",
    tag = "numbers",
    request_body = AgentIn,
    responses(
        (status = 201, description = "The new agent", body = AgentOut),
        (status = 409, description = "`limit_reached` (detail `agents`): the account has 500 agents", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn create_agent(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    JsonBody(body): JsonBody<AgentIn>,
) -> ApiResult<HttpResponse> {
    let fields = body.parse()?;
    let agent = agents::create(&state.db, key.tenant_id, fields, Utc::now()).await?;
    Ok(HttpResponse::Created().json(AgentOut::from(agent)))
}

/// A page of agents.
#[derive(Serialize, ToSchema)]
struct AgentList {
    agents: Vec<AgentOut>,
    total: u64,
    limit: u64,
    offset: u64,
}

/// List agents
///
/// The tenant's agents, newest first.
#[utoipa::path(
    get,
    path = "/v1/agents",
    tag = "numbers",
    params(PageParams),
    responses(
        (status = 200, description = "A page of agents", body = AgentList),
        (status = 400, description = "`validation_failed`: `limit` or `offset` is invalid", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_agents(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let (rows, total) = agents::list(&state.db, key.tenant_id, page).await?;
    let data: Vec<AgentOut> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(AgentList {
        agents: data,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Get an agent
///
/// One agent of the tenant, with its name and description.
#[utoipa::path(
    get,
    path = "/v1/agents/{id}",
    tag = "numbers",
    params(("id" = String, Path, description = "Agent id (UUID)")),
    responses(
        (status = 200, description = "The agent", body = AgentOut),
        (status = 404, description = "`not_found` (detail `agent_id`): no such agent of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn get_agent(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let agent = agents::find(&state.db, key.tenant_id, agent_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(AgentOut::from(agent)))
}

/// Replace an agent
///
/// Replaces both fields: an absent `description` clears it.
#[utoipa::path(
    put,
    path = "/v1/agents/{id}",
    tag = "numbers",
    params(("id" = String, Path, description = "Agent id (UUID)")),
    request_body = AgentIn,
    responses(
        (status = 200, description = "The agent", body = AgentOut),
        (status = 404, description = "`not_found` (detail `agent_id`): no such agent of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn replace_agent(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
    JsonBody(body): JsonBody<AgentIn>,
) -> ApiResult<HttpResponse> {
    let id = agent_id(&path)?;
    let fields = body.parse()?;
    let agent = agents::replace(&state.db, key.tenant_id, id, fields, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(AgentOut::from(agent)))
}

/// Delete an agent
///
/// Its numbers stay registered, detached.
#[utoipa::path(
    delete,
    path = "/v1/agents/{id}",
    tag = "numbers",
    params(("id" = String, Path, description = "Agent id (UUID)")),
    responses(
        (status = 200, description = "The agent is gone", body = Deleted),
        (status = 404, description = "`not_found` (detail `agent_id`): no such agent of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn delete_agent(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = agent_id(&path)?;
    agents::delete(&state.db, key.tenant_id, id, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(Deleted {
        id: id.to_string(),
        object: "agent",
        deleted: true,
    }))
}
