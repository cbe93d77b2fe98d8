//! `/portal`: the tenant's Support tab. A single-use link (`/portal/start?token=…`, made by
//! `POST /v1/portal/sessions`) opens a browser session for one tenant (the shared session
//! feature, `crate::sessions`); every page reads and changes through the same feature calls
//! as the `/v1` API (the tenant's actor, `tickets::query`, `notifications::feed`, `banner`),
//! so the rules are the API's. Pages may be framed by the origins of the tenant's
//! publishable keys (`allowed_origins`), nobody else.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use uuid::Uuid;

use crate::app::AppState;
use crate::domain::ids::TicketId;
use crate::domain::status::TicketStatus;
use crate::domain::validate::MessageBody;
use crate::feed::hub::Holder;
use crate::feed::store::Scope;
use crate::http::error::ApiError;
use crate::http::query::QueryMap;
use crate::http::tickets::{TicketIn, ticket_filter, ticket_id};
use crate::http::web::{
    CookiePolicy, Form, FrameAncestors, SessionCookie, SignedIn, WebError, WebResult, api,
    came_over_tls, current_session, page, posting, see_other, sign_out as end_session, signed_in,
};
use crate::notifications::feed;
use crate::pagination::Page;
use crate::portal::views::{
    self, Frame, ListFilters, ListPage, NewTicketForm, NewTicketPage, NotificationsPage, TicketPage,
};
use crate::portal::{PortalError, links};
use crate::sessions::{self, Session, SessionPrincipal};
use crate::tenants::actor::{AddMessage, UpdateTicket};
use crate::tickets::ops::{self, Author, Compose, NewMessage, TicketChange};
use crate::tickets::query::{self, Sort, TicketFilter};
use crate::tickets::rows;
use crate::tickets::view::TicketOut;
use crate::ui::NoticeKind;

/// The Support tab's session cookie.
pub const COOKIE: SessionCookie = SessionCookie {
    name: "helpline_portal",
    path: views::HOME,
    policy: CookiePolicy::Embeddable,
};
/// Where the tab's "Back" link leads, from the link that opened it.
pub const RETURN_COOKIE: SessionCookie = SessionCookie {
    name: "helpline_portal_return",
    path: views::HOME,
    policy: CookiePolicy::Embeddable,
};
/// Tickets per page of the list.
const LIST_PAGE: u64 = 25;
/// Notifications shown.
const NOTIFICATIONS_SHOWN: u64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(links::START_PATH).route(web::get().to(start)))
        .service(web::resource(views::HOME).route(web::get().to(list)))
        .service(web::resource(views::NEW_TICKET).route(web::get().to(new_ticket_form)))
        .service(web::resource("/portal/tickets").route(web::post().to(create_ticket)))
        .service(web::resource("/portal/tickets/{id}").route(web::get().to(ticket)))
        .service(web::resource("/portal/tickets/{id}/reply").route(web::post().to(reply)))
        .service(web::resource("/portal/tickets/{id}/status").route(web::post().to(set_status)))
        .service(web::resource(views::NOTIFICATIONS).route(web::get().to(notifications)))
        .service(web::resource("/portal/notifications/read-all").route(web::post().to(read_all)))
        .service(web::resource(views::SIGN_OUT).route(web::post().to(sign_out)))
        .service(web::resource(views::EVENTS).route(web::get().to(events)));
}

/// A signed-in visitor of one tenant's Support tab.
struct Visitor {
    session: Session,
    tenant: entities::tenants::Model,
    return_url: Option<String>,
}

impl Visitor {
    fn tenant_id(&self) -> Uuid {
        self.tenant.id
    }
}

impl SignedIn for Visitor {
    fn session(&self) -> &Session {
        &self.session
    }
}

fn signed_out_page(req: &HttpRequest) -> WebError {
    WebError::from_api(
        req,
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "portal_signed_out",
            "Your Support session has ended. Open Support again from your account to continue.",
        ),
    )
}

async fn visitor(req: &HttpRequest, state: &AppState) -> WebResult<Visitor> {
    let Some(session) = current_session(req, state, COOKIE.name).await? else {
        return Err(signed_out_page(req));
    };
    let SessionPrincipal::Tenant(tenant_id) = session.principal else {
        return Err(signed_out_page(req));
    };
    let tenant = crate::tenants::find(&state.db, tenant_id)
        .await
        .map_err(|e| WebError::internal(req, e))?
        .ok_or_else(|| signed_out_page(req))?;
    let return_url = req
        .cookie(RETURN_COOKIE.name)
        .map(|c| c.value().to_string())
        .and_then(|raw| crate::domain::web::ReturnUrl::parse(&raw, "return_url").ok())
        .map(crate::domain::web::ReturnUrl::into_inner);
    Ok(Visitor {
        session,
        tenant,
        return_url,
    })
}

/// The visitor of a state-changing request: signed in, and the form carries the session's
/// CSRF token.
async fn visitor_posting(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> WebResult<(Visitor, Form)> {
    posting(req, body, visitor(req, state)).await
}

/// Who may frame the tab: the origins the tenant's publishable keys list.
async fn frame_ancestors(
    state: &AppState,
    tenant_id: Uuid,
) -> Result<FrameAncestors, sea_orm::DbErr> {
    crate::account::keys::publishable_origins(&state.db, tenant_id)
        .await
        .map(FrameAncestors::Origins)
}

/// Renders a page of the tab for `v`: `build` gets the frame (banner, unread count, …).
async fn render(
    req: &HttpRequest,
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    build: impl FnOnce(&Frame<'_>) -> maud::Markup,
) -> WebResult<HttpResponse> {
    let internal = |e: sea_orm::DbErr| WebError::internal(req, e);
    let unread = feed::list(
        &state.db,
        v.tenant_id(),
        Some(true),
        Page {
            limit: 0,
            offset: 0,
        },
    )
    .await
    .map_err(internal)?
    .unread_count;
    let banner = state.banner.get(&state.db).await.map_err(internal)?;
    let frame = Frame {
        tenant_name: &v.tenant.name,
        csrf_token: &v.session.csrf_token,
        unread,
        banner: &banner,
        return_url: v.return_url.as_deref(),
    };
    let markup = build(&frame);
    let ancestors = frame_ancestors(state, v.tenant_id())
        .await
        .map_err(internal)?;
    Ok(page(status, markup, &ancestors))
}

/// `GET /portal/start?token=…`: opens the link (once) and signs this browser into the
/// tenant's tab. A used, expired or unknown link shows why, and creates nothing.
async fn start(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let token = QueryMap::from_request(&req)
        .ok()
        .and_then(|q| q.get("token").map(str::to_string))
        .unwrap_or_default();
    let internal = |e: sea_orm::DbErr| WebError::internal(&req, e);
    let (opened, created) = match links::sign_in(&state.db, &token, Utc::now()).await {
        Ok(opened_session) => opened_session,
        Err(PortalError::Db(e)) => return Err(internal(e)),
        Err(refused) => {
            let (status, title) = match &refused {
                PortalError::LinkUsed { .. } => (StatusCode::GONE, "This link was already used"),
                PortalError::LinkExpired { .. } => (StatusCode::GONE, "This link has expired"),
                _ => (StatusCode::NOT_FOUND, "This link is not valid"),
            };
            let ancestors = match refused.tenant_id() {
                Some(tenant) => frame_ancestors(&state, tenant).await.map_err(internal)?,
                None => FrameAncestors::None,
            };
            let message = ApiError::from(refused).message;
            return Ok(page(
                status,
                views::link_refused(title, &message),
                &ancestors,
            ));
        }
    };
    // A session this browser held before (another link, maybe another tenant) ends now.
    if let Some(previous) = current_session(&req, &state, COOKIE.name).await? {
        sessions::revoke(&state.db, previous.id)
            .await
            .map_err(|e| WebError::internal(&req, e))?;
    }
    let mut res = signed_in(&req, &state, &COOKIE, created.token, views::HOME)?;
    let secure = came_over_tls(&req, &state.config.trusted_proxies);
    match opened.return_url {
        Some(url) => RETURN_COOKIE.set(&mut res, url, secure),
        None => RETURN_COOKIE.clear(&mut res, secure),
    }
    .map_err(|e| WebError::internal(&req, e))?;
    Ok(res)
}

async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (v, _) = visitor_posting(&req, &state, &body).await?;
    let ancestors = frame_ancestors(&state, v.tenant_id())
        .await
        .map_err(|e| WebError::internal(&req, e))?;
    let res = page(
        StatusCode::OK,
        crate::ui::refusal(
            views::PRODUCT,
            v.return_url.as_deref().unwrap_or(views::HOME),
            "Signed out",
            "You are signed out of Support. Open Support again from your account to come back.",
        ),
        &ancestors,
    );
    end_session(&req, &state, &v.session, &[COOKIE, RETURN_COOKIE], res).await
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let v = visitor(&req, &state).await?;
    let q = QueryMap::from_request(&req).map_err(api(&req))?;
    let raw = |k: &str| q.get(k).unwrap_or_default().to_string();
    let filters = ListFilters {
        status: raw("status"),
        category: raw("category"),
        priority: raw("priority"),
        q: raw("q"),
    };
    let now = Utc::now();
    let parsed = ticket_filter(&q).and_then(|f| Ok((f, q.cursor()?)));
    let (tickets, total, next, first, error) = match parsed {
        Ok((filter, cursor)) => {
            let filter = TicketFilter {
                tenant_id: Some(v.tenant_id()),
                ..filter
            };
            let page = Page {
                limit: LIST_PAGE,
                offset: 0,
            };
            let listed = query::list(&state.reads, &filter, page, cursor, Sort::default(), now)
                .await
                .map_err(|e| WebError::internal(&req, e))?;
            let tickets: Vec<TicketOut> = rows::models(&listed.rows)
                .map_err(|e| WebError::internal(&req, e))?
                .into_iter()
                .map(|t| TicketOut::summary(t, now))
                .collect();
            let next = listed.next_cursor.as_deref().map(|c| filters.link(Some(c)));
            let first = cursor.is_some().then(|| filters.link(None));
            (tickets, listed.total, next, first, None)
        }
        Err(e) => (Vec::new(), 0, None, None, Some(e.message.to_string())),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let flash = match req.query_string() {
        "signed_in=1" => Some((NoticeKind::Success, "Welcome to Support.".to_string())),
        _ => None,
    };
    render(&req, &state, &v, status, |frame| {
        views::ticket_list(
            frame,
            &ListPage {
                tickets: &tickets,
                total,
                filters: &filters,
                first,
                next,
                error,
                flash,
                now,
            },
        )
    })
    .await
}

/// The tenant's ticket, or the "no such ticket" page: another tenant's ticket answers
/// exactly like one that does not exist.
async fn own_ticket(
    req: &HttpRequest,
    state: &AppState,
    v: &Visitor,
    raw: &str,
) -> WebResult<TicketOut> {
    let id = ticket_id(raw).map_err(api(req))?;
    let found = ops::find(&state.reads, id, Some(v.tenant_id()))
        .await
        .map_err(|e| WebError::from_api(req, e.into()))?;
    let thread = query::thread_head(&state.reads, found.id, false, query::EMBEDDED_MESSAGES)
        .await
        .map_err(|e| WebError::internal(req, e))?;
    Ok(TicketOut::with_thread(found, thread, Utc::now()))
}

async fn ticket_page(
    req: &HttpRequest,
    state: &AppState,
    v: &Visitor,
    raw: &str,
    status: StatusCode,
    draft: &str,
    flash: Option<(NoticeKind, String)>,
) -> WebResult<HttpResponse> {
    let t = own_ticket(req, state, v, raw).await?;
    let messages = t.messages.clone().unwrap_or_default();
    render(req, state, v, status, |frame| {
        views::ticket(
            frame,
            &TicketPage {
                ticket: &t,
                messages: &messages,
                messages_truncated: t.messages_next.is_some(),
                draft,
                flash,
            },
        )
    })
    .await
}

async fn ticket(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> WebResult<HttpResponse> {
    let v = visitor(&req, &state).await?;
    let flash = match req.query_string() {
        "sent=1" => Some((NoticeKind::Success, "Reply sent.".to_string())),
        "opened=1" => Some((
            NoticeKind::Success,
            "Ticket opened. We will answer here and by email.".to_string(),
        )),
        "status=resolved" => Some((NoticeKind::Success, "Marked resolved.".to_string())),
        "status=closed" => Some((NoticeKind::Success, "Ticket closed.".to_string())),
        "status=open" => Some((NoticeKind::Success, "Ticket reopened.".to_string())),
        _ => None,
    };
    ticket_page(&req, &state, &v, &path, StatusCode::OK, "", flash).await
}

/// A refused change: the ticket page again, with the API's reason on top.
async fn refused(
    req: &HttpRequest,
    state: &AppState,
    v: &Visitor,
    raw: &str,
    draft: &str,
    err: ApiError,
) -> WebResult<HttpResponse> {
    let flash = Some((NoticeKind::Error, err.message.to_string()));
    ticket_page(req, state, v, raw, err.status, draft, flash).await
}

async fn reply(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (v, form) = visitor_posting(&req, &state, &body).await?;
    let t = own_ticket(&req, &state, &v, &path).await?;
    let draft = form.get("body").unwrap_or_default().to_string();
    let text = match MessageBody::parse(&draft) {
        Ok(text) => text,
        Err(e) => return refused(&req, &state, &v, &path, &draft, e.into()).await,
    };
    let id = t.id.uuid();
    let msg = AddMessage(NewMessage {
        ticket_id: id,
        actor: Author::Customer,
        body: Compose::Text(text),
        internal: false,
        status: None,
        if_match: None,
    });
    match state.tenants.send(v.tenant_id(), msg).await {
        Ok(Ok(_)) => Ok(see_other(&format!("{}?sent=1", views::ticket_path(t.id)))),
        Ok(Err(e)) => refused(&req, &state, &v, &path, &draft, e.into()).await,
        Err(busy) => refused(&req, &state, &v, &path, &draft, busy.into()).await,
    }
}

async fn set_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (v, form) = visitor_posting(&req, &state, &body).await?;
    let t = own_ticket(&req, &state, &v, &path).await?;
    let target = match form
        .get("status")
        .unwrap_or_default()
        .parse::<TicketStatus>()
    {
        Ok(target) => target,
        Err(e) => return refused(&req, &state, &v, &path, "", e.into()).await,
    };
    let change = UpdateTicket(TicketChange {
        ticket_id: t.id.uuid(),
        actor: Author::Customer,
        status: Some(target),
        priority: None,
        assignee: None,
        tags: None,
        if_match: None,
    });
    match state.tenants.send(v.tenant_id(), change).await {
        Ok(Ok(_)) => Ok(see_other(&format!(
            "{}?status={}",
            views::ticket_path(t.id),
            target.as_str()
        ))),
        Ok(Err(e)) => refused(&req, &state, &v, &path, "", e.into()).await,
        Err(busy) => refused(&req, &state, &v, &path, "", busy.into()).await,
    }
}

async fn new_ticket_page(
    req: &HttpRequest,
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    form: &NewTicketForm,
    error: Option<String>,
) -> WebResult<HttpResponse> {
    let fee_cents = state.config.ticket_fee_cents;
    // Read again: a refused create may have raced a top-up.
    let balance_cents = crate::tenants::find(&state.db, v.tenant_id())
        .await
        .map_err(|e| WebError::internal(req, e))?
        .map_or(v.tenant.balance_cents, |t| t.balance_cents);
    let short_of_credit = status == StatusCode::PAYMENT_REQUIRED;
    render(req, state, v, status, |frame| {
        views::new_ticket(
            frame,
            &NewTicketPage {
                form,
                fee_cents,
                balance_cents,
                error,
                short_of_credit,
            },
        )
    })
    .await
}

async fn new_ticket_form(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let v = visitor(&req, &state).await?;
    new_ticket_page(
        &req,
        &state,
        &v,
        StatusCode::OK,
        &NewTicketForm::default(),
        None,
    )
    .await
}

async fn create_ticket(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (v, form) = visitor_posting(&req, &state, &body).await?;
    let typed = NewTicketForm {
        subject: form.get("subject").unwrap_or_default().to_string(),
        category: form.get("category").unwrap_or_default().to_string(),
        priority: form.get("priority").unwrap_or_default().to_string(),
        description: form.get("description").unwrap_or_default().to_string(),
    };
    let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let parsed = TicketIn {
        subject: given(&typed.subject),
        category: given(&typed.category),
        description: given(&typed.description),
        body: None,
        priority: given(&typed.priority),
        call_id: None,
        source_session_id: None,
        contact_email: None,
    }
    .parse();
    let new = match parsed {
        Ok(new) => new,
        Err(e) => {
            let message = e.message.to_string();
            return new_ticket_page(&req, &state, &v, e.status, &typed, Some(message)).await;
        }
    };
    match state.tenants.create(v.tenant_id(), new).await {
        Ok(Ok(created)) => {
            let id = TicketId::from_uuid(created.ticket.id);
            Ok(see_other(&format!("{}?opened=1", views::ticket_path(id))))
        }
        // `402 insufficient_credits` among them: the page then says what the balance lacks.
        Ok(Err(e)) => {
            let err = ApiError::from(e);
            let message = err.message.to_string();
            new_ticket_page(&req, &state, &v, err.status, &typed, Some(message)).await
        }
        Err(busy) => {
            let err = ApiError::from(busy);
            let message = err.message.to_string();
            new_ticket_page(&req, &state, &v, err.status, &typed, Some(message)).await
        }
    }
}

async fn notifications(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let v = visitor(&req, &state).await?;
    let listed = feed::list(
        &state.db,
        v.tenant_id(),
        None,
        Page {
            limit: NOTIFICATIONS_SHOWN,
            offset: 0,
        },
    )
    .await
    .map_err(|e| WebError::internal(&req, e))?;
    let now = Utc::now();
    render(&req, &state, &v, StatusCode::OK, |frame| {
        views::notifications(
            frame,
            &NotificationsPage {
                rows: &listed.rows,
                unread: listed.unread_count,
                now,
            },
        )
    })
    .await
}

async fn read_all(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    let (v, _) = visitor_posting(&req, &state, &body).await?;
    feed::mark_all_read(&state.db, v.tenant_id(), Utc::now())
        .await
        .map_err(|e| WebError::internal(&req, e))?;
    Ok(see_other(views::NOTIFICATIONS))
}

/// The tenant's own public events, for the page's script: the same feed and hub as
/// `GET /v1/events/stream`, held by the browser session.
async fn events(req: HttpRequest, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    let v = visitor(&req, &state).await?;
    let q = QueryMap::from_request(&req).map_err(api(&req))?;
    let resume = crate::http::events::last_event_id(&req, &q).map_err(api(&req))?;
    crate::http::events::sse(
        &state,
        Scope::tenant(v.tenant_id()),
        Holder::Session(v.session.id),
        resume,
    )
    .await
    .map_err(api(&req))
}
