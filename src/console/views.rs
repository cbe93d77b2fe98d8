//! The console's pages. Each takes what it shows, already read, and returns markup; the
//! edge (`src/http/web/console.rs`) reads, calls these, and answers.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::staff;
use entities::values::{BountyStatus, MessageAuthor};
use maud::{Markup, html};
use uuid::Uuid;

use crate::domain::sla::{self, SlaStanding};
use crate::domain::status::TicketStatus;
use crate::domain::ticket::Priority;
use crate::sessions::Session;
use crate::tickets::view::{EventOut, MessageOut, TicketOut};
use crate::ui::assets::CONSOLE_SCRIPT;
use crate::ui::format::{iso, money, relative, span, timestamp};
use crate::ui::{
    Layout, NavLink, NoticeKind, SignedIn, category_label, csrf_field, humanize, notice, page,
    priority_badge, select, status_badge,
};

pub const PRODUCT: &str = "Helpline console";
pub const HOME: &str = "/console";
pub const SIGN_IN: &str = "/console/sign-in";
pub const SIGN_OUT: &str = "/console/sign-out";

/// The console's sections, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Inbox,
    Tenants,
    Queues,
    Status,
}

const SECTIONS: [(Section, &str, &str); 4] = [
    (Section::Inbox, "/console", "Inbox"),
    (Section::Tenants, "/console/tenants", "Tenants"),
    (Section::Queues, "/console/queues", "Queues"),
    (Section::Status, "/console/status", "Status banner"),
];

/// Who is looking at a page: the operator's name and the session's CSRF token.
pub struct Viewer<'a> {
    pub name: &'a str,
    pub session: &'a Session,
}

fn shell(
    viewer: &Viewer<'_>,
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
            name: viewer.name,
            sign_out: SIGN_OUT,
            csrf_token: &viewer.session.csrf_token,
        }),
        scripts: &[CONSOLE_SCRIPT],
        page: body_page,
    };
    page(&layout, main)
}

/// The sign-in page; `error` says why the last attempt failed.
pub fn sign_in(error: Option<&str>, signed_out: bool) -> Markup {
    let layout = Layout {
        title: "Sign in",
        product: PRODUCT,
        home: HOME,
        nav: Vec::new(),
        signed_in: None,
        scripts: &[],
        page: "sign-in",
    };
    page(
        &layout,
        html! {
            section.card.narrow aria-labelledby="sign-in-title" {
                h1 #sign-in-title { "Sign in" }
                @if signed_out {
                    (notice(NoticeKind::Success, "You are signed out."))
                }
                @if let Some(error) = error {
                    (notice(NoticeKind::Error, error))
                }
                p.muted {
                    "Paste your operator token (" code { "hl_staff_…" } "). "
                    "The first start of " code { "helpline serve" } " printed one; "
                    code { "helpline staff create NAME" } " makes another."
                }
                form method="post" action=(SIGN_IN) {
                    label for="token" { "Operator token" }
                    input #token type="password" name="token" autocomplete="off" required autofocus;
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// The inbox filters as typed (kept in the URL).
#[derive(Debug, Default, Clone)]
pub struct InboxFilters {
    pub status: String,
    pub priority: String,
    pub tenant_id: String,
    pub assignee: String,
    pub tag: String,
    pub breached: String,
}

impl InboxFilters {
    /// The inbox with these filters, from `cursor` (the first page without one).
    pub fn link(&self, cursor: Option<&str>) -> String {
        let fields = [
            ("status", self.status.as_str()),
            ("priority", self.priority.as_str()),
            ("tenant_id", self.tenant_id.as_str()),
            ("assignee", self.assignee.as_str()),
            ("tag", self.tag.as_str()),
            ("breached", self.breached.as_str()),
        ];
        crate::ui::list_link(HOME, &fields, cursor)
    }
}

/// One page of the inbox.
pub struct InboxPage<'a> {
    pub tickets: Vec<TicketOut>,
    pub total: u64,
    /// False when `total` stopped counting (a `breached` filter past 10,000).
    pub total_is_exact: bool,
    pub filters: &'a InboxFilters,
    pub staff: &'a [staff::Model],
    pub tenant_names: &'a HashMap<Uuid, String>,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub error: Option<String>,
    pub now: DateTime<Utc>,
}

fn staff_name(staff: &[staff::Model], id: Uuid) -> String {
    staff
        .iter()
        .find(|s| s.id == id)
        .map_or_else(|| "(former operator)".to_string(), |s| s.name.clone())
}

/// The SLA cell: a countdown the script keeps ticking, amber from the warning, red once
/// breached, always with a word saying which.
fn sla_badge(t: &TicketOut, now: DateTime<Utc>) -> Markup {
    let due = t.sla.first_response_due_at;
    let standing = sla::standing(t.created_at, due, t.sla.first_response_at, now);
    let (class, label) = match standing {
        SlaStanding::NoTarget => ("none", "Best effort"),
        SlaStanding::Met => ("met", "Answered in time"),
        SlaStanding::OnTrack => ("ok", "Due"),
        SlaStanding::DueSoon => ("warn", "Due soon"),
        SlaStanding::Breached => ("breached", "Breached"),
    };
    let live = t.sla.first_response_at.is_none();
    html! {
        @match (due, live) {
            (Some(due), true) => {
                span class={ "sla sla-" (class) } data-due=(iso(due))
                    data-warn=(iso(sla::warning_at(t.created_at, due))) {
                    span.sla-label { (label) } " "
                    time datetime=(iso(due)) title=(timestamp(due)) { (relative(due, now)) }
                }
            }
            _ => { span class={ "sla sla-" (class) } { span.sla-label { (label) } } }
        }
    }
}

fn status_options(any: &str) -> Vec<(String, String)> {
    std::iter::once((String::new(), any.to_string()))
        .chain(
            TicketStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), humanize(s.as_str()))),
        )
        .collect()
}

fn priority_options(any: &str) -> Vec<(String, String)> {
    std::iter::once((String::new(), any.to_string()))
        .chain(
            Priority::ALL
                .iter()
                .rev()
                .map(|p| (p.as_str().to_string(), humanize(p.as_str()))),
        )
        .collect()
}

pub fn inbox(viewer: &Viewer<'_>, p: &InboxPage<'_>) -> Markup {
    let f = p.filters;
    let mut assignees = vec![
        (String::new(), "Anyone".to_string()),
        ("me".to_string(), "Me".to_string()),
        ("none".to_string(), "Unassigned".to_string()),
    ];
    assignees.extend(p.staff.iter().map(|s| (s.id.to_string(), s.name.clone())));
    let breached = [
        (String::new(), "Any".to_string()),
        ("true".to_string(), "Breached".to_string()),
        ("false".to_string(), "Not breached".to_string()),
    ];
    shell(
        viewer,
        Section::Inbox,
        "Inbox",
        "inbox",
        html! {
            div.page-head {
                h1 { "Inbox" }
                p.muted #inbox-count aria-live="polite" {
                    (p.total) @if !p.total_is_exact { "+" }
                    @if p.total == 1 { " ticket" } @else { " tickets" }
                }
                p.live-note #live-note role="status" hidden { }
            }
            @if let Some(error) = &p.error { (notice(NoticeKind::Error, error)) }
            form.filters method="get" action=(HOME) aria-label="Filters" {
                (select("f-status", "status", "Status", &f.status, &status_options("Any")))
                (select("f-priority", "priority", "Priority", &f.priority, &priority_options("Any")))
                (select("f-assignee", "assignee", "Assignee", &f.assignee, &assignees))
                div.field {
                    label for="f-tag" { "Tag" }
                    input #f-tag type="text" name="tag" value=(f.tag) placeholder="e.g. vip";
                }
                div.field {
                    label for="f-tenant" { "Tenant id" }
                    input #f-tenant type="text" name="tenant_id" value=(f.tenant_id) placeholder="UUID";
                }
                (select("f-breached", "breached", "SLA", &f.breached, &breached))
                div.field.actions {
                    button type="submit" { "Apply" }
                    a href=(HOME) { "Clear" }
                }
            }
            p.keys-hint.muted {
                kbd { "j" } "/" kbd { "k" } " move · " kbd { "Enter" } " open · "
                kbd { "r" } " reply · " kbd { "?" } " all keys"
            }
            @if p.tickets.is_empty() {
                p.empty #inbox-list { "No tickets match these filters." }
            } @else {
                table.inbox #inbox-list {
                    caption.visually-hidden { "Tickets, most urgent first" }
                    thead {
                        tr {
                            th scope="col" { "Ticket" }
                            th scope="col" { "Tenant" }
                            th scope="col" { "Status" }
                            th scope="col" { "Priority" }
                            th scope="col" { "First response" }
                            th scope="col" { "Assignee" }
                            th scope="col" { "Updated" }
                        }
                    }
                    tbody {
                        @for t in &p.tickets {
                            tr.ticket-row data-ticket=(t.id) {
                                td {
                                    a.subject href={ "/console/tickets/" (t.id) } { (t.subject) }
                                    div.meta {
                                        code { (t.id) } " · " (category_label(t.category.as_str()))
                                        @for tag in t.tags.iter().flatten() {
                                            " " span.tag { (tag) }
                                        }
                                    }
                                }
                                td {
                                    @if let Some(tenant) = t.tenant_id {
                                        a href={ "/console/tenants/" (tenant) } {
                                            (p.tenant_names.get(&tenant).cloned().unwrap_or_else(|| tenant.to_string()))
                                        }
                                    }
                                }
                                td { (status_badge(t.status.as_str())) }
                                td { (priority_badge(t.priority.as_str())) }
                                td { (sla_badge(t, p.now)) }
                                td {
                                    @match t.assignee_id.flatten() {
                                        Some(id) => { (staff_name(p.staff, id)) }
                                        None => { span.muted { "Unassigned" } }
                                    }
                                }
                                td { time datetime=(iso(t.updated_at)) title=(timestamp(t.updated_at)) { (relative(t.updated_at, p.now)) } }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if let Some(first) = &p.previous { a href=(first) { "← First page" } }
                @if let Some(next) = &p.next { a rel="next" href=(next) { "Next →" } }
            }
            (help_dialog())
        },
    )
}

fn help_dialog() -> Markup {
    html! {
        dialog #help aria-labelledby="help-title" {
            h2 #help-title { "Keyboard" }
            dl.keys {
                dt { kbd { "j" } } dd { "Next ticket" }
                dt { kbd { "k" } } dd { "Previous ticket" }
                dt { kbd { "Enter" } } dd { "Open the selected ticket" }
                dt { kbd { "r" } } dd { "Reply (on a ticket, or opens the selected one)" }
                dt { kbd { "?" } } dd { "This list" }
                dt { kbd { "Esc" } } dd { "Close" }
            }
            form method="dialog" { button type="submit" { "Close" } }
        }
    }
}

/// Why a reply was not sent: the ticket changed since the page was opened.
pub struct Collision {
    pub current_version: i64,
    pub new_messages: Vec<MessageOut>,
    pub draft: String,
    pub internal: bool,
}

/// The ticket page.
pub struct TicketPage<'a> {
    pub ticket: &'a TicketOut,
    pub tenant_name: &'a str,
    pub messages_truncated: bool,
    pub events: &'a [EventOut],
    pub staff: &'a [staff::Model],
    pub macros: &'a [entities::macros::Model],
    pub collision: Option<Collision>,
    pub flash: Option<(NoticeKind, String)>,
    pub now: DateTime<Utc>,
}

fn author_label(m: &MessageOut) -> (&'static str, String) {
    let name = m.author_name.clone().unwrap_or_default();
    if m.internal {
        ("internal", format!("Internal note · {name}"))
    } else {
        match MessageAuthor::parse(&m.author) {
            Some(MessageAuthor::Customer) => ("customer", "Customer".to_string()),
            Some(MessageAuthor::Operator) => ("operator", format!("Operator · {name}")),
            _ => (
                "bot",
                format!("Bot · {}", m.author_name.as_deref().unwrap_or(&m.author)),
            ),
        }
    }
}

fn message(m: &MessageOut) -> Markup {
    let (class, label) = author_label(m);
    html! {
        article class={ "message message-" (class) } data-message=(m.id) {
            header {
                strong.author { (label) }
                " "
                time datetime=(iso(m.created_at)) { (timestamp(m.created_at)) }
                @if let Some(from) = &m.merged_from { " · " span.muted { "merged from " code { (from) } } }
            }
            div.body { (m.body) }
        }
    }
}

pub fn ticket(viewer: &Viewer<'_>, p: &TicketPage<'_>) -> Markup {
    let t = p.ticket;
    let csrf = &viewer.session.csrf_token;
    let base = format!("/console/tickets/{}", t.id);
    let messages = t.messages.as_deref().unwrap_or_default();
    let last_seen = messages.last().map(|m| m.id.clone()).unwrap_or_default();
    let version = p
        .collision
        .as_ref()
        .map_or(t.version, |c| c.current_version);
    let mut assignees = vec![(String::new(), "Unassigned".to_string())];
    assignees.extend(p.staff.iter().map(|s| (s.id.to_string(), s.name.clone())));
    let assignee = t
        .assignee_id
        .flatten()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let tags = t.tags.clone().unwrap_or_default().join(", ");
    let mut reply_status = vec![(String::new(), "Leave as is".to_string())];
    reply_status.extend(
        TicketStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), humanize(s.as_str()))),
    );
    let closed = t.status == TicketStatus::Closed;
    shell(
        viewer,
        Section::Inbox,
        &t.subject,
        "ticket",
        html! {
            p.crumbs { a href=(HOME) { "← Inbox" } }
            div.page-head #ticket-head data-ticket=(t.id) data-version=(t.version) {
                h1 { (t.subject) }
                p.meta {
                    code { (t.id) } " · "
                    @if let Some(tenant) = t.tenant_id {
                        a href={ "/console/tenants/" (tenant) } { (p.tenant_name) }
                    }
                    " · " (t.contact_email) " · " (category_label(t.category.as_str()))
                    " · opened " time datetime=(iso(t.created_at)) { (timestamp(t.created_at)) }
                }
                p.badges {
                    (status_badge(t.status.as_str())) " " (priority_badge(t.priority.as_str())) " " (sla_badge(t, p.now))
                    @if let Some(into) = &t.merged_into {
                        " " span.badge { "Merged into " a href={ "/console/tickets/" (into) } { (into) } }
                    }
                }
            }
            @if let Some((kind, text)) = &p.flash { (notice(*kind, text)) }
            p.live-note #live-note role="status" hidden {}
            div.ticket-layout {
                div.ticket-main {
                    @if let Some(c) = &p.collision {
                        section.collision aria-labelledby="collision-title" {
                            h2 #collision-title { "This ticket changed while you were writing" }
                            (notice(NoticeKind::Warning, "Your reply was NOT sent. Read what changed below; send again to post it anyway."))
                            @for m in &c.new_messages { (message(m)) }
                            @if c.new_messages.is_empty() {
                                p.muted { "No new messages: the status, priority, assignee or tags changed." }
                            }
                        }
                    }
                    section aria-labelledby="thread-title" {
                        h2 #thread-title { "Conversation" }
                        div.thread #thread {
                            @for m in messages { (message(m)) }
                        }
                        @if p.messages_truncated {
                            p.muted { "Only the first 1,000 messages are shown." }
                        }
                    }
                    @if closed {
                        (notice(NoticeKind::Info, "This ticket is closed: it takes no more replies."))
                    } @else {
                        section.reply aria-labelledby="reply-title" {
                            h2 #reply-title { "Reply" }
                            form #reply-form method="post" action={ (base) "/reply" } {
                                (csrf_field(csrf))
                                input type="hidden" name="version" value=(version);
                                input type="hidden" name="seen" value=(last_seen);
                                @if !p.macros.is_empty() {
                                    div.field {
                                        label for="macro" { "Canned reply" }
                                        select #macro name="macro_id" {
                                            option value="" { "None: write below" }
                                            @for m in p.macros {
                                                option value=(crate::domain::ids::MacroId::from_uuid(m.id).to_string()) { (m.name) }
                                            }
                                        }
                                        p.hint { "A canned reply replaces the text below and may set status and tags." }
                                    }
                                }
                                div.field {
                                    label for="reply-body" { "Message" }
                                    textarea #reply-body name="body" rows="6" {
                                        @if let Some(c) = &p.collision { (c.draft) }
                                    }
                                }
                                div.field.inline {
                                    input #internal type="checkbox" name="internal" value="true"
                                        checked[p.collision.as_ref().is_some_and(|c| c.internal)];
                                    label for="internal" { "Internal note (only operators see it)" }
                                }
                                (select("reply-status", "status", "Then set status", "", &reply_status))
                                button.primary #send-reply type="submit" {
                                    @if p.collision.is_some() { "Send anyway" } @else { "Send" }
                                }
                            }
                        }
                    }
                }
                aside.ticket-side aria-label="Ticket details" {
                    section.card {
                        h2 { "Details" }
                        form method="post" action={ (base) "/update" } {
                            (csrf_field(csrf))
                            input type="hidden" name="version" value=(t.version);
                            (select("ticket-status", "status", "Status", t.status.as_str(), &status_options("")[1..]))
                            (select("ticket-priority", "priority", "Priority", t.priority.as_str(), &priority_options("")[1..]))
                            (select("ticket-assignee", "assignee_id", "Assignee", &assignee, &assignees))
                            div.field {
                                label for="tags" { "Tags" }
                                input #tags type="text" name="tags" value=(tags) placeholder="vip, sdk";
                                p.hint { "Comma-separated; only operators see tags." }
                            }
                            button #save-ticket type="submit" disabled[closed] { "Save changes" }
                        }
                    }
                    @if t.bounty.eligible {
                        section.card {
                            h2 { "Bug bounty" }
                            @if t.bounty.status == BountyStatus::Awarded.as_str() {
                                p { "Awarded: " (money(t.bounty.amount_cents)) }
                            } @else {
                                form method="post" action={ (base) "/bounty" } {
                                    (csrf_field(csrf))
                                    p { "Confirm the bug to credit the tenant " (money(t.bounty.amount_cents)) "." }
                                    button type="submit" { "Confirm bounty" }
                                }
                            }
                        }
                    }
                    @if !closed {
                        section.card {
                            h2 { "Merge" }
                            form method="post" action={ (base) "/merge" } {
                                (csrf_field(csrf))
                                input type="hidden" name="version" value=(t.version);
                                div.field {
                                    label for="merge-into" { "Into ticket" }
                                    input #merge-into type="text" name="into" placeholder="tkt_…" required;
                                }
                                p.hint { "Copies the public messages over and closes this ticket." }
                                button type="submit" { "Merge" }
                            }
                        }
                    }
                    section.card {
                        h2 { "History" }
                        ol.history {
                            @for e in p.events {
                                li {
                                    time datetime=(iso(e.created_at)) { (timestamp(e.created_at)) }
                                    " " strong { (humanize(&e.kind)) }
                                    " by " (e.actor)
                                    @if let Some(change) = describe(&e.data) { " · " (change) }
                                }
                            }
                        }
                    }
                }
            }
            (help_dialog())
        },
    )
}

/// `from → to` of a change, when the event says.
fn describe(data: &serde_json::Value) -> Option<String> {
    let from = data.get("from")?;
    let to = data.get("to")?;
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "nobody".to_string(),
        other => other.to_string(),
    };
    Some(format!("{} → {}", show(from), show(to)))
}

/// A compact "4m ago" for ages in seconds (queues).
pub fn age(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "—".to_string(), span)
}

/// The tenants page: newest first, or the matches of a search.
pub struct TenantsPage<'a> {
    pub tenants: &'a [crate::tenants::TenantOut],
    pub q: &'a str,
    pub total: Option<u64>,
    pub previous: Option<String>,
    pub next: Option<String>,
}

fn limits_text(t: &crate::tenants::TenantOut) -> String {
    match (&t.limits, t.limits_source) {
        (serde_json::Value::String(s), _) if s == "unlimited" => "Unlimited (override)".to_string(),
        (serde_json::Value::Object(m), source) => {
            let rpm = m
                .get("requests_per_minute")
                .map(|v| v.to_string())
                .unwrap_or_default();
            let burst = m.get("burst").map(|v| v.to_string()).unwrap_or_default();
            let from = if source == "plan" { "plan" } else { "override" };
            format!("{rpm}/min, burst {burst} ({from})")
        }
        (other, _) => other.to_string(),
    }
}

pub fn tenants(viewer: &Viewer<'_>, p: &TenantsPage<'_>) -> Markup {
    shell(
        viewer,
        Section::Tenants,
        "Tenants",
        "tenants",
        html! {
            div.page-head {
                h1 { "Tenants" }
                @if let Some(total) = p.total { p.muted { (total) " in all" } }
            }
            form.search method="get" action="/console/tenants" role="search" {
                label.visually-hidden for="tenant-q" { "Search tenants" }
                input #tenant-q type="text" name="q" value=(p.q) placeholder="Name, email or id";
                button type="submit" { "Search" }
                @if !p.q.is_empty() { a href="/console/tenants" { "Clear" } }
            }
            @if p.tenants.is_empty() {
                p.empty { "No tenants match." }
            } @else {
                table {
                    caption.visually-hidden { "Tenants" }
                    thead { tr {
                        th scope="col" { "Tenant" } th scope="col" { "Plan" }
                        th scope="col" class="num" { "Balance" } th scope="col" { "Rate limit" }
                        th scope="col" { "Since" }
                    } }
                    tbody {
                        @for t in p.tenants {
                            tr {
                                td {
                                    a.subject href={ "/console/tenants/" (t.id) } { (t.name) }
                                    div.meta { (t.email) }
                                }
                                td { span.badge { (humanize(&t.plan)) } }
                                td.num { (money(t.balance_cents)) }
                                td { (limits_text(t)) }
                                td { (timestamp(t.created_at)) }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if let Some(prev) = &p.previous { a rel="prev" href=(prev) { "← Previous" } }
                @if let Some(next) = &p.next { a rel="next" href=(next) { "Next →" } }
            }
        },
    )
}

/// One tenant, with the forms that change it.
pub struct TenantPage<'a> {
    pub tenant: &'a crate::tenants::TenantOut,
    pub flash: Option<(NoticeKind, String)>,
    pub open_tickets_href: String,
}

pub fn tenant(viewer: &Viewer<'_>, p: &TenantPage<'_>) -> Markup {
    let t = p.tenant;
    let csrf = &viewer.session.csrf_token;
    let base = format!("/console/tenants/{}", t.id);
    let plans: Vec<(String, String)> = crate::domain::plan::Plan::ALL
        .iter()
        .map(|p| (p.as_str().to_string(), humanize(p.as_str())))
        .collect();
    let mode = match (&t.limits, t.limits_source) {
        (_, "plan") => "plan",
        (serde_json::Value::String(_), _) => "unlimited",
        _ => "custom",
    };
    let (rpm, burst) = match &t.limits {
        serde_json::Value::Object(m) if mode == "custom" => (
            m.get("requests_per_minute")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            m.get("burst").map(|v| v.to_string()).unwrap_or_default(),
        ),
        _ => (String::new(), String::new()),
    };
    let modes = [
        ("plan".to_string(), "The plan's limits".to_string()),
        ("unlimited".to_string(), "Unlimited".to_string()),
        ("custom".to_string(), "Custom (below)".to_string()),
    ];
    shell(
        viewer,
        Section::Tenants,
        &t.name,
        "tenant",
        html! {
            p.crumbs { a href="/console/tenants" { "← Tenants" } }
            div.page-head {
                h1 { (t.name) }
                p.meta { (t.email) " · " code { (t.id) } " · since " (timestamp(t.created_at)) }
                p { a href=(p.open_tickets_href) { "This tenant's tickets in the inbox" } }
            }
            @if let Some((kind, text)) = &p.flash { (notice(*kind, text)) }
            div.stats {
                div.stat { div.value #balance { (money(t.balance_cents)) } div.label { "Balance" } }
                div.stat { div.value { (humanize(&t.plan)) } div.label { "Plan" } }
                div.stat { div.value { (limits_text(t)) } div.label { "Rate limit in force" } }
            }
            div.two-col {
                section.card aria-labelledby="plan-title" {
                    h2 #plan-title { "Plan and limits" }
                    form method="post" action={ (base) "/update" } {
                        (csrf_field(csrf))
                        (select("tenant-plan", "plan", "Plan", &t.plan, &plans))
                        (select("tenant-limits", "limits", "Rate limit", mode, &modes))
                        div.field {
                            label for="rpm" { "Requests per minute (custom)" }
                            input #rpm type="number" name="requests_per_minute" min="1" value=(rpm);
                        }
                        div.field {
                            label for="burst" { "Burst (custom)" }
                            input #burst type="number" name="burst" min="1" value=(burst);
                        }
                        button.primary type="submit" { "Save" }
                    }
                }
                section.card aria-labelledby="credit-title" {
                    h2 #credit-title { "Add credits" }
                    form method="post" action={ (base) "/credits" } {
                        (csrf_field(csrf))
                        div.field {
                            label for="amount" { "Amount in cents" }
                            input #amount type="number" name="amount_cents" min="1" required;
                            p.hint { "5000 = $50.00. Recorded as a top-up in the tenant's ledger." }
                        }
                        div.field {
                            label for="note" { "Note (optional)" }
                            input #note type="text" name="note" maxlength="200" placeholder="Goodwill credit";
                        }
                        button.primary type="submit" { "Add credits" }
                    }
                }
            }
        },
    )
}

/// What one queue holds, as the queues page shows it.
pub struct QueueLine {
    pub name: &'static str,
    pub pending: u64,
    pub scheduled: u64,
    pub running: u64,
    pub failed: u64,
    pub dead: u64,
    pub oldest_pending_age_seconds: Option<i64>,
}

/// One job out of attempts.
pub struct DeadJob {
    pub queue: &'static str,
    pub id: String,
    pub tenant_id: String,
    pub attempts: i64,
    pub last_error: String,
    pub created_at: String,
}

pub struct QueuesPage<'a> {
    pub backend: &'static str,
    pub queues: &'a [QueueLine],
    pub dead: &'a [DeadJob],
    pub outbox_lag_seconds: Option<i64>,
    pub flash: Option<(NoticeKind, String)>,
}

pub fn queues(viewer: &Viewer<'_>, p: &QueuesPage<'_>) -> Markup {
    let csrf = &viewer.session.csrf_token;
    shell(
        viewer,
        Section::Queues,
        "Queues",
        "queues",
        html! {
            div.page-head {
                h1 { "Queues" }
                p.muted { "Backend: " (p.backend) " · refreshes every few seconds" }
            }
            @if let Some((kind, text)) = &p.flash { (notice(*kind, text)) }
            div #queues {
                div.stats {
                    div.stat {
                        div.value { (age(p.outbox_lag_seconds)) }
                        div.label { "Outbox lag (oldest due row not yet queued)" }
                    }
                    @for q in p.queues {
                        div.stat {
                            div.value { (q.pending) }
                            div.label { (humanize(q.name)) " pending" }
                        }
                    }
                }
                table {
                    caption.visually-hidden { "Queue depths" }
                    thead { tr {
                        th scope="col" { "Queue" } th.num scope="col" { "Pending" }
                        th.num scope="col" { "Scheduled" } th.num scope="col" { "Running" }
                        th.num scope="col" { "Retrying" } th.num scope="col" { "Dead" }
                        th.num scope="col" { "Oldest pending" }
                    } }
                    tbody {
                        @for q in p.queues {
                            tr {
                                th scope="row" { (humanize(q.name)) }
                                td.num { (q.pending) } td.num { (q.scheduled) } td.num { (q.running) }
                                td.num { (q.failed) }
                                td.num {
                                    @if q.dead > 0 { span.badge.priority-urgent { (q.dead) " dead" } } @else { "0" }
                                }
                                td.num { (age(q.oldest_pending_age_seconds)) }
                            }
                        }
                    }
                }
            }
            section #dead-jobs aria-labelledby="dead-title" {
                h2 #dead-title { "Dead jobs" }
                @if p.dead.is_empty() {
                    p.empty { "No dead jobs." }
                } @else {
                    table {
                        thead { tr {
                            th scope="col" { "Job" } th scope="col" { "Tenant" } th.num scope="col" { "Attempts" }
                            th scope="col" { "Last error" } th scope="col" { "Created" } th scope="col" { span.visually-hidden { "Action" } }
                        } }
                        tbody {
                            @for j in p.dead {
                                tr {
                                    td { (humanize(j.queue)) div.meta { code { (j.id) } } }
                                    td { a href={ "/console/tenants/" (j.tenant_id) } { code { (j.tenant_id) } } }
                                    td.num { (j.attempts) }
                                    td.error-text { (j.last_error) }
                                    td { (j.created_at) }
                                    td {
                                        form method="post" action={ "/console/queues/" (j.queue) "/jobs/" (j.id) "/retry" } {
                                            (csrf_field(csrf))
                                            button type="submit" { "Retry" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn banner(
    viewer: &Viewer<'_>,
    b: &crate::banner::Banner,
    flash: Option<(NoticeKind, String)>,
) -> Markup {
    let csrf = &viewer.session.csrf_token;
    let levels: Vec<(String, String)> = [
        crate::banner::Level::Operational,
        crate::banner::Level::Degraded,
        crate::banner::Level::Outage,
    ]
    .iter()
    .map(|l| (l.as_str().to_string(), humanize(l.as_str())))
    .collect();
    let kind = match b.status {
        crate::banner::Level::Operational => NoticeKind::Success,
        crate::banner::Level::Degraded => NoticeKind::Warning,
        crate::banner::Level::Outage => NoticeKind::Error,
    };
    shell(
        viewer,
        Section::Status,
        "Status banner",
        "status",
        html! {
            div.page-head {
                h1 { "Status banner" }
                p.muted { "Every tenant reads this at GET /v1/support/status." }
            }
            @if let Some((k, text)) = &flash { (notice(*k, text)) }
            section.card aria-labelledby="current-title" {
                h2 #current-title { "Shown now" }
                div #banner-now {
                    (notice(kind, &format!("{} — {}", humanize(b.status.as_str()), b.message)))
                }
                p.muted {
                    @match b.updated_at {
                        Some(at) => { "Set " (timestamp(at)) }
                        None => { "Never set: the default is shown." }
                    }
                }
            }
            section.card aria-labelledby="set-title" {
                h2 #set-title { "Change it" }
                form.narrow-form method="post" action="/console/status" {
                    (csrf_field(csrf))
                    (select("banner-status", "status", "Status", b.status.as_str(), &levels))
                    div.field {
                        label for="banner-message" { "Message" }
                        textarea #banner-message name="message" rows="3" maxlength="500" { (b.message) }
                    }
                    button.primary #save-banner type="submit" { "Publish" }
                }
            }
        },
    )
}
