//! The Support tab's pages. Each takes what it shows, already read through the ticket,
//! billing, notification and banner features, and returns markup; the edge
//! (`src/http/portal/pages.rs`) reads, calls these, and answers. Only what a tenant may see
//! is ever passed in: public messages, no tags, no assignee, no internal notes.
use chrono::{DateTime, Utc};
use entities::notifications;
use entities::values::MessageAuthor;
use maud::{Markup, html};

use crate::banner::{Banner, Level};
use crate::domain::ids::TicketId;
use crate::domain::status::TicketStatus;
use crate::domain::ticket::{Category, Priority};
use crate::tickets::view::{MessageOut, TicketOut};
use crate::ui::assets::PORTAL_SCRIPT;
use crate::ui::format::{iso, money, relative, timestamp};
use crate::ui::{
    Layout, NavLink, NoticeKind, SignedIn, category_label, csrf_field, humanize, notice, page,
    priority_badge, select, status_badge,
};

pub const PRODUCT: &str = "Support";
pub const HOME: &str = "/portal";
pub const NEW_TICKET: &str = "/portal/new";
pub const NOTIFICATIONS: &str = "/portal/notifications";
pub const SIGN_OUT: &str = "/portal/sign-out";
/// The tenant's live events for the page's script (an `EventSource` sends the cookie).
pub const EVENTS: &str = "/portal/events";

/// The tab's sections, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Tickets,
    NewTicket,
    Notifications,
}

const SECTIONS: [(Section, &str, &str); 3] = [
    (Section::Tickets, HOME, "Tickets"),
    (Section::NewTicket, NEW_TICKET, "Open a ticket"),
    (Section::Notifications, NOTIFICATIONS, "Notifications"),
];

/// Where a ticket's page lives.
pub fn ticket_path(id: TicketId) -> String {
    format!("{HOME}/tickets/{id}")
}

/// What every page of the tab shows around its content.
pub struct Frame<'a> {
    pub tenant_name: &'a str,
    pub csrf_token: &'a str,
    pub unread: u64,
    pub banner: &'a Banner,
    /// Where "Back" leads (the platform's own console), from the link that opened the tab.
    pub return_url: Option<&'a str>,
}

fn shell(
    frame: &Frame<'_>,
    section: Section,
    title: &str,
    body_page: &str,
    main: Markup,
) -> Markup {
    let layout = Layout {
        title,
        product: PRODUCT,
        home: HOME,
        nav: SECTIONS
            .iter()
            .map(|(s, href, label)| NavLink {
                href,
                label,
                current: *s == section,
            })
            .collect(),
        signed_in: Some(SignedIn {
            name: frame.tenant_name,
            sign_out: SIGN_OUT,
            csrf_token: frame.csrf_token,
        }),
        scripts: &[PORTAL_SCRIPT],
        page: body_page,
    };
    page(
        &layout,
        html! {
            div.portal-strip {
                @if let Some(back) = frame.return_url {
                    a.back href=(back) target="_top" { "← Back" }
                }
                a class={ "unread" @if frame.unread > 0 { " has-unread" } } href=(NOTIFICATIONS) data-events=(EVENTS) {
                    "Notifications "
                    span.count #unread-count aria-live="polite" { (frame.unread) }
                    span.visually-hidden { " unread" }
                }
            }
            (banner_strip(frame.banner))
            p.live-note #live-note role="status" hidden { }
            (main)
        },
    )
}

/// The status banner: said in words, coloured by level; nothing when all is well and the
/// message is the default.
fn banner_strip(banner: &Banner) -> Markup {
    let level = banner.status;
    let (kind, word) = match level {
        Level::Operational => (NoticeKind::Success, "All systems operational"),
        Level::Degraded => (NoticeKind::Warning, "Degraded performance"),
        Level::Outage => (NoticeKind::Error, "Service outage"),
    };
    html! {
        div #status-banner data-level=(level.as_str()) {
            @if level == Level::Operational {
                p.status-line.muted { span.dot.dot-ok aria-hidden="true" {} (word) }
            } @else {
                (notice(kind, &format!("{word}: {}", banner.message)))
            }
        }
    }
}

/// `just now`, `5m ago`: how long ago something happened (a clock a second ahead of the
/// database's never reads "in 0s").
fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if (now - at).num_seconds() < 10 {
        "just now".to_string()
    } else {
        relative(at, now)
    }
}

/// The filters of the ticket list, as typed (kept in the URL).
#[derive(Debug, Default, Clone)]
pub struct ListFilters {
    pub status: String,
    pub category: String,
    pub priority: String,
    pub q: String,
}

impl ListFilters {
    fn fields(&self) -> [(&'static str, &str); 4] {
        [
            ("status", self.status.as_str()),
            ("category", self.category.as_str()),
            ("priority", self.priority.as_str()),
            ("q", self.q.as_str()),
        ]
    }

    /// The list with these filters, from `cursor` (the first page without one).
    pub fn link(&self, cursor: Option<&str>) -> String {
        crate::ui::list_link(HOME, &self.fields(), cursor)
    }

    fn any(&self) -> bool {
        self.fields().iter().any(|(_, value)| !value.is_empty())
    }
}

/// One page of the ticket list.
pub struct ListPage<'a> {
    pub tickets: &'a [TicketOut],
    pub total: u64,
    pub filters: &'a ListFilters,
    /// The first page of this list (without a cursor), when this is a later one.
    pub first: Option<String>,
    pub next: Option<String>,
    pub error: Option<String>,
    pub flash: Option<(NoticeKind, String)>,
    pub now: DateTime<Utc>,
}

fn options<T: Copy>(
    any: &str,
    all: &[T],
    as_str: impl Fn(T) -> &'static str,
) -> Vec<(String, String)> {
    std::iter::once((String::new(), any.to_string()))
        .chain(
            all.iter()
                .map(|v| (as_str(*v).to_string(), category_label(as_str(*v)))),
        )
        .collect()
}

pub fn ticket_list(frame: &Frame<'_>, p: &ListPage<'_>) -> Markup {
    let f = p.filters;
    shell(
        frame,
        Section::Tickets,
        "Your tickets",
        "portal-list",
        html! {
            div.page-head {
                h1 { "Your tickets" }
                p.muted #ticket-count {
                    (p.total) @if p.total == 1 { " ticket" } @else { " tickets" }
                    @if f.any() { " match" }
                }
            }
            @if let Some((kind, message)) = &p.flash { (notice(*kind, message)) }
            @if let Some(error) = &p.error { (notice(NoticeKind::Error, error)) }
            form.filters method="get" action=(HOME) aria-label="Filters" {
                div.field.search-field {
                    label for="f-q" { "Search" }
                    input #f-q type="search" name="q" value=(f.q) placeholder="Words in the subject or thread" maxlength="200";
                }
                (select("f-status", "status", "Status", &f.status, &options("Any", &TicketStatus::ALL, TicketStatus::as_str)))
                (select("f-category", "category", "Category", &f.category, &options("Any", &Category::ALL, Category::as_str)))
                (select("f-priority", "priority", "Priority", &f.priority, &options("Any", &Priority::ALL, Priority::as_str)))
                div.field.actions {
                    button type="submit" { "Apply" }
                    @if f.any() { a href=(HOME) { "Clear" } }
                }
            }
            @if p.tickets.is_empty() {
                div.empty #ticket-list {
                    @if f.any() {
                        "No tickets match these filters."
                    } @else {
                        p { "You have no support tickets yet." }
                        p { a.button-link href=(NEW_TICKET) { "Open a ticket" } }
                    }
                }
            } @else {
                table.inbox.portal-list #ticket-list {
                    caption.visually-hidden { "Your tickets, newest first" }
                    thead {
                        tr {
                            th scope="col" { "Ticket" }
                            th scope="col" { "Status" }
                            th scope="col" { "Priority" }
                            th scope="col" class="num" { "Messages" }
                            th scope="col" { "Updated" }
                        }
                    }
                    tbody {
                        @for t in p.tickets {
                            tr.ticket-row data-ticket=(t.id) {
                                td {
                                    a.subject href=(ticket_path(t.id)) { (t.subject) }
                                    div.meta { code { (t.id) } " · " (category_label(t.category.as_str())) }
                                }
                                td { (status_badge(t.status.as_str())) }
                                td { (priority_badge(t.priority.as_str())) }
                                td.num { (t.message_count) }
                                td { time datetime=(iso(t.updated_at)) title=(timestamp(t.updated_at)) { (ago(t.updated_at, p.now)) } }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if let Some(first) = &p.first { a href=(first) { "← Newest" } } @else { span {} }
                @if let Some(next) = &p.next { a rel="next" href=(next) { "Older →" } }
            }
        },
    )
}

/// A ticket's page.
pub struct TicketPage<'a> {
    pub ticket: &'a TicketOut,
    pub messages: &'a [MessageOut],
    pub messages_truncated: bool,
    /// The reply the visitor typed, kept when it was refused.
    pub draft: &'a str,
    pub flash: Option<(NoticeKind, String)>,
}

fn message(m: &MessageOut) -> Markup {
    let (class, label) = match MessageAuthor::parse(&m.author) {
        Some(MessageAuthor::Customer) => ("customer", "You".to_string()),
        _ => (
            "operator",
            format!("Support · {}", m.author_name.as_deref().unwrap_or("team")),
        ),
    };
    html! {
        article class={ "message message-" (class) } data-message=(m.id) {
            header {
                strong.author { (label) }
                " "
                time datetime=(iso(m.created_at)) { (timestamp(m.created_at)) }
            }
            div.body { (m.body) }
        }
    }
}

/// The status changes a tenant may make from `status`, as (target, button label).
fn status_actions(status: TicketStatus) -> Vec<(TicketStatus, &'static str)> {
    match status {
        TicketStatus::Closed => Vec::new(),
        TicketStatus::Resolved => vec![
            (TicketStatus::Open, "Reopen"),
            (TicketStatus::Closed, "Close"),
        ],
        _ => vec![
            (TicketStatus::Resolved, "Mark resolved"),
            (TicketStatus::Closed, "Close"),
        ],
    }
}

pub fn ticket(frame: &Frame<'_>, p: &TicketPage<'_>) -> Markup {
    let t = p.ticket;
    let closed = t.status == TicketStatus::Closed;
    let action = |what: &str| format!("{}/{what}", ticket_path(t.id));
    shell(
        frame,
        Section::Tickets,
        &t.subject,
        "portal-ticket",
        html! {
            p.crumbs { a href=(HOME) { "← All tickets" } }
            div.page-head {
                h1 { (t.subject) }
                div.badges {
                    span #ticket-status { (status_badge(t.status.as_str())) }
                    (priority_badge(t.priority.as_str()))
                    span.meta { code { (t.id) } " · " (category_label(t.category.as_str())) " · opened " (timestamp(t.created_at)) }
                }
            }
            @if let Some((kind, message)) = &p.flash { (notice(*kind, message)) }
            div.ticket-layout {
                div {
                    @if p.messages_truncated {
                        (notice(NoticeKind::Info, "Only the most recent messages are shown."))
                    }
                    section.thread #thread aria-label="Conversation" data-ticket=(t.id) {
                        @for m in p.messages { (message(m)) }
                    }
                    @if closed {
                        (notice(NoticeKind::Info, "This ticket is closed, so it takes no more replies. Open a new ticket instead."))
                        p { a href=(NEW_TICKET) { "Open a new ticket" } }
                    } @else {
                        form.reply method="post" action=(action("reply")) {
                            (csrf_field(frame.csrf_token))
                            div.field {
                                label for="reply-body" { "Your reply" }
                                textarea #reply-body name="body" required maxlength="5000" rows="5" { (p.draft) }
                                @if t.status == TicketStatus::Resolved {
                                    p.hint { "Replying reopens this resolved ticket." }
                                }
                            }
                            button.primary type="submit" { "Send reply" }
                        }
                    }
                }
                aside.card aria-label="Ticket details" {
                    h2 { "Details" }
                    dl.keys {
                        dt { "Status" } dd #ticket-status-detail { (humanize(t.status.as_str())) }
                        dt { "Priority" } dd { (humanize(t.priority.as_str())) }
                        dt { "Category" } dd { (category_label(t.category.as_str())) }
                        dt { "First response" }
                        dd {
                            @match (t.sla.first_response_at, t.sla.first_response_due_at) {
                                (Some(at), _) => { (timestamp(at)) }
                                (None, Some(due)) => { "expected by " (timestamp(due)) }
                                (None, None) => { (t.sla.first_response_target) }
                            }
                        }
                        dt { "Fee" } dd { (money(t.charge.amount_cents)) }
                    }
                    @for (target, label) in status_actions(t.status) {
                        form.inline-form method="post" action=(action("status")) {
                            (csrf_field(frame.csrf_token))
                            input type="hidden" name="status" value=(target);
                            button class=(if target == TicketStatus::Closed { "danger" } else { "" }) type="submit" { (label) }
                        }
                    }
                    @if !closed {
                        p.hint { "Closing is final: a closed ticket cannot be reopened." }
                    }
                }
            }
        },
    )
}

/// The "open a ticket" form, as typed.
#[derive(Debug, Default, Clone)]
pub struct NewTicketForm {
    pub subject: String,
    pub category: String,
    pub priority: String,
    pub description: String,
}

pub struct NewTicketPage<'a> {
    pub form: &'a NewTicketForm,
    pub fee_cents: i64,
    pub balance_cents: i64,
    pub error: Option<String>,
    /// The balance cannot pay the fee (the last attempt was refused with `402`, or it is
    /// plainly too low).
    pub short_of_credit: bool,
}

pub fn new_ticket(frame: &Frame<'_>, p: &NewTicketPage<'_>) -> Markup {
    let f = p.form;
    let categories = options("Choose a category", &Category::ALL, Category::as_str);
    let priorities: Vec<(String, String)> = Priority::ALL
        .iter()
        .map(|v| (v.as_str().to_string(), humanize(v.as_str())))
        .collect();
    let priority = if f.priority.is_empty() {
        Priority::default().as_str()
    } else {
        &f.priority
    };
    shell(
        frame,
        Section::NewTicket,
        "Open a ticket",
        "portal-new",
        html! {
            div.page-head {
                h1 { "Open a ticket" }
                p.muted { "Tell us what happened; our team answers here and by email." }
            }
            @if p.short_of_credit {
                (notice(NoticeKind::Error, &format!(
                    "Your balance ({}) cannot pay the {} fee for a new ticket, so nothing was opened. Add credit to your account, then try again.",
                    money(p.balance_cents), money(p.fee_cents))))
            } @else if let Some(error) = &p.error {
                (notice(NoticeKind::Error, error))
            }
            div.ticket-layout {
                form.card method="post" action={ (HOME) "/tickets" } {
                    (csrf_field(frame.csrf_token))
                    div.field {
                        label for="t-subject" { "Subject" }
                        input #t-subject type="text" name="subject" value=(f.subject) required minlength="3" maxlength="200" placeholder="A short summary";
                    }
                    div.two-col {
                        (select("t-category", "category", "Category", &f.category, &categories))
                        (select("t-priority", "priority", "Priority", priority, &priorities))
                    }
                    div.field {
                        label for="t-description" { "Description" }
                        textarea #t-description name="description" required minlength="10" maxlength="5000" rows="8"
                            placeholder="What did you do, what did you expect, what happened instead? Ids of calls or requests help." { (f.description) }
                    }
                    button.primary type="submit" { "Open ticket" }
                }
                aside.card aria-label="Cost" {
                    h2 { "Cost" }
                    dl.keys {
                        dt { "Fee per ticket" } dd #ticket-fee { (money(p.fee_cents)) }
                        dt { "Your balance" } dd #balance { (money(p.balance_cents)) }
                    }
                    p.hint { "The fee is taken from your balance when the ticket is opened. Replies are free." }
                }
            }
        },
    )
}

pub struct NotificationsPage<'a> {
    pub rows: &'a [notifications::Model],
    pub unread: u64,
    pub now: DateTime<Utc>,
}

pub fn notifications(frame: &Frame<'_>, p: &NotificationsPage<'_>) -> Markup {
    shell(
        frame,
        Section::Notifications,
        "Notifications",
        "portal-notifications",
        html! {
            div.page-head {
                h1 { "Notifications" }
                p.muted { (p.unread) " unread" }
            }
            @if p.unread > 0 {
                form method="post" action={ (NOTIFICATIONS) "/read-all" } {
                    (csrf_field(frame.csrf_token))
                    button type="submit" { "Mark all read" }
                }
            }
            @if p.rows.is_empty() {
                p.empty #notification-list { "Nothing yet. Replies from our team and status changes show up here." }
            } @else {
                ul.notifications #notification-list {
                    @for n in p.rows {
                        li class={ "notification" @if n.read_at.is_none() { " unread" } } {
                            div {
                                strong { (n.title) }
                                @if n.read_at.is_none() { " " span.badge.status-open { "New" } }
                            }
                            div { (n.body) }
                            div.meta {
                                time datetime=(iso(n.created_at)) title=(timestamp(n.created_at)) { (ago(n.created_at, p.now)) }
                                @if let Some(ticket) = n.ticket_id {
                                    " · " a href=(ticket_path(TicketId::from_uuid(ticket))) { "Open the ticket" }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// Why a portal link did not open (no session was made).
pub fn link_refused(title: &str, message: &str) -> Markup {
    crate::ui::refusal(PRODUCT, HOME, title, message)
}
