//! `/console`: the operator console's pages and forms. Each handler finds the session,
//! reads through the features, and answers a page (or `303` back to one after a form).
//! Changes go through the same feature calls as `/admin` (the tenant's actor, `tenants`,
//! `banner`, the job queue), so the rules are the API's.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use crate::app::AppState;
use crate::auth::{Principal, StaffPrincipal};
use crate::console::views::{
    self, Collision, InboxFilters, InboxPage, SIGN_IN, TicketPage, Viewer,
};
use crate::domain::ids::{MacroId, TicketId};
use crate::domain::status::TicketStatus;
use crate::domain::tags::Tags;
use crate::domain::ticket::Priority;
use crate::domain::validate::MessageBody;
use crate::feed::hub::Holder;
use crate::feed::store::Scope;
use crate::http::admin::tickets::inbox_filter;
use crate::http::auth::middleware::{client_ip_of, limit_bucket};
use crate::http::error::ApiError;
use crate::http::query::QueryMap;
use crate::pagination::Page;
use crate::sessions::{self, Session, SessionPrincipal};
use crate::tenants::actor::{AddMessage, AwardBounty, MergeTickets, UpdateTicket};
use crate::tenants::manage;
use crate::tickets::error::TicketError;
use crate::tickets::merge::Merge;
use crate::tickets::ops::{self, Author, Compose, NewMessage, TicketChange};
use crate::tickets::query;
use crate::tickets::rows;
use crate::tickets::view::{EventOut, MessageOut, TicketOut};
use crate::ui::NoticeKind;

use super::{
    CookiePolicy, Form, FrameAncestors, SessionCookie, SignedIn, WebError, WebResult, api,
    check_same_origin, current_session, page, posting, see_other, sign_out as end_session,
    signed_in,
};

/// The console session's cookie.
pub const COOKIE: SessionCookie = SessionCookie {
    name: "helpline_console",
    path: "/",
    policy: CookiePolicy::Strict,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console").route(web::get().to(inbox)))
        .service(
            web::resource("/console/sign-in")
                .route(web::get().to(sign_in_page))
                .route(web::post().to(sign_in)),
        )
        .service(web::resource("/console/sign-out").route(web::post().to(sign_out)))
        .service(web::resource("/console/events").route(web::get().to(events)))
        .service(web::resource("/console/tickets/{id}").route(web::get().to(ticket)))
        .service(web::resource("/console/tickets/{id}/reply").route(web::post().to(reply)))
        .service(web::resource("/console/tickets/{id}/update").route(web::post().to(update)))
        .service(web::resource("/console/tickets/{id}/bounty").route(web::post().to(bounty)))
        .service(web::resource("/console/tickets/{id}/merge").route(web::post().to(merge)))
        .service(web::resource("/console/tenants").route(web::get().to(tenants)))
        .service(web::resource("/console/tenants/{id}").route(web::get().to(tenant)))
        .service(web::resource("/console/tenants/{id}/update").route(web::post().to(update_tenant)))
        .service(
            web::resource("/console/tenants/{id}/credits").route(web::post().to(credit_tenant)),
        )
        .service(web::resource("/console/queues").route(web::get().to(queues)))
        .service(
            web::resource("/console/queues/{queue}/jobs/{id}/retry")
                .route(web::post().to(retry_job)),
        )
        .service(
            web::resource("/console/status")
                .route(web::get().to(banner))
                .route(web::post().to(set_banner)),
        );
}

/// A signed-in operator.
pub struct Operator {
    pub session: Session,
    pub staff: StaffPrincipal,
}

impl Operator {
    fn viewer(&self) -> Viewer<'_> {
        Viewer {
            name: &self.staff.name,
            session: &self.session,
        }
    }

    fn id(&self) -> uuid::Uuid {
        match self.session.principal {
            SessionPrincipal::Operator(id) | SessionPrincipal::Tenant(id) => id,
        }
    }
}

impl SignedIn for Operator {
    fn session(&self) -> &Session {
        &self.session
    }
}

/// The operator behind the session cookie; a browser without one goes to the sign-in page.
pub async fn operator(req: &HttpRequest, state: &AppState) -> WebResult<Operator> {
    match current_session(req, state, COOKIE.name).await? {
        Some(session) => match (session.principal, session.operator_name.clone()) {
            (SessionPrincipal::Operator(id), Some(name)) => Ok(Operator {
                staff: StaffPrincipal { id: Some(id), name },
                session,
            }),
            _ => Err(WebError::signed_out(req, SIGN_IN)),
        },
        None => Err(WebError::signed_out(req, SIGN_IN)),
    }
}

/// The operator of a state-changing request: signed in, and the form (or the
/// `X-CSRF-Token` header) carries the session's token.
async fn operator_posting(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> WebResult<(Operator, Form)> {
    posting(req, body, operator(req, state)).await
}

fn html(markup: maud::Markup) -> HttpResponse {
    page(StatusCode::OK, markup, &FrameAncestors::None)
}

async fn sign_in_page(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    if current_session(&req, &state, COOKIE.name).await?.is_some() {
        return Ok(see_other(views::HOME));
    }
    let signed_out = req.query_string().contains("signed_out");
    Ok(html(views::sign_in(None, signed_out)))
}

async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    check_same_origin(&req)?;
    let refuse = |status: StatusCode, message: &str| {
        page(
            status,
            views::sign_in(Some(message), false),
            &FrameAncestors::None,
        )
    };
    let token = Form::parse(&body)
        .and_then(|f| f.get("token").map(str::to_string))
        .unwrap_or_default();
    let ip = limit_bucket(client_ip_of(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        &state.config.trusted_proxies,
    ));
    if let Some(verdict) = state.limits.failed_auth_blocked(ip) {
        let wait = verdict.retry_after();
        return Ok(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed sign-ins from here; try again in {wait} s."),
        ));
    }
    let resolved = if token.is_empty() {
        None
    } else {
        state
            .auth
            .resolve(&token)
            .await
            .map_err(|e| WebError::internal(&req, e))?
    };
    let staff_id = match resolved {
        Some(Principal::Staff(StaffPrincipal { id: Some(id), .. })) => id,
        Some(Principal::Staff(StaffPrincipal { id: None, .. })) => {
            return Ok(refuse(
                StatusCode::FORBIDDEN,
                "HELPLINE_ADMIN_TOKEN is for the API and scripts; the console needs an operator's own token (hl_staff_…), so that replies carry a name.",
            ));
        }
        Some(Principal::Tenant(_)) => {
            return Ok(refuse(
                StatusCode::FORBIDDEN,
                "That is a tenant's API key; the console needs an operator token (hl_staff_…).",
            ));
        }
        Some(Principal::Bot(_)) => {
            return Ok(refuse(
                StatusCode::FORBIDDEN,
                "That is a bot token; the console needs an operator token (hl_staff_…).",
            ));
        }
        None => {
            state.limits.check_failed_auth(ip).await;
            return Ok(refuse(
                StatusCode::UNAUTHORIZED,
                "That token is not a valid operator token (or it was revoked).",
            ));
        }
    };
    let created = sessions::create(&state.db, SessionPrincipal::Operator(staff_id), Utc::now())
        .await
        .map_err(|e| WebError::internal(&req, e))?;
    signed_in(&req, &state, &COOKIE, created.token, views::HOME)
}

async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (op, _) = operator_posting(&req, &state, &body).await?;
    let res = see_other(&format!("{SIGN_IN}?signed_out=1"));
    end_session(&req, &state, &op.session, &[COOKIE], res).await
}

/// Every tenant's events for the console's live updates: the `/admin/events/stream` feed,
/// held by the operator's session.
async fn events(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let op = operator(&req, &state).await?;
    let q = QueryMap::from_request(&req).map_err(api(&req))?;
    let resume = crate::http::events::last_event_id(&req, &q).map_err(api(&req))?;
    crate::http::events::sse(
        &state,
        Scope::operator(None),
        Holder::Staff(op.id()),
        resume,
    )
    .await
    .map_err(api(&req))
}

const INBOX_PAGE: u64 = 50;

/// The inbox's paging, in one place: the inbox's own keyset cursor (each page links to the
/// next by `cursor`), and a link back to the first page once past it.
fn inbox_pages(
    filters: &InboxFilters,
    paged: bool,
    next_cursor: Option<&str>,
) -> (Option<String>, Option<String>) {
    let first = paged.then(|| filters.link(None));
    let next = next_cursor.map(|c| filters.link(Some(c)));
    (first, next)
}

async fn inbox(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let op = operator(&req, &state).await?;
    let q = QueryMap::from_request(&req).map_err(api(&req))?;
    let raw = |k: &str| q.get(k).unwrap_or_default().to_string();
    let filters = InboxFilters {
        status: raw("status"),
        priority: raw("priority"),
        tenant_id: raw("tenant_id"),
        assignee: raw("assignee"),
        tag: raw("tag"),
        breached: raw("breached"),
    };
    let now = Utc::now();
    let staff = crate::staff::list(&state.db)
        .await
        .map_err(|e| WebError::internal(&req, e))?;
    let parsed = inbox_filter(&q, op.staff.id).and_then(|f| {
        let page = q.keyset_page()?;
        let cursor = q
            .get("cursor")
            .map(query::InboxCursor::decode)
            .transpose()?;
        let page = Page {
            limit: page.limit.min(INBOX_PAGE),
            offset: 0,
        };
        Ok((f, page, cursor))
    });
    let paged = q.get("cursor").is_some();
    let (tickets, total, total_is_exact, next_cursor, error) = match parsed {
        Ok((filter, page, cursor)) => {
            let listed = query::inbox(&state.reads, &filter, page, cursor, now)
                .await
                .map_err(|e| WebError::internal(&req, e))?;
            (
                rows::models(&listed.rows).map_err(|e| WebError::internal(&req, e))?,
                listed.total,
                listed.total_is_exact,
                listed.next_cursor,
                None,
            )
        }
        Err(e) => (Vec::new(), 0, true, None, Some(e.message.to_string())),
    };
    let names = crate::console::tenant_names(&state.db, tickets.iter().map(|t| t.tenant_id))
        .await
        .map_err(|e| WebError::internal(&req, e))?;
    let tickets: Vec<TicketOut> = tickets
        .into_iter()
        .map(|t| {
            let tenant_id = t.tenant_id;
            TicketOut::summary(t, now).for_operator(tenant_id)
        })
        .collect();
    let (previous, next) = inbox_pages(&filters, paged, next_cursor.as_deref());
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let markup = views::inbox(
        &op.viewer(),
        &InboxPage {
            tickets,
            total,
            total_is_exact,
            filters: &filters,
            staff: &staff,
            tenant_names: &names,
            previous,
            next,
            error,
            now,
        },
    );
    Ok(super::page(status, markup, &FrameAncestors::None))
}

fn path_ticket(req: &HttpRequest, raw: &str) -> WebResult<uuid::Uuid> {
    crate::http::tickets::ticket_id(raw).map_err(api(req))
}

/// Renders the ticket page (after a refused change too: `collision`, `flash`).
async fn ticket_page(
    req: &HttpRequest,
    state: &AppState,
    op: &Operator,
    id: uuid::Uuid,
    status: StatusCode,
    collision: Option<Collision>,
    flash: Option<(NoticeKind, String)>,
) -> WebResult<HttpResponse> {
    let internal = |e: sea_orm::DbErr| WebError::internal(req, e);
    let ticket = ops::find(&state.reads, id, None)
        .await
        .map_err(|e| WebError::from_api(req, e.into()))?;
    let thread = query::thread_head(&state.reads, ticket.id, true, query::OPERATOR_EMBEDDED)
        .await
        .map_err(internal)?;
    let events = query::events_head(&state.reads, ticket.id, true, query::OPERATOR_EMBEDDED)
        .await
        .map_err(internal)?;
    let staff = crate::staff::list(&state.db).await.map_err(internal)?;
    let macros = crate::macros::list(&state.db).await.map_err(internal)?;
    let tenant_id = ticket.tenant_id;
    let names = crate::console::tenant_names(&state.db, [tenant_id])
        .await
        .map_err(internal)?;
    let now = Utc::now();
    let ticket = TicketOut::with_messages(ticket, thread.rows, now).for_operator(tenant_id);
    let events: Vec<EventOut> = events.rows.into_iter().map(EventOut::from).collect();
    let tenant_name = names.get(&tenant_id).cloned().unwrap_or_default();
    let markup = views::ticket(
        &op.viewer(),
        &TicketPage {
            ticket: &ticket,
            tenant_name: &tenant_name,
            messages_truncated: thread.more,
            events: &events,
            staff: &staff,
            macros: &macros,
            collision,
            flash,
            now,
        },
    );
    Ok(super::page(status, markup, &FrameAncestors::None))
}

async fn ticket(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> WebResult<HttpResponse> {
    let op = operator(&req, &state).await?;
    let id = path_ticket(&req, &path)?;
    let flash = flash_of(
        &req,
        &[
            ("sent", "Reply sent."),
            ("saved", "Changes saved."),
            ("bounty", "Bounty confirmed and credited."),
            ("merged", "Merged."),
        ],
    );
    ticket_page(&req, &state, &op, id, StatusCode::OK, None, flash).await
}

/// A form posted about one ticket: who, what, and which ticket.
async fn ticket_post(
    req: &HttpRequest,
    state: &AppState,
    path: &str,
    body: &[u8],
) -> WebResult<(Operator, Form, uuid::Uuid)> {
    let (op, form) = operator_posting(req, state, body).await?;
    Ok((op, form, path_ticket(req, path)?))
}

fn version(req: &HttpRequest, form: &Form) -> WebResult<Option<i64>> {
    form.get("version")
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                WebError::new(
                    req,
                    StatusCode::BAD_REQUEST,
                    "validation_failed",
                    "The page's ticket version is not a number; reload the page.",
                )
            })
        })
        .transpose()
}

/// How a refused change shows: the ticket page again with the reason on top.
async fn refused(
    req: &HttpRequest,
    state: &AppState,
    op: &Operator,
    id: uuid::Uuid,
    err: ApiError,
) -> WebResult<HttpResponse> {
    let message = err.message.to_string();
    let status = err.status;
    ticket_page(
        req,
        state,
        op,
        id,
        status,
        None,
        Some((NoticeKind::Error, message)),
    )
    .await
}

/// Back to the ticket with `what` done, or the page again with why not.
async fn finish<T>(
    req: &HttpRequest,
    state: &AppState,
    op: &Operator,
    id: uuid::Uuid,
    outcome: Result<T, TicketError>,
    what: &str,
) -> WebResult<HttpResponse> {
    match outcome {
        Ok(_) => Ok(done(id, what)),
        Err(e) => refused(req, state, op, id, e.into()).await,
    }
}

/// Hands a change to the ticket's tenant actor, as `/admin` does.
async fn to_actor<M, T>(state: &AppState, id: uuid::Uuid, msg: M) -> Result<T, TicketError>
where
    M: actix::Message<Result = Result<T, TicketError>> + Send + Clone + 'static,
    T: Send,
    crate::tenants::actor::TenantActor: actix::Handler<M>,
{
    let ticket = ops::find(&state.db, id, None).await?;
    state
        .tenants
        .send(ticket.tenant_id, msg)
        .await
        .map_err(|_| TicketError::TenantBusy)?
}

fn done(id: uuid::Uuid, what: &str) -> HttpResponse {
    see_other(&format!(
        "/console/tickets/{}?{what}=1",
        TicketId::from_uuid(id)
    ))
}

async fn reply(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (op, form, id) = ticket_post(&req, &state, &path, &body).await?;
    let held = version(&req, &form)?;
    let draft = form.get("body").unwrap_or_default().to_string();
    let internal = form.checked("internal");
    let compose = match (form.get("macro_id"), form.get("body")) {
        (Some(raw), _) => raw
            .parse::<MacroId>()
            .map(|m| Compose::Macro(m.uuid()))
            .map_err(|_| ApiError::validation("macro_id", "That canned reply does not exist")),
        (None, Some(text)) => MessageBody::parse(text)
            .map(Compose::Text)
            .map_err(ApiError::from),
        (None, None) => Err(ApiError::validation(
            "body",
            "Write a message (or pick a canned reply) first",
        )),
    };
    let status = form
        .get("status")
        .map(str::parse::<TicketStatus>)
        .transpose()
        .map_err(ApiError::from);
    let (compose, status) = match (compose, status) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => return refused(&req, &state, &op, id, e).await,
    };
    let msg = AddMessage(NewMessage {
        ticket_id: id,
        actor: Author::Operator(op.staff.name.clone()),
        body: compose,
        internal,
        status,
        if_match: held,
    });
    match to_actor(&state, id, msg).await {
        Ok(_) => Ok(done(id, "sent")),
        Err(TicketError::PreconditionFailed { current }) => {
            let seen = form.get("seen").unwrap_or_default().to_string();
            let thread = query::thread_head(&state.reads, id, true, query::OPERATOR_EMBEDDED)
                .await
                .map_err(|e| WebError::internal(&req, e))?;
            let new_messages = thread
                .rows
                .into_iter()
                .map(MessageOut::from)
                .filter(|m| m.id.as_str() > seen.as_str())
                .collect();
            let collision = Collision {
                current_version: current,
                new_messages,
                draft,
                internal,
            };
            ticket_page(
                &req,
                &state,
                &op,
                id,
                StatusCode::PRECONDITION_FAILED,
                Some(collision),
                None,
            )
            .await
        }
        Err(e) => refused(&req, &state, &op, id, e.into()).await,
    }
}

async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (op, form, id) = ticket_post(&req, &state, &path, &body).await?;
    let held = version(&req, &form)?;
    let parsed = (|| -> Result<TicketChange, ApiError> {
        let tags: Vec<String> = form
            .get("tags")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        let assignee = match form.get("assignee_id") {
            None => None,
            Some(raw) => Some(raw.parse::<uuid::Uuid>().map_err(|_| {
                ApiError::validation("assignee_id", "Pick an operator from the list")
            })?),
        };
        Ok(TicketChange {
            ticket_id: id,
            actor: Author::Operator(op.staff.name.clone()),
            status: form
                .get("status")
                .map(str::parse::<TicketStatus>)
                .transpose()?,
            priority: form
                .get("priority")
                .map(str::parse::<Priority>)
                .transpose()?,
            assignee: Some(assignee),
            tags: Some(Tags::parse(&tags)?),
            if_match: held,
        })
    })();
    let change = match parsed {
        Ok(c) => c,
        Err(e) => return refused(&req, &state, &op, id, e).await,
    };
    match to_actor(&state, id, UpdateTicket(change)).await {
        Ok(_) => Ok(done(id, "saved")),
        Err(TicketError::PreconditionFailed { .. }) => {
            let err = ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "The ticket changed since you opened it, so nothing was saved. Check the changes below and save again.",
            );
            refused(&req, &state, &op, id, err).await
        }
        Err(e) => refused(&req, &state, &op, id, e.into()).await,
    }
}

async fn bounty(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (op, _, id) = ticket_post(&req, &state, &path, &body).await?;
    let msg = AwardBounty {
        ticket_id: id,
        operator: op.staff.name.clone(),
    };
    finish(
        &req,
        &state,
        &op,
        id,
        to_actor(&state, id, msg).await,
        "bounty",
    )
    .await
}

async fn merge(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (op, form, id) = ticket_post(&req, &state, &path, &body).await?;
    let held = version(&req, &form)?;
    let into = match form.get("into").map(str::parse::<TicketId>) {
        Some(Ok(into)) => into,
        _ => {
            let err = ApiError::validation("into", "Name the ticket to merge into (tkt_…)");
            return refused(&req, &state, &op, id, err).await;
        }
    };
    let msg = MergeTickets(Merge {
        source: id,
        into: into.uuid(),
        actor: Author::Operator(op.staff.name.clone()),
        if_match: held,
    });
    finish(
        &req,
        &state,
        &op,
        id,
        to_actor(&state, id, msg).await,
        "merged",
    )
    .await
}

const TENANTS_PAGE: u64 = 50;

fn flash_of(req: &HttpRequest, known: &[(&str, &str)]) -> Option<(NoticeKind, String)> {
    known
        .iter()
        .find(|(key, _)| req.query_string() == format!("{key}=1"))
        .map(|(_, text)| (NoticeKind::Success, text.to_string()))
}

async fn tenants(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let op = operator(&req, &state).await?;
    let q = QueryMap::from_request(&req).map_err(api(&req))?;
    let text = q.get("q").unwrap_or_default().to_string();
    let internal = |e: sea_orm::DbErr| WebError::internal(&req, e);
    let (rows, total, previous, next) = if text.is_empty() {
        let page = q.page().map_err(api(&req))?;
        let page = Page {
            limit: page.limit.min(TENANTS_PAGE),
            ..page
        };
        let (rows, total) = crate::tenants::list(&state.db, page)
            .await
            .map_err(internal)?;
        let link = |offset: u64| format!("/console/tenants?offset={offset}");
        let previous = (page.offset > 0).then(|| link(page.offset.saturating_sub(page.limit)));
        let next = (page.offset + page.limit < total).then(|| link(page.offset + page.limit));
        (rows, Some(total), previous, next)
    } else {
        let rows = crate::tenants::search(&state.db, &text, TENANTS_PAGE)
            .await
            .map_err(internal)?;
        (rows, None, None, None)
    };
    let rows: Vec<crate::tenants::TenantOut> = rows.into_iter().map(Into::into).collect();
    Ok(html(views::tenants(
        &op.viewer(),
        &views::TenantsPage {
            tenants: &rows,
            q: &text,
            total,
            previous,
            next,
        },
    )))
}

async fn tenant_page(
    req: &HttpRequest,
    state: &AppState,
    op: &Operator,
    raw_id: &str,
    status: StatusCode,
    flash: Option<(NoticeKind, String)>,
) -> WebResult<HttpResponse> {
    let found = crate::http::admin::tenants::find_tenant(state, raw_id)
        .await
        .map_err(api(req))?;
    let out = crate::tenants::TenantOut::from(found);
    let open_tickets_href = format!("{}?tenant_id={}", views::HOME, out.id);
    let markup = views::tenant(
        &op.viewer(),
        &views::TenantPage {
            tenant: &out,
            flash,
            open_tickets_href,
        },
    );
    Ok(super::page(status, markup, &FrameAncestors::None))
}

async fn tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> WebResult<HttpResponse> {
    let op = operator(&req, &state).await?;
    let flash = flash_of(&req, &[("saved", "Saved."), ("credited", "Credits added.")]);
    tenant_page(&req, &state, &op, &path, StatusCode::OK, flash).await
}

async fn update_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (op, form) = operator_posting(&req, &state, &body).await?;
    let number = |name: &str| -> Result<u32, ApiError> {
        form.get(name)
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| {
                ApiError::validation(name, "Custom limits need whole numbers of at least 1")
            })
    };
    let parsed = (|| -> Result<crate::tenants::TenantChange, ApiError> {
        let limits = match form.get("limits") {
            None => None,
            Some("plan") => Some(crate::tenants::LimitsChange::Plan),
            Some("unlimited") => Some(crate::tenants::LimitsChange::Unlimited),
            Some("custom") => Some(manage::custom_limits(
                number("requests_per_minute")?,
                number("burst")?,
            )?),
            Some(_) => {
                return Err(ApiError::validation(
                    "limits",
                    "Pick a rate limit from the list",
                ));
            }
        };
        Ok(crate::tenants::TenantChange {
            plan: form.get("plan").map(str::parse).transpose()?,
            limits,
            ..Default::default()
        })
    })();
    let outcome = match parsed {
        Ok(change) => {
            let found = crate::http::admin::tenants::find_tenant(&state, &path)
                .await
                .map_err(api(&req))?;
            manage::apply_change(&state.db, &state.auth, &state.limits, found, change)
                .await
                .map(|_| ())
                .map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    tenant_done(&req, &state, &op, &path, outcome, "saved").await
}

async fn credit_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (op, form) = operator_posting(&req, &state, &body).await?;
    let found = crate::http::admin::tenants::find_tenant(&state, &path)
        .await
        .map_err(api(&req))?;
    let outcome = match form.get("amount_cents").map(str::parse::<i64>) {
        Some(Ok(cents)) => manage::credit(&state.tenants, found.id, cents, form.get("note"))
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        _ => Err(ApiError::validation(
            "amount_cents",
            "Enter the amount in whole cents (at least 1)",
        )),
    };
    tenant_done(&req, &state, &op, &path, outcome, "credited").await
}

async fn tenant_done(
    req: &HttpRequest,
    state: &AppState,
    op: &Operator,
    raw_id: &str,
    outcome: Result<(), ApiError>,
    what: &str,
) -> WebResult<HttpResponse> {
    match outcome {
        Ok(()) => Ok(see_other(&format!("/console/tenants/{raw_id}?{what}=1"))),
        Err(e) => {
            let flash = Some((NoticeKind::Error, e.message.to_string()));
            tenant_page(req, state, op, raw_id, e.status, flash).await
        }
    }
}

/// The dead jobs the queues page lists per queue.
const DEAD_SHOWN: u64 = 20;

async fn queues(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let op = operator(&req, &state).await?;
    let now = Utc::now();
    let mut lines = Vec::new();
    let mut dead = Vec::new();
    for queue in workers::jobs::Queue::ALL {
        let stats = crate::queues::stats(&state.db, &state.jobs.transport, queue, now)
            .await
            .map_err(|e| api(&req)(e.into()))?;
        if stats.dead > 0 {
            let page = Page {
                limit: DEAD_SHOWN,
                offset: 0,
            };
            let (jobs, _) =
                crate::queues::jobs(&state.db, queue, crate::queues::JobState::Dead, page)
                    .await
                    .map_err(|e| api(&req)(e.into()))?;
            let text =
                |j: &serde_json::Value, k: &str| j[k].as_str().unwrap_or_default().to_string();
            dead.extend(jobs.iter().map(|j| views::DeadJob {
                queue: queue.as_str(),
                id: text(j, "id"),
                tenant_id: text(j, "tenant_id"),
                attempts: j["attempts"].as_i64().unwrap_or_default(),
                last_error: text(j, "last_error"),
                created_at: text(j, "created_at"),
            }));
        }
        lines.push(views::QueueLine {
            name: stats.name,
            pending: stats.pending,
            scheduled: stats.scheduled,
            running: stats.running,
            failed: stats.failed,
            dead: stats.dead,
            oldest_pending_age_seconds: stats.oldest_pending_age_seconds,
        });
    }
    let lag = workers::outbox::oldest_unsent_age(&state.db, now)
        .await
        .map_err(|e| WebError::internal(&req, e))?
        .map(|d| d.num_seconds());
    let flash = flash_of(&req, &[("retried", "The job is pending again.")]);
    Ok(html(views::queues(
        &op.viewer(),
        &views::QueuesPage {
            backend: state.jobs.transport.kind(),
            queues: &lines,
            dead: &dead,
            outbox_lag_seconds: lag,
            flash,
        },
    )))
}

async fn retry_job(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    operator_posting(&req, &state, &body).await?;
    let (queue, id) = path.into_inner();
    let queue = crate::http::admin::queues::parse_queue(&queue).map_err(api(&req))?;
    crate::queues::retry(&state.db, queue, &id, Utc::now())
        .await
        .map_err(|e| api(&req)(e.into()))?;
    state.jobs.nudge.nudge();
    Ok(see_other("/console/queues?retried=1"))
}

async fn banner(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let op = operator(&req, &state).await?;
    let current = state
        .banner
        .get(&state.db)
        .await
        .map_err(|e| WebError::internal(&req, e))?;
    let flash = flash_of(&req, &[("published", "Published.")]);
    Ok(html(views::banner(&op.viewer(), &current, flash)))
}

async fn set_banner(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (op, form) = operator_posting(&req, &state, &body).await?;
    let published = state
        .banner
        .publish(&state.db, form.get("status"), form.get("message"))
        .await
        .map_err(ApiError::from);
    match published {
        Ok(_) => Ok(see_other("/console/status?published=1")),
        Err(e) => {
            let current = state
                .banner
                .get(&state.db)
                .await
                .map_err(|e| WebError::internal(&req, e))?;
            let flash = Some((NoticeKind::Error, e.message.to_string()));
            Ok(super::page(
                e.status,
                views::banner(&op.viewer(), &current, flash),
                &FrameAncestors::None,
            ))
        }
    }
}
