//! `/admin/macros`: the operators' canned replies.
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::domain::ids::MacroId;
use crate::domain::status::TicketStatus;
use crate::domain::tags::Tags;
use crate::domain::template;
use crate::domain::validate::{MessageBody, Name};
use crate::http::auth::Staff;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::path::path_id;
use crate::macros::{self, MacroFields, MacroOut};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/macros")
            .route(web::get().to(list_macros))
            .route(web::post().to(create_macro)),
    )
    .service(
        web::resource("/macros/{id}")
            .route(web::get().to(get_macro))
            .route(web::patch().to(update_macro))
            .route(web::delete().to(delete_macro)),
    );
}

/// A macro, or the fields of one to change. The body may use `{{ticket.subject}}`,
/// `{{ticket.id}}`, `{{tenant.name}}`, `{{contact_email}}` and `{{operator.name}}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ask for logs", "body": "Hi {{tenant.name}}, could you send the logs for {{ticket.id}}? — {{operator.name}}", "status": "awaiting_user", "tags": ["needs-logs"]}))]
struct MacroIn {
    /// 1–200 characters (required on create).
    #[schema(value_type = String)]
    name: Option<String>,
    /// 1–5,000 characters, only the listed variables (required on create).
    #[schema(value_type = String)]
    body: Option<String>,
    /// The status a reply with this macro sets; `null`: the reply's usual rule.
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<TicketStatus>)]
    status: Option<Option<String>>,
    /// Tags a reply with this macro adds to the ticket (at most 20, `[a-z0-9_-]{1,40}`).
    #[schema(value_type = Option<Vec<String>>)]
    tags: Option<Vec<String>>,
}

impl MacroIn {
    fn parse(self) -> ApiResult<MacroFields> {
        let body = self
            .body
            .map(|b| -> ApiResult<String> {
                let body = MessageBody::parse(&b)?.into_inner();
                template::check(&body, "body")?;
                Ok(body)
            })
            .transpose()?;
        Ok(MacroFields {
            name: self.name.map(|n| Name::parse(&n, "name")).transpose()?,
            body,
            status: self
                .status
                .map(|s| s.map(|s| s.parse::<TicketStatus>()).transpose())
                .transpose()?,
            tags: self.tags.as_deref().map(Tags::parse).transpose()?,
        })
    }
}

/// Every macro, by name.
#[derive(Serialize, ToSchema)]
struct MacroList {
    data: Vec<MacroOut>,
}

/// List macros
///
/// Every saved reply, ordered by name.
#[utoipa::path(
    get,
    path = "/admin/macros",
    tag = "admin",
    responses((status = 200, description = "Every macro, by name", body = MacroList)),
    security(("staff_token" = [])),
)]
async fn list_macros(state: web::Data<AppState>, _: Staff) -> ApiResult<HttpResponse> {
    let data = macros::list(&state.db)
        .await?
        .into_iter()
        .map(MacroOut::from)
        .collect();
    Ok(HttpResponse::Ok().json(MacroList { data }))
}

/// Create a macro
///
/// Saves a reply operators can send with `macro_id`; its variables are checked here.
#[utoipa::path(
    post,
    path = "/admin/macros",
    tag = "admin",
    request_body = MacroIn,
    responses(
        (status = 201, description = "The macro", body = MacroOut),
        (status = 400, description = "`validation_failed`: a field is missing or invalid (`body`: an unknown variable)", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn create_macro(
    state: web::Data<AppState>,
    _: Staff,
    JsonBody(input): JsonBody<MacroIn>,
) -> ApiResult<HttpResponse> {
    let fields = input.parse()?;
    let name = fields
        .name
        .ok_or_else(|| ApiError::validation("name", "`name` is required"))?;
    let body = fields
        .body
        .ok_or_else(|| ApiError::validation("body", "`body` is required"))?;
    let created = macros::create(
        &state.db,
        name,
        body,
        fields.status.flatten(),
        fields.tags.unwrap_or_default(),
        Utc::now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(MacroOut::from(created)))
}

/// Get a macro
///
/// One saved reply with its body, status and tags.
#[utoipa::path(
    get,
    path = "/admin/macros/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Macro id (`mac_…`)")),
    responses(
        (status = 200, description = "The macro", body = MacroOut),
        (status = 404, description = "`not_found`: no such macro", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn get_macro(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id: MacroId = path_id(&path)?;
    let found = macros::find(&state.db, id.uuid()).await?;
    Ok(HttpResponse::Ok().json(MacroOut::from(found)))
}

/// Change a macro
///
/// Changes the fields sent.
#[utoipa::path(
    patch,
    path = "/admin/macros/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Macro id (`mac_…`)")),
    request_body = MacroIn,
    responses(
        (status = 200, description = "The macro", body = MacroOut),
        (status = 400, description = "`validation_failed`: a field is invalid", body = ErrorBody),
        (status = 404, description = "`not_found`: no such macro", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn update_macro(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
    JsonBody(input): JsonBody<MacroIn>,
) -> ApiResult<HttpResponse> {
    let fields = input.parse()?;
    let id: MacroId = path_id(&path)?;
    let updated = macros::update(&state.db, id.uuid(), fields, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(MacroOut::from(updated)))
}

/// Delete a macro
///
/// Removes the saved reply; messages already sent with it keep their text.
#[utoipa::path(
    delete,
    path = "/admin/macros/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Macro id (`mac_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`: no such macro", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn delete_macro(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id: MacroId = path_id(&path)?;
    macros::delete(&state.db, id.uuid()).await?;
    Ok(HttpResponse::NoContent().finish())
}
