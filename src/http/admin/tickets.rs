//! `/admin/support/tickets`: the operator inbox, transcripts, replies and updates (docs/API.md §7).
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::billing::ledger::LedgerEntryOut;
use crate::domain::ids::MacroId;
use crate::domain::ids::TicketId;
use crate::domain::status::TicketStatus;
use crate::domain::tags::{Tags, parse_tag};
use crate::domain::ticket::Priority;
use crate::domain::validate::MessageBody;
use crate::http::auth::{Responder, Staff, StaffOrBot};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::{JsonBody, written};
use crate::http::precondition::{etag, if_match};
use crate::http::query::{CursorParams, PageParams, QueryMap};
use crate::http::tickets::{IfMatch, MessageCreated, TicketFilterParams, ticket_id};
use crate::pagination::CursorPageOut;
use crate::tenants::actor::{AddMessage, AwardBounty, MergeTickets, UpdateTicket};
use crate::tickets::merge::Merge;
use crate::tickets::ops::{self, Author, Compose, NewMessage, TicketChange};
use crate::tickets::query::{self, Assignee, TicketFilter};
use crate::tickets::rows::TicketRef;
use crate::tickets::view::{self, EventOut, MessageOut, TicketOut, TicketView, TicketWithEvents};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/support/tickets").route(web::get().to(inbox)))
        .service(
            web::resource("/support/tickets/{id}")
                .route(web::get().to(transcript))
                .route(web::patch().to(update_ticket)),
        )
        .service(web::resource("/support/tickets/{id}/reply").route(web::post().to(reply)))
        .service(web::resource("/support/tickets/{id}/merge").route(web::post().to(merge)))
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
    /// `me` (the calling operator), `none` (unassigned) or an operator's id.
    pub assignee: Option<String>,
    /// Only tickets carrying this tag.
    pub tag: Option<String>,
}

/// The inbox's filters from the query string (the console's inbox reads the same ones);
/// `operator` is who `assignee=me` means (`None` for the bootstrap token).
pub fn inbox_filter(q: &QueryMap, operator: Option<uuid::Uuid>) -> ApiResult<TicketFilter> {
    Ok(TicketFilter {
        search_internal: true,
        tenant_id: q
            .get("tenant_id")
            .map(|raw| {
                raw.parse::<uuid::Uuid>().map_err(|_| {
                    ApiError::validation("tenant_id", "`tenant_id` must be a tenant UUID")
                })
            })
            .transpose()?,
        breached: q.parse("breached")?,
        assignee: q
            .get("assignee")
            .map(|raw| match raw {
                "none" => Ok(Assignee::Nobody),
                "me" => operator.map(Assignee::Operator).ok_or_else(|| {
                    ApiError::validation(
                        "assignee",
                        "`assignee=me` needs a staff token; neither the bootstrap token nor a bot is an operator",
                    )
                }),
                id => id.parse().map(Assignee::Operator).map_err(|_| {
                    ApiError::validation(
                        "assignee",
                        "`assignee` must be `me`, `none` or an operator's id",
                    )
                }),
            })
            .transpose()?,
        tag: q.get("tag").map(|t| parse_tag(t, "tag")).transpose()?,
        ..crate::http::tickets::ticket_filter(q)?
    })
}

/// The operator inbox
///
/// Every tenant's tickets: priority-queue tickets first, then `urgent` > `high` > `normal` >
/// `low`, then the earliest `first_response_due_at`, then the oldest. Page by `offset` (up to
/// 10,000) or walk with `cursor` (each page's `next_cursor`), which sees every ticket once
/// even while tickets are created or re-prioritised. `q` also searches internal notes.
/// Operators and bots may read it.
#[utoipa::path(
    get,
    path = "/admin/support/tickets",
    tag = "admin",
    params(TicketFilterParams, InboxParams, PageParams, CursorParams),
    responses(
        (status = 200, description = "A page of the inbox", body = CursorPageOut<TicketOut>),
        (status = 400, description = "`validation_failed`: a filter, `limit`, `offset` or `cursor` is invalid (`assignee=me` needs a staff token, not the bootstrap token); `use_cursor`: `offset` past 10,000 (detail: `cursor`)", body = ErrorBody),
    ),
    security(("staff_token" = []), ("bot_token" = [])),
)]
async fn inbox(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffOrBot(caller): StaffOrBot,
) -> ApiResult<HttpResponse> {
    let me = match &caller {
        Responder::Operator(operator) => operator.id,
        Responder::Bot(_) => None,
    };
    let q = QueryMap::from_request(&req)?;
    let page = q.keyset_page()?;
    let cursor = q
        .get("cursor")
        .map(query::InboxCursor::decode)
        .transpose()?;
    let filter = inbox_filter(&q, me)?;
    let now = Utc::now();
    let listed = query::inbox(&state.reads, &filter, page, cursor, now).await?;
    let tickets = view::page(&listed.rows, |t| TicketView::for_operator(t, now))?;
    let out = CursorPageOut::shaped(tickets, &listed, page, cursor.is_some());
    Ok(written(&mut HttpResponse::Ok(), &out))
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
        (status = 200, description = "The transcript", body = TicketWithEvents, headers(("ETag" = String, description = "The ticket's `version`, quoted"))),
        (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
    ),
    security(("staff_token" = []), ("bot_token" = [])),
    operation_id = "admin_get_ticket",
)]
async fn transcript(
    state: web::Data<AppState>,
    _: StaffOrBot,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ticket = ops::find(&state.reads, ticket_id(&path)?, None).await?;
    let thread =
        query::thread_head(&state.reads, ticket.id, true, query::OPERATOR_EMBEDDED).await?;
    let events =
        query::events_head(&state.reads, ticket.id, true, query::OPERATOR_EMBEDDED).await?;
    let (tenant_id, version) = (ticket.tenant_id, ticket.version);
    Ok(
        etag(&mut HttpResponse::Ok(), version).json(TicketWithEvents {
            ticket: TicketOut::with_messages(ticket, thread.rows, Utc::now())
                .for_operator(tenant_id),
            events: events.rows.into_iter().map(EventOut::from).collect(),
            messages_truncated: thread.more,
            events_truncated: events.more,
        }),
    )
}

/// An operator's reply or internal note.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Thanks — we rolled back the change; please retry.", "status": "awaiting_user"}))]
struct ReplyIn {
    /// Required unless `macro_id` is sent.
    #[schema(value_type = String, min_length = 1, max_length = 5000)]
    body: Option<String>,
    /// Answer with this macro instead of `body`: its rendered body, and its status (unless
    /// `status` is sent) and tags (added), in one transaction.
    #[schema(value_type = Option<String>, example = "mac_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    macro_id: Option<String>,
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
///
/// A bot token may send `body` and `internal` only: the message's `author` is `triage_bot`
/// and its `author_name` the bot's name; it never counts as the first response, changes no
/// status, emails nobody and notifies nobody.
#[utoipa::path(
    post,
    path = "/admin/support/tickets/{id}/reply",
    tag = "admin",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)"), IfMatch),
    request_body = ReplyIn,
    responses(
        (status = 201, description = "The message was added", body = MessageCreated, headers(("ETag" = String, description = "The ticket's new `version`, quoted"))),
        (status = 403, description = "`forbidden`: a bot sent `macro_id` or `status`; nothing changed", body = ErrorBody),
        (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
        (status = 409, description = "`ticket_closed`: a closed ticket is final; `concurrent_update`: retry", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` names an older version (the current one in `detail`); nothing changed", body = ErrorBody),
    ),
    security(("staff_token" = []), ("bot_token" = [])),
)]

async fn reply(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffOrBot(caller): StaffOrBot,
    path: web::Path<String>,
    JsonBody(input): JsonBody<ReplyIn>,
) -> ApiResult<HttpResponse> {
    let actor = match caller {
        Responder::Operator(operator) => Author::Operator(operator.name),
        Responder::Bot(_) if input.macro_id.is_some() || input.status.is_some() => {
            return Err(ApiError::forbidden(
                "forbidden",
                "A bot may only send `body` and `internal`: macros and statuses are for operators",
            ));
        }
        Responder::Bot(bot) => Author::Bot(bot.name),
    };
    let id = ticket_id(&path)?;
    let body = match (input.body.as_deref(), input.macro_id.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "macro_id",
                "Send `body` or `macro_id`, not both",
            ));
        }
        (Some(text), None) => Compose::Text(MessageBody::parse(text)?),
        (None, Some(raw)) => Compose::Macro(
            raw.parse::<MacroId>()
                .map_err(|_| ApiError::validation("macro_id", "`macro_id` names no macro"))?
                .uuid(),
        ),
        (None, None) => return Err(ApiError::validation("body", "`body` is required")),
    };
    let status = input
        .status
        .as_deref()
        .map(str::parse::<TicketStatus>)
        .transpose()?;
    let ticket = ops::find(&state.db, id, None).await?;
    let msg = AddMessage(NewMessage {
        ticket_id: id,
        actor,
        body,
        internal: input.internal,
        status,
        if_match: if_match(&req)?,
    });
    let replied = state.tenants.send(ticket.tenant_id, msg).await??;
    Ok(
        etag(&mut HttpResponse::Created(), replied.ticket.version).json(MessageCreated {
            message: MessageOut::from(replied.message),
            ticket_status: replied.ticket.status,
        }),
    )
}

/// An operator's change: any of `status`, `priority`, `assignee_id`, `tags`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "in_progress", "priority": "urgent", "assignee_id": "0193a0b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b", "tags": ["vip", "sdk"]}))]
struct OperatorPatch {
    /// Any status; nothing leaves `closed`.
    #[schema(value_type = Option<TicketStatus>)]
    status: Option<String>,
    #[schema(value_type = Option<Priority>)]
    priority: Option<String>,
    /// An active operator's id (`GET /admin/staff`), or `null` to unassign.
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<uuid::Uuid>)]
    assignee_id: Option<Option<String>>,
    /// Replaces the tags: at most 20, each 1–40 characters of `[a-z0-9_-]` (lower-cased).
    #[schema(value_type = Option<Vec<String>>)]
    tags: Option<Vec<String>>,
}

/// Update a ticket
///
/// An operator changes a ticket's status or priority; each change records an event.
#[utoipa::path(
    patch,
    path = "/admin/support/tickets/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Ticket id (`tkt_…`)"), IfMatch),
    request_body = OperatorPatch,
    responses(
        (status = 200, description = "The ticket (without messages)", body = TicketOut, headers(("ETag" = String, description = "The ticket's new `version`, quoted"))),
        (status = 400, description = "`validation_failed`: a field is invalid (`assignee_id`: not an active operator; `tags`: too many or a bad tag)", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` names an older version (the current one in `detail`); nothing changed", body = ErrorBody),
        (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
        (status = 409, description = "`ticket_closed`: a closed ticket is final; `concurrent_update`: retry", body = ErrorBody),
    ),
    security(("staff_token" = [])),
    operation_id = "admin_update_ticket",
)]

async fn update_ticket(
    req: HttpRequest,
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
    let assignee = patch
        .assignee_id
        .map(|a| {
            a.map(|raw| {
                raw.parse::<uuid::Uuid>().map_err(|_| {
                    ApiError::validation("assignee_id", "`assignee_id` must be an operator's id")
                })
            })
            .transpose()
        })
        .transpose()?;
    let tags = patch.tags.as_deref().map(Tags::parse).transpose()?;
    if status.is_none() && priority.is_none() && assignee.is_none() && tags.is_none() {
        return Err(ApiError::validation(
            "status",
            "Send `status`, `priority`, `assignee_id` and/or `tags`",
        ));
    }
    let if_match = if_match(&req)?;
    let ticket = ops::find(&state.db, id, None).await?;
    let msg = UpdateTicket(TicketChange {
        ticket_id: id,
        actor: Author::Operator(operator.name),
        status,
        priority,
        assignee,
        tags,
        if_match,
    });
    let ticket = state.tenants.send(ticket.tenant_id, msg).await??;
    let out = TicketView::for_operator(TicketRef::from(&ticket), Utc::now());
    Ok(written(etag(&mut HttpResponse::Ok(), ticket.version), &out))
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
    let (tenant_id, version) = (ticket.tenant_id, ticket.version);
    Ok(etag(&mut HttpResponse::Ok(), version).json(BountyAwarded {
        ticket: TicketOut::summary(ticket, Utc::now()).for_operator(tenant_id),
        ledger_entry: LedgerEntryOut::from(entry),
    }))
}

/// Which ticket to merge into.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"into": "tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b"}))]
struct MergeIn {
    /// Another open ticket of the same tenant.
    #[schema(value_type = String, required = true)]
    into: Option<String>,
}

/// Both tickets after a merge.
#[derive(Serialize, ToSchema)]
struct MergedOut {
    /// The source, now `closed` with `merged_into`.
    ticket: TicketOut,
    /// The target, its thread grown by the copies.
    into: TicketOut,
    /// How many public messages were copied.
    messages_copied: usize,
}

/// Merge a ticket into another
///
/// The source's public messages are copied into the target's thread (author and time kept,
/// marked `merged_from`); the source is closed with `merged_into`; both tickets record a
/// `merged` event and `support.ticket_merged` is emitted. No fee is refunded. Replies to the
/// source then answer `409 ticket_closed` naming the target.
#[utoipa::path(
    post,
    path = "/admin/support/tickets/{id}/merge",
    tag = "admin",
    params(("id" = String, Path, description = "The ticket to merge (`tkt_…`)"), IfMatch),
    request_body = MergeIn,
    responses(
        (status = 200, description = "Merged", body = MergedOut, headers(("ETag" = String, description = "The source's new `version`, quoted"))),
        (status = 400, description = "`validation_failed` (detail `into`): `into` is missing, the same ticket, or not a ticket of the same tenant", body = ErrorBody),
        (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
        (status = 409, description = "`ticket_closed`: either ticket is closed (a merged one: `detail` names where it went); `concurrent_update`: retry", body = ErrorBody),
        (status = 412, description = "`precondition_failed`: `If-Match` names an older version of the source; nothing changed", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn merge(
    req: HttpRequest,
    state: web::Data<AppState>,
    Staff(operator): Staff,
    path: web::Path<String>,
    JsonBody(input): JsonBody<MergeIn>,
) -> ApiResult<HttpResponse> {
    let into = input
        .into
        .as_deref()
        .ok_or_else(|| ApiError::validation("into", "`into` is required"))?
        .parse::<TicketId>()
        .map_err(|_| ApiError::validation("into", "`into` must be a ticket id (`tkt_…`)"))?;
    let id = ticket_id(&path)?;
    let if_match = if_match(&req)?;
    let ticket = ops::find(&state.db, id, None).await?;
    let msg = MergeTickets(Merge {
        source: id,
        into: into.uuid(),
        actor: Author::Operator(operator.name),
        if_match,
    });
    let merged = state.tenants.send(ticket.tenant_id, msg).await??;
    let now = Utc::now();
    let tenant_id = merged.source.tenant_id;
    let version = merged.source.version;
    Ok(etag(&mut HttpResponse::Ok(), version).json(MergedOut {
        ticket: TicketOut::summary(merged.source, now).for_operator(tenant_id),
        into: TicketOut::summary(merged.target, now).for_operator(tenant_id),
        messages_copied: merged.copied,
    }))
}
