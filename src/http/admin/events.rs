//! `/admin/events`: every tenant's events, internal ones included, as a stream and as pages.
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::app::AppState;
use crate::feed::FeedPage;
use crate::feed::hub::Holder;
use crate::feed::store::Scope;
use crate::http::auth::Staff;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::events::{FeedPageParams, StreamParams, last_event_id, page, sse};
use crate::http::query::QueryMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/events").route(web::get().to(admin_feed_page)))
        .service(web::resource("/events/stream").route(web::get().to(admin_feed_stream)));
}

/// Narrows the feed to one tenant.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantFilter {
    /// Only this tenant's events.
    pub tenant_id: Option<Uuid>,
}

fn scope(q: &QueryMap) -> ApiResult<Scope> {
    Ok(Scope::operator(q.parse::<Uuid>("tenant_id")?))
}

/// Follow every tenant's events (Server-Sent Events)
///
/// Like `GET /v1/events/stream`, for every tenant (or one, with `tenant_id`), internal
/// notes included (`support.message_created` whose message is `internal`).
#[utoipa::path(
    get,
    path = "/admin/events/stream",
    tag = "events",
    params(TenantFilter, StreamParams, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this position")),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "`validation_failed`: `tenant_id`, `Last-Event-ID` or `last_event_id` is invalid", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn admin_feed_stream(
    req: HttpRequest,
    state: web::Data<AppState>,
    Staff(member): Staff,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let scope = scope(&q)?;
    let resume = last_event_id(&req, &q)?;
    let holder = member.id.map_or(Holder::Bootstrap, Holder::Staff);
    sse(&state, scope, holder, resume).await
}

/// Page through every tenant's events
///
/// Like `GET /v1/events`, for every tenant (or one), internal events included.
#[utoipa::path(
    get,
    path = "/admin/events",
    tag = "events",
    params(TenantFilter, FeedPageParams),
    responses(
        (status = 200, description = "A page of events", body = FeedPage),
        (status = 400, description = "`validation_failed`: `tenant_id`, `after` or `limit` is invalid", body = ErrorBody),
        (status = 410, description = "`position_expired`: `after` is older than the retention", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn admin_feed_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: Staff,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    page(&state, scope(&q)?, &q).await
}
