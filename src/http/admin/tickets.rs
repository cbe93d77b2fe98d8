//! `/admin/support/tickets`: the operator inbox, transcripts, replies and updates (SPEC §7).
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::auth::Staff;
use crate::domain::status::TicketStatus;
use crate::domain::ticket::Priority;
use crate::domain::validate::MessageBody;
use crate::error::{ApiError, ApiResult};
use crate::http::json::JsonBody;
use crate::http::query::QueryMap;
use crate::http::tickets::ticket_id;
use crate::ledger::LedgerEntryOut;
use crate::tenants::actor::{AddMessage, AwardBounty, UpdateTicket};
use crate::tickets::ops::{self, Actor, NewMessage, TicketChange};
use crate::tickets::query::{self, TicketFilter};
use crate::tickets::view::{EventOut, MessageOut, TicketOut};

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
        ..TicketFilter::from_query(&q)?
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
    Ok(HttpResponse::Ok().json(json!({
        "data": data, "total": listed.total, "offset": page.offset, "limit": page.limit,
    })))
}

async fn transcript(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ticket = ops::find(&state.db, ticket_id(&path)?, None).await?;
    let messages = query::all_messages(&state.db, ticket.id, true).await?;
    let events: Vec<EventOut> = query::events(&state.db, ticket.id, true)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let tenant_id = ticket.tenant_id;
    let mut body = serde_json::to_value(
        TicketOut::with_messages(ticket, messages, Utc::now()).for_operator(tenant_id),
    )
    .map_err(ApiError::internal)?;
    body["events"] = serde_json::to_value(events).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyIn {
    body: Option<String>,
    #[serde(default)]
    internal: bool,
    status: Option<String>,
}

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
        actor: Actor::Operator(operator.name),
        body,
        internal: input.internal,
        status,
    });
    let replied = state.tenants.send(ticket.tenant_id, msg).await??;
    Ok(HttpResponse::Created().json(json!({
        "message": MessageOut::from(replied.message),
        "ticket_status": replied.ticket.status,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorPatch {
    status: Option<String>,
    priority: Option<String>,
}

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
        actor: Actor::Operator(operator.name),
        status,
        priority,
    });
    let ticket = state.tenants.send(ticket.tenant_id, msg).await??;
    let tenant_id = ticket.tenant_id;
    Ok(HttpResponse::Ok().json(TicketOut::summary(ticket, Utc::now()).for_operator(tenant_id)))
}

/// Confirms a bug report: credits `HELPLINE_BOUNTY_CENTS` once.
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
    Ok(HttpResponse::Ok().json(json!({
        "ticket": TicketOut::summary(ticket, Utc::now()).for_operator(tenant_id),
        "ledger_entry": LedgerEntryOut::from(entry),
    })))
}
