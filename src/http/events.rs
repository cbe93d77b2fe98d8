//! `/v1/events`: the tenant's event feed, as Server-Sent Events and as JSON pages. The
//! operator routes (`/admin/events…`) share the parsing and the answers defined here.
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::IntoParams;

use crate::app::AppState;
use crate::feed::hub::Holder;
use crate::feed::store::{self, Scope};
use crate::feed::{FeedPage, stream};
use crate::http::auth::SecretKey;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::query::QueryMap;
use crate::pagination::{DEFAULT_LIMIT, MAX_LIMIT};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/events").route(web::get().to(feed_page)))
        .service(web::resource("/events/stream").route(web::get().to(feed_stream)));
}

pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

fn position(raw: &str, name: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| {
            ApiError::validation(
                name,
                format!("`{name}` must be a feed position (a whole number, 0 or more)"),
            )
        })
}

/// The position to resume after: the `Last-Event-ID` header (an `EventSource` sends it when
/// it reconnects, keeping the original URL), else `?last_event_id=`.
pub fn last_event_id(req: &HttpRequest, q: &QueryMap) -> Result<Option<i64>, ApiError> {
    if let Some(value) = req.headers().get(LAST_EVENT_ID) {
        let raw = value.to_str().map_err(|_| {
            ApiError::validation("Last-Event-ID", "`Last-Event-ID` must be a feed position")
        })?;
        return position(raw, "Last-Event-ID").map(Some);
    }
    q.get("last_event_id")
        .map(|raw| position(raw, "last_event_id"))
        .transpose()
}

/// `after` and `limit` of a JSON page.
pub fn page_params(q: &QueryMap) -> Result<(Option<i64>, u64), ApiError> {
    let after = q
        .get("after")
        .map(|raw| position(raw, "after"))
        .transpose()?;
    let limit = q
        .parse::<u64>("limit")?
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_LIMIT);
    Ok((after, limit))
}

/// Opens a stream for `scope` and answers with it.
pub async fn sse(
    state: &AppState,
    scope: Scope,
    holder: Holder,
    last_event_id: Option<i64>,
) -> ApiResult<HttpResponse> {
    let events = stream::open(&state.feed, &state.db, scope, holder, last_event_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        // nginx would otherwise hold events back in its buffer.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(events))
}

pub async fn page(state: &AppState, scope: Scope, q: &QueryMap) -> ApiResult<HttpResponse> {
    let (after, limit) = page_params(q)?;
    let page = store::page(&state.reads, scope, after, limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Where a stream resumes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Resume after this position (the `Last-Event-ID` header wins when both are sent).
    #[param(minimum = 0)]
    pub last_event_id: Option<i64>,
}

/// Where a page starts and how long it is.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedPageParams {
    /// Events after this position (absent: from the oldest kept).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size: default 50; more than 200 is clamped to 200.
    #[param(minimum = 0, default = 50)]
    pub limit: Option<u64>,
}

/// One event of a stream as an SSE parser reads it; the document's schema for
/// `text/event-stream` bodies (never built: the stream writes its frames directly).
#[derive(utoipa::ToSchema)]
pub struct SseEvent {
    /// The feed position; send it back as `Last-Event-ID` to resume after this event.
    pub id: Option<String>,
    /// The event type (`support.ticket_created`, …), or `reset`.
    pub event: Option<String>,
    /// The webhook payload, as JSON text.
    pub data: Option<String>,
    /// How long a client waits before reconnecting, in milliseconds (sent first).
    pub retry: Option<u64>,
}

/// Follow the event feed (Server-Sent Events)
///
/// `text/event-stream`: each event is `id: <seq>`, `event: <type>`, `data: <the webhook
/// payload JSON>`; a `: keep-alive` comment comes at least every 15 s. Send `Last-Event-ID`
/// (or `?last_event_id=`) to resume: every event after that position once, in order, then
/// live. A position older than the retention gets one `event: reset` (its `id` is where to
/// continue from) — re-read your lists. Only this tenant's public events are sent. The
/// stream ends when the key is revoked or regenerated, or when the client falls too far
/// behind; reconnect with the last id you processed.
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "events",
    params(StreamParams, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this position")),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = SseEvent),
        (status = 400, description = "`validation_failed`: `Last-Event-ID` or `last_event_id` is not a position", body = ErrorBody),
        (status = 429, description = "`too_many_streams`: this tenant already holds 20 open streams; `rate_limited`", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn feed_stream(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let resume = last_event_id(&req, &q)?;
    let scope = Scope::tenant(key.tenant_id);
    sse(&state, scope, Holder::Key(key.key_id), resume).await
}

/// Page through the event feed
///
/// The stream's events as JSON, oldest first, for polling and export. Pass the `seq` of the
/// last event you processed as `after`.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(FeedPageParams),
    responses(
        (status = 200, description = "A page of events", body = FeedPage),
        (status = 400, description = "`validation_failed`: `after` or `limit` is invalid", body = ErrorBody),
        (status = 410, description = "`position_expired`: `after` is older than the retention", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn feed_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    page(&state, Scope::tenant(key.tenant_id), &q).await
}
