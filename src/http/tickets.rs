//! `/v1/support/tickets`: the tenant's side of the ticket conversation (SPEC §4).
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::auth::{AnyTenantKey, SecretKey};
use crate::domain::ids::TicketId;
use crate::domain::status::TicketStatus;
use crate::domain::ticket::{Category, Priority};
use crate::domain::validate::{Description, Email, MessageBody, ShortRef, Subject};
use crate::error::{ApiError, ApiResult};
use crate::http::json::JsonBody;
use crate::http::query::QueryMap;
use crate::tenants::actor::{AddMessage, CreateTicket, UpdateTicket};
use crate::tickets::ops::{self, Actor, NewMessage, NewTicket, TicketChange};
use crate::tickets::query::{self, TicketFilter};
use crate::tickets::view::{EventOut, MessageOut, TicketOut};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/support/tickets")
            .route(web::get().to(list_tickets))
            .route(web::post().to(create_ticket)),
    )
    .service(
        web::resource("/support/tickets/{id}")
            .route(web::get().to(get_ticket))
            .route(web::patch().to(update_ticket)),
    )
    .service(
        web::resource("/support/tickets/{id}/messages")
            .route(web::get().to(list_messages))
            .route(web::post().to(create_message)),
    )
    .service(web::resource("/support/tickets/{id}/events").route(web::get().to(list_events)));
}

/// A path id that is malformed answers 404, like an unknown one.
pub fn ticket_id(raw: &str) -> ApiResult<uuid::Uuid> {
    raw.parse::<TicketId>()
        .map(|id| id.uuid())
        .map_err(|_| ApiError::not_found())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketIn {
    subject: Option<String>,
    category: Option<String>,
    description: Option<String>,
    /// Alias of `description`.
    body: Option<String>,
    priority: Option<String>,
    call_id: Option<String>,
    source_session_id: Option<String>,
    contact_email: Option<String>,
}

fn required<'a>(value: &'a Option<String>, field: &str) -> ApiResult<&'a str> {
    value
        .as_deref()
        .ok_or_else(|| ApiError::validation(field, format!("`{field}` is required")))
}

impl TicketIn {
    fn parse(self) -> ApiResult<NewTicket> {
        let (description, field) = match (&self.description, &self.body) {
            (Some(d), _) => (d.as_str(), "description"),
            (None, Some(b)) => (b.as_str(), "body"),
            (None, None) => {
                return Err(ApiError::validation(
                    "description",
                    "`description` is required",
                ));
            }
        };
        Ok(NewTicket {
            subject: Subject::parse(required(&self.subject, "subject")?)?,
            category: required(&self.category, "category")?.parse::<Category>()?,
            description: Description::parse(description, field)?,
            priority: self
                .priority
                .as_deref()
                .map(str::parse::<Priority>)
                .transpose()?
                .unwrap_or_default(),
            call_id: ShortRef::parse_optional(self.call_id.as_deref(), "call_id")?,
            source_session_id: ShortRef::parse_optional(
                self.source_session_id.as_deref(),
                "source_session_id",
            )?,
            contact_email: self
                .contact_email
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .map(|e| Email::parse(e, "contact_email"))
                .transpose()?,
        })
    }
}

async fn create_ticket(
    state: web::Data<AppState>,
    AnyTenantKey(key): AnyTenantKey,
    JsonBody(body): JsonBody<TicketIn>,
) -> ApiResult<HttpResponse> {
    let new = body.parse()?;
    let created = state
        .tenants
        .send(key.tenant_id, CreateTicket(new))
        .await??;
    let (delivered, reason) = match created.ticket.email_status.as_str() {
        "delivered" => (Some(true), None),
        "queued" => (None, None),
        _ => (Some(false), created.ticket.email_reason.clone()),
    };
    let ticket = TicketOut::with_messages(created.ticket, vec![created.message], Utc::now());
    Ok(HttpResponse::Ok().json(json!({
        "ticket": ticket,
        "email_delivered": delivered,
        "email_reason": reason,
    })))
}

async fn list_tickets(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let page = q.page()?;
    let cursor = q
        .get("cursor")
        .map(crate::http::query::decode_cursor)
        .transpose()?;
    let filter = TicketFilter {
        tenant_id: Some(key.tenant_id),
        ..TicketFilter::from_query(&q)?
    };
    let now = Utc::now();
    let listed = query::list(&state.db, &filter, page, cursor, now).await?;
    let data: Vec<TicketOut> = listed
        .rows
        .into_iter()
        .map(|t| TicketOut::summary(t, now))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": data,
        "total": listed.total,
        "offset": if cursor.is_some() { 0 } else { page.offset },
        "limit": page.limit,
        "next_cursor": listed.next_cursor,
    })))
}

async fn get_ticket(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ticket = ops::find(&state.db, ticket_id(&path)?, Some(key.tenant_id)).await?;
    let messages = query::all_messages(&state.db, ticket.id, false).await?;
    Ok(HttpResponse::Ok().json(TicketOut::with_messages(ticket, messages, Utc::now())))
}

async fn list_messages(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let ticket = ops::find(&state.db, ticket_id(&path)?, Some(key.tenant_id)).await?;
    let (rows, total) = query::thread_page(&state.db, ticket.id, page).await?;
    let data: Vec<MessageOut> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": data, "total": total, "offset": page.offset, "limit": page.limit,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageIn {
    body: Option<String>,
}

async fn create_message(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
    JsonBody(body): JsonBody<MessageIn>,
) -> ApiResult<HttpResponse> {
    let ticket_id = ticket_id(&path)?;
    let body = MessageBody::parse(required(&body.body, "body")?)?;
    let msg = AddMessage(NewMessage {
        ticket_id,
        actor: Actor::Customer,
        body,
        internal: false,
        status: None,
    });
    let replied = state.tenants.send(key.tenant_id, msg).await??;
    Ok(HttpResponse::Created().json(json!({
        "message": MessageOut::from(replied.message),
        "ticket_status": replied.ticket.status,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketPatch {
    status: Option<String>,
}

async fn update_ticket(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
    JsonBody(patch): JsonBody<TicketPatch>,
) -> ApiResult<HttpResponse> {
    let ticket_id = ticket_id(&path)?;
    let status: TicketStatus = required(&patch.status, "status")?.parse()?;
    let msg = UpdateTicket(TicketChange {
        ticket_id,
        actor: Actor::Customer,
        status: Some(status),
        priority: None,
    });
    let ticket = state.tenants.send(key.tenant_id, msg).await??;
    let messages = query::all_messages(&state.db, ticket.id, false).await?;
    Ok(HttpResponse::Ok().json(TicketOut::with_messages(ticket, messages, Utc::now())))
}

async fn list_events(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ticket = ops::find(&state.db, ticket_id(&path)?, Some(key.tenant_id)).await?;
    let events: Vec<EventOut> = query::events(&state.db, ticket.id, false)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(json!({"data": events})))
}
