//! `/v1/webhooks`: tenant webhook endpoints, their deliveries, manual retry and test events
//! (docs/API.md §5).
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use entities::values::DeliveryStatus;
use entities::{webhook_deliveries as deliveries, webhook_endpoints as endpoints};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::domain::ids::{DeliveryId, EventId, WebhookId};
use crate::http::auth::SecretKey;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::keys::Deleted;
use crate::http::path::path_id;
use crate::http::query::{PageParams, QueryMap};
use crate::pagination::PageOut;
use crate::webhooks::WebhookError;
use crate::webhooks::deliveries as webhook_deliveries;
use crate::webhooks::endpoints::{self as webhook_endpoints, EndpointChange, NewEndpoint};
use crate::webhooks::events;
use crate::webhooks::input;
use crate::webhooks::view::{EndpointOut, WebhookEventType};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks")
            .route(web::get().to(list_endpoints))
            .route(web::post().to(create_endpoint)),
    )
    .service(
        web::resource("/webhooks/{id}")
            .route(web::get().to(get_endpoint))
            .route(web::patch().to(update_endpoint))
            .route(web::delete().to(delete_endpoint)),
    )
    .service(web::resource("/webhooks/{id}/rotate-secret").route(web::post().to(rotate_secret)))
    .service(web::resource("/webhooks/{id}/test").route(web::post().to(send_test)))
    .service(web::resource("/webhooks/{id}/deliveries").route(web::get().to(list_deliveries)))
    .service(
        web::resource("/webhooks/{id}/deliveries/{delivery}/retry")
            .route(web::post().to(retry_delivery)),
    );
}

/// One delivery of an event to an endpoint (all its attempts).
#[derive(Serialize, ToSchema)]
pub struct DeliveryOut {
    #[schema(example = "dlv_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    id: String,
    #[schema(example = "webhook_delivery")]
    object: &'static str,
    #[schema(example = "evt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    event_id: String,
    #[schema(example = "support.ticket_created")]
    event_type: String,
    /// `pending`, `delivered` or `failed` (out of attempts).
    #[schema(example = "pending")]
    status: String,
    attempts: i32,
    /// The receiver's last HTTP status.
    response_status: Option<i32>,
    last_error: Option<String>,
    /// When the next attempt runs (pending deliveries only).
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl From<deliveries::Model> for DeliveryOut {
    fn from(d: deliveries::Model) -> Self {
        let pending = d.status == DeliveryStatus::Pending;
        Self {
            id: DeliveryId::from_uuid(d.id).to_string(),
            object: "webhook_delivery",
            event_id: EventId::from_uuid(d.event_id).to_string(),
            event_type: d.event_type,
            status: d.status.to_string(),
            attempts: d.attempts,
            response_status: d.response_status,
            last_error: d.last_error,
            next_attempt_at: if pending { d.next_attempt_at } else { None },
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

fn endpoint_uuid(raw: &str) -> ApiResult<Uuid> {
    path_id::<WebhookId>(raw).map(|id| id.uuid())
}

async fn find_endpoint(
    state: &AppState,
    tenant_id: Uuid,
    raw: &str,
) -> ApiResult<endpoints::Model> {
    Ok(webhook_endpoints::get(&state.db, tenant_id, endpoint_uuid(raw)?).await?)
}

/// A webhook endpoint to create (`url` required) or the fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://hooks.acme.com/helpline",
    "events": ["support.ticket_created", "support.message_created"],
    "description": "Ops channel"
}))]
struct EndpointIn {
    /// `http` or `https`; refused when its host resolves to a loopback, private, link-local
    /// or metadata address. Required on create.
    #[schema(format = "uri", max_length = 2048)]
    url: Option<String>,
    /// Default: none.
    #[schema(value_type = Option<Vec<WebhookEventType>>)]
    events: Option<Vec<String>>,
    #[schema(max_length = 500)]
    description: Option<String>,
    /// Default `true`; enabling clears `disabled_reason`.
    enabled: Option<bool>,
}

/// Create a webhook endpoint
///
/// The answer carries the signing secret (`whsec_…`), shown once. Deliveries are signed
/// with Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = EndpointIn,
    responses(
        (status = 201, description = "The endpoint, with its secret", body = EndpointOut),
        (status = 409, description = "`limit_reached` (detail `webhook_endpoints`): the account has 20 endpoints", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]

async fn create_endpoint(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    JsonBody(input): JsonBody<EndpointIn>,
) -> ApiResult<HttpResponse> {
    let raw_url = input
        .url
        .as_deref()
        .ok_or_else(|| ApiError::validation("url", "`url` is required"))?;
    let events = input::events(input.events)?;
    let description = input::description(input.description)?;
    // Last: it may resolve the host.
    let url = input::url(raw_url, state.config.allow_private_targets).await?;
    let new = NewEndpoint {
        url,
        events,
        description,
        enabled: input.enabled.unwrap_or(true),
    };
    let (created, secret) =
        webhook_endpoints::create(&state.db, key.tenant_id, new, Utc::now()).await?;
    let mut out = EndpointOut::from(created);
    out.secret = Some(secret);
    Ok(HttpResponse::Created().json(out))
}

/// List webhook endpoints
///
/// The tenant's webhook endpoints, newest first, without their signing secrets.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    params(PageParams),
    responses(
        (status = 200, description = "A page of endpoints, newest first", body = PageOut<EndpointOut>),
        (status = 400, description = "`validation_failed`: `limit` or `offset` is invalid", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_endpoints(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let (rows, total) = webhook_endpoints::list(&state.db, key.tenant_id, page).await?;
    let data: Vec<EndpointOut> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(PageOut::new(data, total, page)))
}

/// Get a webhook endpoint
///
/// One endpoint: its URL, subscribed events, state and why it was disabled, without its signing secret.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (`whk_…`)")),
    responses(
        (status = 200, description = "The endpoint (without its secret)", body = EndpointOut),
        (status = 404, description = "`not_found`: no such endpoint of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn get_endpoint(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let endpoint = find_endpoint(&state, key.tenant_id, &path).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::from(endpoint)))
}

/// Update a webhook endpoint
///
/// Changes the fields sent.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (`whk_…`)")),
    request_body = EndpointIn,
    responses(
        (status = 200, description = "The endpoint", body = EndpointOut),
        (status = 404, description = "`not_found`: no such endpoint of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn update_endpoint(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
    JsonBody(input): JsonBody<EndpointIn>,
) -> ApiResult<HttpResponse> {
    let events = input.events.map(|e| input::events(Some(e))).transpose()?;
    let description = input
        .description
        .map(|d| input::description(Some(d)))
        .transpose()?;
    let url = match input.url.as_deref() {
        Some(raw) => Some(input::url(raw, state.config.allow_private_targets).await?),
        None => None,
    };
    let endpoint = find_endpoint(&state, key.tenant_id, &path).await?;
    let change = EndpointChange {
        url,
        events,
        description,
        enabled: input.enabled,
    };
    let updated = webhook_endpoints::update(&state.db, endpoint, change, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::from(updated)))
}

/// Delete a webhook endpoint
///
/// Removes the endpoint; its pending deliveries fail with "the endpoint was deleted" and are not attempted again.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (`whk_…`)")),
    responses(
        (status = 200, description = "The endpoint is gone", body = Deleted),
        (status = 404, description = "`not_found`: no such endpoint of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn delete_endpoint(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let endpoint = find_endpoint(&state, key.tenant_id, &path).await?;
    webhook_endpoints::delete(&state.db, endpoint.id).await?;
    Ok(HttpResponse::Ok().json(Deleted {
        id: WebhookId::from_uuid(endpoint.id).to_string(),
        object: "webhook_endpoint",
        deleted: true,
    }))
}

/// Rotate a webhook endpoint's secret
///
/// The new secret is shown once, here; the old one stops signing at once.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (`whk_…`)")),
    responses(
        (status = 200, description = "The endpoint, with its new secret", body = EndpointOut),
        (status = 404, description = "`not_found`: no such endpoint of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn rotate_secret(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let endpoint = find_endpoint(&state, key.tenant_id, &path).await?;
    let (updated, secret) =
        webhook_endpoints::rotate_secret(&state.db, endpoint, Utc::now()).await?;
    let mut out = EndpointOut::from(updated);
    out.secret = Some(secret);
    Ok(HttpResponse::Ok().json(out))
}

/// A queued test event.
#[derive(Serialize, ToSchema)]
struct WebhookTest {
    #[schema(example = "webhook_test")]
    object: &'static str,
    #[schema(example = "evt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    event_id: String,
}

/// Send a test event
///
/// Queues a `webhook.test` event to this endpoint only.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (`whk_…`)")),
    responses(
        (status = 202, description = "The test event is queued", body = WebhookTest),
        (status = 404, description = "`not_found`: no such endpoint of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn send_test(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let endpoint = find_endpoint(&state, key.tenant_id, &path).await?;
    let event_id = events::send_test(
        &state.db,
        &state.config,
        key.tenant_id,
        endpoint.id,
        Utc::now(),
    )
    .await?;
    state.jobs.nudge.nudge();
    Ok(HttpResponse::Accepted().json(WebhookTest {
        object: "webhook_test",
        event_id: EventId::from_uuid(event_id).to_string(),
    }))
}

/// List an endpoint's deliveries
///
/// Newest first, with their attempts and outcome.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (`whk_…`)"), PageParams),
    responses(
        (status = 200, description = "A page of deliveries", body = PageOut<DeliveryOut>,
         links(("RetryDelivery" = (
             operation_id = "retry_delivery",
             parameters(("id" = "$request.path.id"), ("delivery" = "$response.body#/data/0/id")),
             description = "Retry the newest delivery",
         )))),
        (status = 400, description = "`validation_failed`: `limit` or `offset` is invalid", body = ErrorBody),
        (status = 404, description = "`not_found`: no such endpoint of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_deliveries(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let endpoint = find_endpoint(&state, key.tenant_id, &path).await?;
    let (rows, total) = webhook_deliveries::list(&state.db, endpoint.id, page).await?;
    let data: Vec<DeliveryOut> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(PageOut::new(data, total, page)))
}

/// Retry a delivery
///
/// One more attempt now (a delivered delivery stays delivered).
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/deliveries/{delivery}/retry",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "Endpoint id (`whk_…`)"),
        ("delivery" = String, Path, description = "Delivery id (`dlv_…`)"),
    ),
    responses(
        (status = 202, description = "The delivery is queued again", body = DeliveryOut),
        (status = 404, description = "`not_found`: no such endpoint or delivery of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn retry_delivery(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (endpoint_raw, delivery_raw) = path.into_inner();
    let endpoint = find_endpoint(&state, key.tenant_id, &endpoint_raw).await?;
    let delivery_id: DeliveryId = path_id(&delivery_raw)?;
    let delivery = webhook_deliveries::find(&state.db, endpoint.id, delivery_id.uuid())
        .await?
        .ok_or(WebhookError::NotFound)?;
    let retried = webhook_deliveries::requeue(&state.db, delivery.id, Utc::now())
        .await?
        .ok_or(WebhookError::NotFound)?;
    state.jobs.nudge.nudge();
    Ok(HttpResponse::Accepted().json(DeliveryOut::from(retried)))
}
