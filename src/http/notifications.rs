//! `/v1/notifications`: the in-app feed, read markers and preferences (docs/API.md §6).
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::domain::ids::NotificationId;
use crate::http::auth::SecretKey;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::path::path_id;
use crate::http::query::{PageParams, QueryMap};
use crate::notifications::{self, NotificationOut, Preferences, feed};
use crate::pagination::PageOut;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Fixed paths before `{id}` so `read-all` and `preferences` are not taken for ids.
    cfg.service(web::resource("/notifications").route(web::get().to(list_notifications)))
        .service(web::resource("/notifications/read-all").route(web::put().to(read_all)))
        .service(
            web::resource("/notifications/preferences")
                .route(web::get().to(get_preferences))
                .route(web::put().to(put_preferences)),
        )
        .service(web::resource("/notifications/{id}/read").route(web::put().to(read_one)));
}

/// The notification list's filter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnreadParams {
    /// `true`: unread only; `false`: read only; absent: all.
    pub unread: Option<bool>,
}

/// What a page of notifications adds: how many are unread.
#[derive(Serialize, ToSchema)]
struct Unread {
    /// Unread notifications in all (whatever the filter).
    unread_count: u64,
}

/// List notifications
///
/// Newest first.
#[utoipa::path(
    get,
    path = "/v1/notifications",
    tag = "notifications",
    params(UnreadParams, PageParams),
    responses(
        (status = 200, description = "A page of notifications", body = PageOut<NotificationOut, Unread>,
         links(("MarkRead" = (
             operation_id = "read_one",
             parameters(("id" = "$response.body#/data/0/id")),
             description = "Mark the newest notification read",
         )))),
        (status = 400, description = "`validation_failed`: `unread`, `limit` or `offset` is invalid", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_notifications(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let page = q.page()?;
    let unread_only: Option<bool> = q.parse("unread")?;
    let listed = feed::list(&state.reads, key.tenant_id, unread_only, page).await?;
    let data: Vec<NotificationOut> = listed.rows.into_iter().map(Into::into).collect();
    let unread = Unread {
        unread_count: listed.unread_count,
    };
    Ok(HttpResponse::Ok().json(PageOut::with(data, listed.total, unread, page)))
}

/// Mark a notification read
///
/// Marking twice keeps the first read time.
#[utoipa::path(
    put,
    path = "/v1/notifications/{id}/read",
    tag = "notifications",
    params(("id" = String, Path, description = "Notification id (`ntf_…`)")),
    responses(
        (status = 200, description = "The notification", body = NotificationOut),
        (status = 404, description = "`not_found`: no such notification of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn read_one(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id: NotificationId = path_id(&path)?;
    let updated = feed::mark_read(&state.db, key.tenant_id, id.uuid(), Utc::now())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(NotificationOut::from(updated)))
}

/// How many notifications were marked read.
#[derive(Serialize, ToSchema)]
struct ReadAll {
    updated: u64,
    #[schema(example = 0)]
    unread_count: u64,
}

/// Mark every notification read
///
/// Marks all of the tenant's unread notifications read at once and answers how many changed.
#[utoipa::path(
    put,
    path = "/v1/notifications/read-all",
    tag = "notifications",
    responses((status = 200, description = "Everything is read", body = ReadAll)),
    security(("secret_key" = [])),
)]
async fn read_all(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let updated = feed::mark_all_read(&state.db, key.tenant_id, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(ReadAll {
        updated,
        unread_count: 0,
    }))
}

/// Read notification preferences
///
/// Which events notify the tenant, and whether operator replies are also emailed to the ticket's contact.
#[utoipa::path(
    get,
    path = "/v1/notifications/preferences",
    tag = "notifications",
    responses((status = 200, description = "The preferences", body = Preferences)),
    security(("secret_key" = [])),
)]
async fn get_preferences(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(notifications::preferences(&state.db, key.tenant_id).await?))
}

/// Every field is optional; the ones sent replace the stored values.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email_on_status_change": false}))]
struct PreferencesIn {
    in_app: Option<bool>,
    email_on_operator_reply: Option<bool>,
    email_on_status_change: Option<bool>,
}

/// Change notification preferences
///
/// The fields sent replace the stored values; the others stay.
#[utoipa::path(
    put,
    path = "/v1/notifications/preferences",
    tag = "notifications",
    request_body = PreferencesIn,
    responses((status = 200, description = "The preferences now in force", body = Preferences)),
    security(("secret_key" = [])),
)]
async fn put_preferences(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    JsonBody(input): JsonBody<PreferencesIn>,
) -> ApiResult<HttpResponse> {
    let current = notifications::preferences(&state.db, key.tenant_id).await?;
    let next = Preferences {
        in_app: input.in_app.unwrap_or(current.in_app),
        email_on_operator_reply: input
            .email_on_operator_reply
            .unwrap_or(current.email_on_operator_reply),
        email_on_status_change: input
            .email_on_status_change
            .unwrap_or(current.email_on_status_change),
    };
    notifications::save_preferences(&state.db, key.tenant_id, next, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(next))
}
