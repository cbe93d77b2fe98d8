//! `/v1/support/tickets`: the tenant's side of the ticket conversation (docs/API.md §4).
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::Utc;
use entities::values::TicketEmailStatus;
use entities::{messages, tickets};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::domain::ids::TicketId;
use crate::domain::status::TicketStatus;
use crate::domain::ticket::{Category, Priority};
use crate::domain::validate::{Description, Email, MessageBody, ShortRef, Subject};
use crate::http::auth::{AnyTenantKey, SecretKey};
use crate::http::context::RequestStarted;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::{JsonBody, written};
use crate::http::path::path_id;
use crate::http::precondition::{etag, if_match};
use crate::http::query::{CursorParams, PageParams, QueryMap};
use crate::metrics::{CreateStage, observe_create_stage};
use crate::pagination::CursorPageOut;
use crate::tenants::actor::{AddMessage, UpdateTicket};
use crate::tickets::error::TicketError;
use crate::tickets::ops::{self, Author, Compose, NewMessage, NewTicket, TicketChange};
use crate::tickets::query::{self, Sort, TicketFilter};
use crate::tickets::rows::TicketRef;
use crate::tickets::view::{self, EventOut, MessageOut, TicketOut, TicketView};

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
    path_id::<TicketId>(raw).map(|id| id.uuid())
}

/// The filters the tenant's list and the operator inbox share, from the query string.
pub fn ticket_filter(q: &QueryMap) -> ApiResult<TicketFilter> {
    let q_text = q.get("q").map(str::to_string);
    if q_text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::validation(
            "q",
            "`q` must be at most 200 characters",
        ));
    }
    if q_text.as_ref().is_some_and(|t| t.contains('\0')) {
        return Err(ApiError::validation(
            "q",
            "`q` must not contain NUL characters",
        ));
    }
    Ok(TicketFilter {
        status: q.parse("status")?,
        category: q.parse("category")?,
        priority: q.parse("priority")?,
        q: q_text,
        search_internal: false,
        tenant_id: None,
        breached: None,
        assignee: None,
        tag: None,
    })
}

/// The collision guard's request header.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// `"<version>"` from the ticket's `ETag`: the change applies only if the ticket is still
    /// at that version (else `412 precondition_failed`). Without it nothing is checked.
    #[param(rename = "If-Match")]
    #[allow(dead_code)] // read by `http::precondition::if_match`
    pub if_match: Option<String>,
}

/// A new ticket. Lengths count Unicode characters after trimming.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "subject": "Webhook signatures fail after key rotation",
    "category": "api_sdk",
    "priority": "high",
    "description": "Since rotating our webhook secret this morning every delivery fails verification.",
    "call_id": "call_8f2c1a",
    "contact_email": "engineer@acme.com"
}))]
pub struct TicketIn {
    #[schema(value_type = String, required = true, min_length = 3, max_length = 200)]
    pub subject: Option<String>,
    #[schema(value_type = Category, required = true)]
    pub category: Option<String>,
    /// Becomes the thread's first message.
    #[schema(value_type = String, required = true, min_length = 10, max_length = 5000)]
    pub description: Option<String>,
    /// Alias of `description` (used when `description` is absent).
    #[schema(value_type = String, required = false, min_length = 10, max_length = 5000)]
    pub body: Option<String>,
    /// Default `normal`.
    #[schema(value_type = Option<Priority>)]
    pub priority: Option<String>,
    #[schema(max_length = 128)]
    pub call_id: Option<String>,
    #[schema(max_length = 128)]
    pub source_session_id: Option<String>,
    /// Defaults to the tenant's account email.
    #[schema(format = Email, max_length = 254)]
    pub contact_email: Option<String>,
}

fn required<'a>(value: &'a Option<String>, field: &str) -> ApiResult<&'a str> {
    value
        .as_deref()
        .ok_or_else(|| ApiError::validation(field, format!("`{field}` is required")))
}

impl TicketIn {
    /// The API's rules for a new ticket (the Support tab's form goes through them too).
    pub fn parse(self) -> ApiResult<NewTicket> {
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

/// The answer to opening a ticket.
#[derive(Serialize, ToSchema)]
struct TicketCreated {
    ticket: TicketOut,
    /// `true` once the new-ticket email was delivered, `null` while it is queued, `false`
    /// when it cannot be sent (see `email_reason`).
    email_delivered: Option<bool>,
    /// e.g. `RESEND_API_KEY is not configured`.
    email_reason: Option<String>,
}

/// Open a ticket
///
/// Costs the ticket fee (`HELPLINE_TICKET_FEE_CENTS`), taken from the balance in the same
/// transaction that saves the ticket. The ticket copies the tenant's SLA, and an email to the
/// support inbox is queued (best effort: the ticket is saved whatever happens to email).
/// Accepts a secret or a publishable key.
///
/// From a browser: this operation answers CORS preflights (`OPTIONS`, for any origin, since
/// a preflight carries no key) and, with a publishable key or no key, its answers carry
/// `Access-Control-Allow-Origin` echoing the page's `Origin` (`Vary: Origin`; exposed:
/// `X-Request-Id`, `Idempotent-Replayed`, `RateLimit-*`, `Retry-After`, `ETag`). A publishable
/// key with `allowed_origins` used by a page on another origin answers
/// `403 origin_not_allowed` (detail: that origin) and opens nothing. A secret key never gets
/// CORS headers: browsers keep its answers from the page.
#[utoipa::path(
    post,
    path = "/v1/support/tickets",
    tag = "tickets",
    request_body(content = TicketIn, example = json!({
        "subject": "Webhook signatures fail after key rotation",
        "category": "api_sdk",
        "priority": "high",
        "description": "Since rotating our webhook secret this morning every delivery fails verification.",
        "contact_email": "engineer@acme.com"
    })),
    responses(
        (status = 200, description = "The ticket was opened and charged", body = TicketCreated,
         headers(
            ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`, when it carries one and a publishable key (never for a secret key)"),
            ("Vary" = String, description = "`Origin`"),
         ),
         example = json!({
            "ticket": {
                "id": "tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b", "object": "support_ticket",
                "subject": "Webhook signatures fail after key rotation", "category": "api_sdk",
                "priority": "high", "status": "open",
                "description": "Since rotating our webhook secret this morning every delivery fails verification.",
                "call_id": null, "source_session_id": null, "contact_email": "engineer@acme.com",
                "plan_tier": "enterprise",
                "sla": {"tier": "enterprise", "first_response_target": "4 hours, 24/7 for urgent issues",
                        "priority_queue": true, "first_response_due_at": "2026-03-02T13:00:00Z",
                        "first_response_at": null, "breached": false},
                "charge": {"amount_cents": 1, "status": "pending"},
                "bounty": {"eligible": false, "status": "none", "amount_cents": 0},
                "email": {"status": "queued", "reason": null},
                "message_count": 1,
                "created_at": "2026-03-02T09:00:00Z", "updated_at": "2026-03-02T09:00:00Z",
                "resolved_at": null, "closed_at": null, "merged_into": null, "version": 1,
                "messages": [{"id": "msg_0193a0b4c5d67e8f9a0b1c2d3e4f5a6c", "object": "support_message",
                              "ticket_id": "tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b", "author": "customer",
                              "author_name": null,
                              "body": "Since rotating our webhook secret this morning every delivery fails verification.",
                              "internal": false, "created_at": "2026-03-02T09:00:00Z"}]
            },
            "email_delivered": null,
            "email_reason": null
        })),
        (status = 402, description = "`insufficient_credits` (detail `tenant_balance_exhausted`): the balance cannot pay the fee; nothing was saved", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed` (detail: the origin): a publishable key used by a web page on an origin its `allowed_origins` do not list; `forbidden`: an operator token", body = ErrorBody,
         example = json!({"error": "This publishable key may not be used from this website's origin; add it to the key's allowed_origins", "code": "origin_not_allowed", "detail": "https://evil.example"})),
    ),
    security(("secret_key" = []), ("publishable_key" = [])),
)]
async fn create_ticket(
    req: HttpRequest,
    state: web::Data<AppState>,
    AnyTenantKey(key): AnyTenantKey,
    JsonBody(body): JsonBody<TicketIn>,
) -> ApiResult<HttpResponse> {
    if let Some(RequestStarted(started)) = req.extensions().get::<RequestStarted>() {
        observe_create_stage(CreateStage::Handler, started.elapsed());
    }
    let new = body.parse()?;
    let created = state.tenants.create(key.tenant_id, new).await??;
    let (delivered, reason) = match created.ticket.email_status {
        TicketEmailStatus::Delivered => (Some(true), None),
        TicketEmailStatus::Queued => (None, None),
        _ => (Some(false), created.ticket.email_reason.clone()),
    };
    let version = created.ticket.version;
    let ticket = TicketOut::with_messages(created.ticket, vec![created.message], Utc::now());
    Ok(etag(&mut HttpResponse::Ok(), version).json(TicketCreated {
        ticket,
        email_delivered: delivered,
        email_reason: reason,
    }))
}

/// Filters of the ticket lists (empty values are ignored).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketFilterParams {
    pub status: Option<TicketStatus>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    /// Full-text search: tickets whose subject, description or public messages (operators:
    /// also internal notes) hold every word of `q` (whole words, any case). `total` counts
    /// at most 1,000 matches (`total_is_exact: false` past that).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// `newest` (default) or, with `q`, `relevance`: best match first (paged by `offset`
    /// only; `next_cursor` is `null`). The operator inbox keeps its own order.
    #[param(inline)]
    pub sort: Option<Sort>,
}

/// List tickets
///
/// Newest first. Page by `limit`/`offset`, or walk with `cursor` (see `next_cursor`).
#[utoipa::path(
    get,
    path = "/v1/support/tickets",
    tag = "tickets",
    params(TicketFilterParams, PageParams, CursorParams),
    responses(
        (status = 200, description = "A page of tickets", body = CursorPageOut<TicketOut>),
        (status = 400, description = "`validation_failed`: a filter, `limit`, `offset` or `cursor` is invalid (detail: the parameter); `use_cursor`: `offset` past 10,000 (detail: `cursor`)", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_tickets(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let page = q.keyset_page()?;
    let cursor = q.cursor()?;
    let filter = TicketFilter {
        tenant_id: Some(key.tenant_id),
        ..ticket_filter(&q)?
    };
    let sort = q.parse::<Sort>("sort")?.unwrap_or_default();
    let now = Utc::now();
    let listed = query::list(&state.reads, &filter, page, cursor, sort, now).await?;
    let tickets = view::page(&listed.rows, |t| TicketView::summary(t, now))?;
    let out = CursorPageOut::shaped(tickets, &listed, page, cursor.is_some());
    Ok(written(&mut HttpResponse::Ok(), &out))
}

/// Get a ticket
///
/// The ticket with its public messages, oldest first.
#[utoipa::path(
    get,
    path = "/v1/support/tickets/{id}",
    tag = "tickets",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)")),
    responses(
        (status = 200, description = "The ticket", body = TicketOut, headers(("ETag" = String, description = "The ticket's `version`, quoted"))),
        (status = 404, description = "`not_found`: no such ticket of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn get_ticket(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (ticket, thread) = query::ticket_with_thread(
        &state.reads,
        ticket_id(&path)?,
        Some(key.tenant_id),
        false,
        query::EMBEDDED_MESSAGES,
    )
    .await?
    .ok_or(TicketError::NotFound)?;
    Ok(with_thread(&ticket, thread))
}

/// A tenant's single-ticket answer (get, PATCH): the ticket with its thread's first
/// messages, and its `ETag`.
fn with_thread(ticket: &tickets::Model, thread: query::Head<messages::Model>) -> HttpResponse {
    let messages: Vec<MessageOut> = thread.rows.into_iter().map(MessageOut::from).collect();
    let out = TicketView::summary(TicketRef::from(ticket), Utc::now())
        .with_thread(&messages, thread.more);
    written(etag(&mut HttpResponse::Ok(), ticket.version), &out)
}

/// List a ticket's messages
///
/// The public thread, oldest first.
#[utoipa::path(
    get,
    path = "/v1/support/tickets/{id}/messages",
    tag = "tickets",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)"), PageParams, CursorParams),
    responses(
        (status = 200, description = "A page of messages", body = CursorPageOut<MessageOut>),
        (status = 400, description = "`validation_failed`: `limit`, `offset` or `cursor` is invalid; `use_cursor`: `offset` past 10,000 (detail: `cursor`)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such ticket of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_messages(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let page = q.keyset_page()?;
    let cursor = q.cursor()?;
    let ticket = ops::find(&state.reads, ticket_id(&path)?, Some(key.tenant_id)).await?;
    let listed = query::thread_page(&state.reads, &ticket, page, cursor).await?;
    let out =
        CursorPageOut::new(listed, page, cursor.is_some(), MessageOut::from).counted_exactly();
    Ok(written(&mut HttpResponse::Ok(), &out))
}

/// A customer reply.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Here is the request id: req_42."}))]
struct MessageIn {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 5000)]
    body: Option<String>,
}

/// A new message and the ticket's status after it.
#[derive(Serialize, ToSchema)]
pub struct MessageCreated {
    pub message: MessageOut,
    pub ticket_status: TicketStatus,
}

/// Reply to a ticket
///
/// A reply on a `resolved` or `awaiting_user` ticket reopens it (`open`); a `closed` ticket
/// is final. An email to the support inbox is queued.
#[utoipa::path(
    post,
    path = "/v1/support/tickets/{id}/messages",
    tag = "tickets",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)"), IfMatch),
    request_body = MessageIn,
    responses(
        (status = 201, description = "The message was added", body = MessageCreated, headers(("ETag" = String, description = "The ticket's new `version`, quoted"))),
        (status = 404, description = "`not_found`: no such ticket of this tenant", body = ErrorBody),
        (status = 409, description = "`ticket_closed`: a closed ticket is final; `concurrent_update`: retry", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` names an older version (the current one in `detail`); nothing changed", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]

async fn create_message(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
    JsonBody(body): JsonBody<MessageIn>,
) -> ApiResult<HttpResponse> {
    let ticket_id = ticket_id(&path)?;
    let body = MessageBody::parse(required(&body.body, "body")?)?;
    let msg = AddMessage(NewMessage {
        ticket_id,
        actor: Author::Customer,
        body: Compose::Text(body),
        internal: false,
        status: None,
        if_match: if_match(&req)?,
    });
    let replied = state.tenants.send(key.tenant_id, msg).await??;
    Ok(
        etag(&mut HttpResponse::Created(), replied.ticket.version).json(MessageCreated {
            message: MessageOut::from(replied.message),
            ticket_status: replied.ticket.status,
        }),
    )
}

/// A tenant's status change: to `resolved` or `closed`, or back to `open` from
/// `resolved`/`awaiting_user`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "resolved"}))]
struct TicketPatch {
    #[schema(value_type = TenantStatusChange, required = true)]
    status: Option<String>,
}

/// The statuses a tenant may ask for (operators may set any).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // describes `TicketPatch::status`, parsed as a `TicketStatus`
enum TenantStatusChange {
    Open,
    Resolved,
    Closed,
}

/// Change a ticket's status
///
/// Tenants may resolve or close a ticket, or reopen a `resolved`/`awaiting_user` one.
#[utoipa::path(
    patch,
    path = "/v1/support/tickets/{id}",
    tag = "tickets",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)"), IfMatch),
    request_body = TicketPatch,
    responses(
        (status = 200, description = "The updated ticket with its public messages", body = TicketOut, headers(("ETag" = String, description = "The ticket's new `version`, quoted"))),
        (status = 412, description = "`precondition_failed`: `If-Match` names an older version (the current one in `detail`); nothing changed", body = ErrorBody),
        (status = 400, description = "`invalid_transition` (detail `status`): tenants cannot move the ticket there", body = ErrorBody),
        (status = 404, description = "`not_found`: no such ticket of this tenant", body = ErrorBody),
        (status = 409, description = "`ticket_closed`: a closed ticket is final; `concurrent_update`: retry", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]

async fn update_ticket(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
    JsonBody(patch): JsonBody<TicketPatch>,
) -> ApiResult<HttpResponse> {
    let ticket_id = ticket_id(&path)?;
    let status: TicketStatus = required(&patch.status, "status")?.parse()?;
    let msg = UpdateTicket(TicketChange {
        ticket_id,
        actor: Author::Customer,
        status: Some(status),
        priority: None,
        assignee: None,
        tags: None,
        if_match: if_match(&req)?,
    });
    let ticket = state.tenants.send(key.tenant_id, msg).await??;
    let thread =
        query::thread_head(&state.reads, ticket.id, false, query::EMBEDDED_MESSAGES).await?;
    Ok(with_thread(&ticket, thread))
}

/// A page of a ticket's history, oldest first.
#[derive(Serialize, ToSchema)]
struct EventList {
    data: Vec<EventOut>,
    total: u64,
    offset: u64,
    limit: u64,
}

/// List a ticket's events
///
/// Every change of the ticket, with actor and time, oldest first.
#[utoipa::path(
    get,
    path = "/v1/support/tickets/{id}/events",
    tag = "tickets",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)"), PageParams),
    responses(
        (status = 200, description = "A page of the ticket's events", body = EventList),
        (status = 400, description = "`validation_failed`: `limit` or `offset` is invalid", body = ErrorBody),
        (status = 404, description = "`not_found`: no such ticket of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let ticket = ops::find(&state.reads, ticket_id(&path)?, Some(key.tenant_id)).await?;
    let (events, total) = query::events_page(&state.reads, ticket.id, false, page).await?;
    Ok(HttpResponse::Ok().json(EventList {
        data: events.into_iter().map(Into::into).collect(),
        total,
        offset: page.offset,
        limit: page.limit,
    }))
}
