//! `/admin/support/tickets`: the operator inbox, transcripts, replies and updates (docs/API.md §7).
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::billing::ledger::LedgerEntryOut;
use crate::domain::status::TicketStatus;
use crate::domain::ticket::Priority;
use crate::domain::validate::MessageBody;
use crate::http::auth::Staff;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::query::{PageParams, QueryMap};
use crate::http::tickets::{MessageCreated, TicketFilterParams, ticket_id};
use crate::tenants::actor::{AddMessage, AwardBounty, UpdateTicket};
use crate::tickets::ops::{self, Author, NewMessage, TicketChange};
use crate::tickets::query::{self, TicketFilter};
use crate::tickets::view::{EventOut, MessageOut, TicketOut, TicketWithEvents};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/support/tickets").route(web::get().to(inbox)))
        .service(
            web::resource("/support/tickets/{id}")
                .route(web::get().to(transcript))
                .route(web::patch().to(update_ticket)),
        )
        .service(web::resource("/support/tickets/{id}/reply").route(web::post().to(reply)))
        .service(
            web::resource("/support/tickets/{id}/bounty").route(web::post().to(confirm_bounty)),
        );
}

/// The operator-only inbox filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// Only this tenant's tickets.
    pub tenant_id: Option<uuid::Uuid>,
    /// Only tickets whose first response is (or was) late, or only those on time.
    pub breached: Option<bool>,
}

/// A page of the inbox.
#[derive(Serialize, ToSchema)]
struct Inbox {
    /// Tickets without `messages`, with `tenant_id`.
    data: Vec<TicketOut>,
    total: u64,
    offset: u64,
    limit: u64,
}

/// The operator inbox
///
/// Every tenant's tickets: priority-queue tickets first, then `urgent` > `high` > `normal` >
/// `low`, then the earliest `first_response_due_at`, then the oldest.
#[utoipa::path(
    get,
    path = "/admin/support/tickets",
    tag = "admin",
    params(TicketFilterParams, InboxParams, PageParams),
    responses(
        (status = 200, description = "A page of the inbox", body = Inbox),
        (status = 400, description = "`validation_failed`: a filter, `limit` or `offset` is invalid", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn inbox(req: HttpRequest, state: web::Data<AppState>, _: Staff) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let page = q.page()?;
    let filter = TicketFilter {
        tenant_id: q
            .get("tenant_id")
            .map(|raw| {
                raw.parse::<uuid::Uuid>().map_err(|_| {
                    ApiError::validation("tenant_id", "`tenant_id` must be a tenant UUID")
                })
            })
            .transpose()?,
        breached: q.parse("breached")?,
        ..crate::http::tickets::ticket_filter(&q)?
    };
    let now = Utc::now();
    let listed = query::inbox(&state.db, &filter, page, now).await?;
    let data: Vec<TicketOut> = listed
        .rows
        .into_iter()
        .map(|t| {
            let tenant_id = t.tenant_id;
            TicketOut::summary(t, now).for_operator(tenant_id)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Inbox {
        data,
        total: listed.total,
        offset: page.offset,
        limit: page.limit,
    }))
}

/// A ticket's transcript
///
/// The ticket with its whole thread (internal notes included) and its events.
#[utoipa::path(
    get,
    path = "/admin/support/tickets/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)")),
    responses(
        (status = 200, description = "The transcript", body = TicketWithEvents),
        (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
    ),
    security(("staff_token" = [])),
    operation_id = "admin_get_ticket",
)]
async fn transcript(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ticket = ops::find(&state.db, ticket_id(&path)?, None).await?;
    let thread = query::thread_head(&state.db, ticket.id, true, query::OPERATOR_EMBEDDED).await?;
    let events = query::events_head(&state.db, ticket.id, true, query::OPERATOR_EMBEDDED).await?;
    let tenant_id = ticket.tenant_id;
    Ok(HttpResponse::Ok().json(TicketWithEvents {
        ticket: TicketOut::with_messages(ticket, thread.rows, Utc::now()).for_operator(tenant_id),
        events: events.rows.into_iter().map(EventOut::from).collect(),
        messages_truncated: thread.more,
        events_truncated: events.more,
    }))
}

/// An operator's reply or internal note.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Thanks — we rolled back the change; please retry.", "status": "awaiting_user"}))]
struct ReplyIn {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 5000)]
    body: Option<String>,
    /// An internal note: operators only; changes nothing else.
    #[serde(default)]
    internal: bool,
    /// The status after the reply; default: a public reply moves `open`/`in_progress` to
    /// `awaiting_user`.
    #[schema(value_type = Option<TicketStatus>)]
    status: Option<String>,
}

/// Reply to a ticket
///
/// The operator's name becomes the message's `author_name`. A public reply emails the
/// contact (if the tenant's preferences allow) and notifies the tenant.
#[utoipa::path(
    post,
    path = "/admin/support/tickets/{id}/reply",
    tag = "admin",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)")),
    request_body = ReplyIn,
    responses(
        (status = 201, description = "The message was added", body = MessageCreated),
        (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
        (status = 409, description = "`ticket_closed`: a closed ticket is final; `concurrent_update`: retry", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]

async fn reply(
    state: web::Data<AppState>,
    Staff(operator): Staff,
    path: web::Path<String>,
    JsonBody(input): JsonBody<ReplyIn>,
) -> ApiResult<HttpResponse> {
    let id = ticket_id(&path)?;
    let body = MessageBody::parse(
        input
            .body
            .as_deref()
            .ok_or_else(|| ApiError::validation("body", "`body` is required"))?,
    )?;
    let status = input
        .status
        .as_deref()
        .map(str::parse::<TicketStatus>)
        .transpose()?;
    let ticket = ops::find(&state.db, id, None).await?;
    let msg = AddMessage(NewMessage {
        ticket_id: id,
        actor: Author::Operator(operator.name),
        body,
        internal: input.internal,
        status,
    });
    let replied = state.tenants.send(ticket.tenant_id, msg).await??;
    Ok(HttpResponse::Created().json(MessageCreated {
        message: MessageOut::from(replied.message),
        ticket_status: replied.ticket.status,
    }))
}

/// An operator's change: `status` and/or `priority`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "in_progress", "priority": "urgent"}))]
struct OperatorPatch {
    /// Any status; nothing leaves `closed`.
    #[schema(value_type = Option<TicketStatus>)]
    status: Option<String>,
    #[schema(value_type = Option<Priority>)]
    priority: Option<String>,
}

/// Update a ticket
///
/// An operator changes a ticket's status or priority; each change records an event.
#[utoipa::path(
    patch,
    path = "/admin/support/tickets/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)")),
    request_body = OperatorPatch,
    responses(
        (status = 200, description = "The ticket (without messages)", body = TicketOut),
        (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
        (status = 409, description = "`ticket_closed`: a closed ticket is final; `concurrent_update`: retry", body = ErrorBody),
    ),
    security(("staff_token" = [])),
    operation_id = "admin_update_ticket",
)]

async fn update_ticket(
    state: web::Data<AppState>,
    Staff(operator): Staff,
    path: web::Path<String>,
    JsonBody(patch): JsonBody<OperatorPatch>,
) -> ApiResult<HttpResponse> {
    let id = ticket_id(&path)?;
    let status = patch
        .status
        .as_deref()
        .map(str::parse::<TicketStatus>)
        .transpose()?;
    let priority = patch
        .priority
        .as_deref()
        .map(str::parse::<Priority>)
        .transpose()?;
    if status.is_none() && priority.is_none() {
        return Err(ApiError::validation(
            "status",
            "Send `status` and/or `priority`",
        ));
    }
    let ticket = ops::find(&state.db, id, None).await?;
    let msg = UpdateTicket(TicketChange {
        ticket_id: id,
        actor: Author::Operator(operator.name),
        status,
        priority,
    });
    let ticket = state.tenants.send(ticket.tenant_id, msg).await??;
    let tenant_id = ticket.tenant_id;
    Ok(HttpResponse::Ok().json(TicketOut::summary(ticket, Utc::now()).for_operator(tenant_id)))
}

/// An awarded bounty.
#[derive(Serialize, ToSchema)]
struct BountyAwarded {
    ticket: TicketOut,
    ledger_entry: LedgerEntryOut,
}

/// Confirm a bug bounty
///
/// Confirms a `bug` report: credits `HELPLINE_BOUNTY_CENTS` to the tenant, once.
#[utoipa::path(
    post,
    path = "/admin/support/tickets/{id}/bounty",
    tag = "admin",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)")),
    responses(
        (status = 200, description = "The ticket and the credit", body = BountyAwarded),
        (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
        (status = 409, description = "`not_bounty_eligible`: not a `bug` ticket; `bounty_already_awarded`", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn confirm_bounty(
    state: web::Data<AppState>,
    Staff(operator): Staff,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = ticket_id(&path)?;
    let ticket = ops::find(&state.db, id, None).await?;
    let msg = AwardBounty {
        ticket_id: id,
        operator: operator.name,
    };
    let (ticket, entry) = state.tenants.send(ticket.tenant_id, msg).await??;
    let tenant_id = ticket.tenant_id;
    Ok(HttpResponse::Ok().json(BountyAwarded {
        ticket: TicketOut::summary(ticket, Utc::now()).for_operator(tenant_id),
        ledger_entry: LedgerEntryOut::from(entry),
    }))
}
