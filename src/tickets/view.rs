//! The ticket, message and event objects as the API shows them (docs/API.md §4).
use chrono::{DateTime, Utc};
use entities::{messages, ticket_events, tickets};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::ids::{EventId, MessageId, TicketId};
use crate::domain::sla;
use crate::domain::status::TicketStatus;
use crate::domain::tags::Tags;
use crate::domain::ticket::{Category, Priority};
use crate::json_writer::{JsonWriter, ROW_BYTES, WriteJson};
use crate::tickets::query::{EMBEDDED_MESSAGES, Head};
use crate::tickets::rows::{TicketRef, TicketRow};
use sea_orm::DbErr;

/// The SLA the ticket was opened under (a snapshot of the tenant's plan at creation).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlaOut {
    /// `community`, `standard`, `priority` or `enterprise`.
    #[schema(example = "enterprise")]
    pub tier: String,
    #[schema(example = "4 hours, 24/7 for urgent issues")]
    pub first_response_target: String,
    pub priority_queue: bool,
    /// `null` for best-effort (community) support.
    pub first_response_due_at: Option<DateTime<Utc>>,
    /// When an operator first replied publicly.
    pub first_response_at: Option<DateTime<Utc>>,
    /// True when the first response is (or was) later than `first_response_due_at`.
    pub breached: bool,
}

/// The ticket fee taken at creation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChargeOut {
    #[schema(example = 1)]
    pub amount_cents: i64,
    /// Settlement of the fee's ledger entry: `pending`, then `settled`.
    #[schema(example = "pending")]
    pub status: &'static str,
}

/// The bug bounty: only `bug` tickets are eligible; an operator's confirmation awards it once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BountyOut {
    pub eligible: bool,
    /// `none` or `awarded`.
    #[schema(example = "none")]
    pub status: &'static str,
    pub amount_cents: i64,
}

/// The new-ticket email to the support inbox (best effort).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EmailOut {
    /// `queued`, `delivered`, `failed` or `skipped`.
    #[schema(example = "queued")]
    pub status: &'static str,
    /// Why the email failed or was skipped.
    pub reason: Option<String>,
}

/// One message of a ticket's thread.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageOut {
    #[schema(example = "msg_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "support_message")]
    pub object: &'static str,
    #[schema(example = "tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub ticket_id: String,
    /// `customer`, `operator`, `triage_bot` (a bot) or `system`.
    #[schema(example = "customer")]
    pub author: String,
    /// The operator's (or bot's) name on their messages.
    pub author_name: Option<String>,
    pub body: String,
    /// Internal notes are visible to operators only.
    pub internal: bool,
    pub created_at: DateTime<Utc>,
    /// Copied by a merge from this ticket (`created_at` and author are the original's).
    #[schema(example = json!(null))]
    pub merged_from: Option<String>,
}

impl From<messages::Model> for MessageOut {
    fn from(m: messages::Model) -> Self {
        Self {
            id: MessageId::from_uuid(m.id).to_string(),
            object: "support_message",
            ticket_id: TicketId::from_uuid(m.ticket_id).to_string(),
            author: m.author.to_string(),
            author_name: m.author_name,
            body: m.body,
            internal: m.internal,
            created_at: m.created_at,
            merged_from: m.merged_from.map(|t| TicketId::from_uuid(t).to_string()),
        }
    }
}

impl WriteJson for MessageOut {
    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_object();
        w.key("id");
        w.str(&self.id);
        w.key("object");
        w.str(self.object);
        w.key("ticket_id");
        w.str(&self.ticket_id);
        w.key("author");
        w.str(&self.author);
        w.key("author_name");
        w.opt_str(self.author_name.as_deref());
        w.key("body");
        w.str(&self.body);
        w.key("internal");
        w.bool(self.internal);
        w.key("created_at");
        w.timestamp(self.created_at);
        w.key("merged_from");
        w.opt_str(self.merged_from.as_deref());
        w.end_object();
    }

    fn size_hint(&self) -> usize {
        ROW_BYTES
    }
}

/// A support ticket. List responses omit `messages`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketOut {
    #[schema(value_type = String, example = "tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub id: TicketId,
    #[schema(example = "support_ticket")]
    pub object: &'static str,
    /// Present on operator views only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub tenant_id: Option<uuid::Uuid>,
    pub subject: String,
    pub category: Category,
    pub priority: Priority,
    pub status: TicketStatus,
    pub description: String,
    pub call_id: Option<String>,
    pub source_session_id: Option<String>,
    #[schema(example = "engineer@acme.com")]
    pub contact_email: String,
    /// The tenant's plan when the ticket was opened.
    #[schema(example = "enterprise")]
    pub plan_tier: String,
    pub sla: SlaOut,
    pub charge: ChargeOut,
    pub bounty: BountyOut,
    pub email: EmailOut,
    pub message_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The ticket this one was merged into (it is then `closed`).
    #[schema(value_type = Option<String>, example = json!(null))]
    pub merged_into: Option<TicketId>,
    /// Grows with every change; the `ETag` of ticket responses and what `If-Match` names.
    #[schema(example = 3)]
    pub version: i64,
    /// Operator views only: the operator the ticket is assigned to (`null`: nobody).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub assignee_id: Option<Option<uuid::Uuid>>,
    /// Operator views only: internal tags (tenants never see them).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub tags: Option<Vec<String>>,
    /// Assignment and the stored tags, kept until `for_operator` shows them.
    #[serde(skip)]
    internal: (Option<uuid::Uuid>, String),
    /// The thread, oldest first: on single-ticket responses only, at most its first 50
    /// messages (1,000 for operators).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub messages: Option<Vec<MessageOut>>,
    /// When the thread has more messages than embedded: the next page of
    /// `GET /v1/support/tickets/{id}/messages`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "/v1/support/tickets/tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b/messages?offset=50&limit=50"
    )]
    pub messages_next: Option<String>,
}

impl TicketOut {
    /// The list form: no messages.
    pub fn summary(t: tickets::Model, now: DateTime<Utc>) -> Self {
        Self {
            id: TicketId::from_uuid(t.id),
            object: "support_ticket",
            tenant_id: None,
            sla: SlaOut {
                breached: sla::breached(t.first_response_due_at, t.first_response_at, now),
                tier: t.sla_tier,
                first_response_target: t.sla_first_response_target,
                priority_queue: t.sla_priority_queue,
                first_response_due_at: t.first_response_due_at,
                first_response_at: t.first_response_at,
            },
            charge: ChargeOut {
                amount_cents: t.charge_cents,
                status: t.charge_status.as_str(),
            },
            bounty: BountyOut {
                eligible: t.category == Category::Bug,
                status: t.bounty_status.as_str(),
                amount_cents: t.bounty_cents,
            },
            email: EmailOut {
                status: t.email_status.as_str(),
                reason: t.email_reason,
            },
            subject: t.subject,
            category: t.category,
            priority: t.priority,
            status: t.status,
            description: t.description,
            call_id: t.call_id,
            source_session_id: t.source_session_id,
            contact_email: t.contact_email,
            plan_tier: t.plan_tier,
            message_count: t.message_count,
            created_at: t.created_at,
            updated_at: t.updated_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            merged_into: t.merged_into.map(TicketId::from_uuid),
            version: t.version,
            assignee_id: None,
            tags: None,
            internal: (t.assignee_id, t.tags),
            messages: None,
            messages_next: None,
        }
    }

    pub fn with_messages(
        t: tickets::Model,
        messages: Vec<messages::Model>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut out = Self::summary(t, now);
        out.messages = Some(messages.into_iter().map(MessageOut::from).collect());
        out
    }

    /// A tenant's single-ticket answer: the thread's first messages and, when there are
    /// more, where the next page is.
    pub fn with_thread(t: tickets::Model, head: Head<messages::Model>, now: DateTime<Utc>) -> Self {
        let mut out = Self::with_messages(t, head.rows, now);
        if head.more {
            out.messages_next = Some(format!(
                "/v1/support/tickets/{}/messages?offset={EMBEDDED_MESSAGES}&limit={EMBEDDED_MESSAGES}",
                out.id
            ));
        }
        out
    }

    /// Operators also see which tenant a ticket belongs to.
    pub fn for_operator(mut self, tenant_id: uuid::Uuid) -> Self {
        self.tenant_id = Some(tenant_id);
        let (assignee_id, tags) = std::mem::take(&mut self.internal);
        self.assignee_id = Some(assignee_id);
        self.tags = Some(Tags::from_stored(&tags));
        self
    }
}

/// A ticket's answer with every field borrowed: what is written for a [`TicketOut`], or for
/// a page's rows straight from the driver ([`TicketView::summary`]), without copying the
/// rows' text.
#[derive(Debug, Clone, Copy)]
pub struct TicketView<'a> {
    id: TicketId,
    tenant_id: Option<uuid::Uuid>,
    subject: &'a str,
    category: Category,
    priority: Priority,
    status: TicketStatus,
    description: &'a str,
    call_id: Option<&'a str>,
    source_session_id: Option<&'a str>,
    contact_email: &'a str,
    plan_tier: &'a str,
    sla_tier: &'a str,
    sla_first_response_target: &'a str,
    sla_priority_queue: bool,
    first_response_due_at: Option<DateTime<Utc>>,
    first_response_at: Option<DateTime<Utc>>,
    breached: bool,
    charge_cents: i64,
    charge_status: &'static str,
    bounty_eligible: bool,
    bounty_status: &'static str,
    bounty_cents: i64,
    email_status: &'static str,
    email_reason: Option<&'a str>,
    message_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    merged_into: Option<TicketId>,
    version: i64,
    assignee_id: Option<Option<uuid::Uuid>>,
    tags: Option<TagsView<'a>>,
    messages: Option<&'a [MessageOut]>,
    messages_next: Option<&'a str>,
}

/// An operator view's tags: as stored (a page's rows), or as a [`TicketOut`] holds them.
#[derive(Debug, Clone, Copy)]
enum TagsView<'a> {
    Stored(&'a str),
    Listed(&'a [String]),
}

impl<'a> TicketView<'a> {
    /// The list form of a page's row (as [`TicketOut::summary`]).
    pub fn summary(t: TicketRef<'a>, now: DateTime<Utc>) -> Self {
        Self {
            id: TicketId::from_uuid(t.id),
            tenant_id: None,
            subject: t.subject,
            category: t.category,
            priority: t.priority,
            status: t.status,
            description: t.description,
            call_id: t.call_id,
            source_session_id: t.source_session_id,
            contact_email: t.contact_email,
            plan_tier: t.plan_tier,
            sla_tier: t.sla_tier,
            sla_first_response_target: t.sla_first_response_target,
            sla_priority_queue: t.sla_priority_queue,
            first_response_due_at: t.first_response_due_at,
            first_response_at: t.first_response_at,
            breached: sla::breached(t.first_response_due_at, t.first_response_at, now),
            charge_cents: t.charge_cents,
            charge_status: t.charge_status.as_str(),
            bounty_eligible: t.category == Category::Bug,
            bounty_status: t.bounty_status.as_str(),
            bounty_cents: t.bounty_cents,
            email_status: t.email_status.as_str(),
            email_reason: t.email_reason,
            message_count: t.message_count,
            created_at: t.created_at,
            updated_at: t.updated_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            merged_into: t.merged_into.map(TicketId::from_uuid),
            version: t.version,
            assignee_id: None,
            tags: None,
            messages: None,
            messages_next: None,
        }
    }

    /// The operator's list form of a page's row (as [`TicketOut::for_operator`]).
    pub fn for_operator(t: TicketRef<'a>, now: DateTime<Utc>) -> Self {
        Self {
            tenant_id: Some(t.tenant_id),
            assignee_id: Some(t.assignee_id),
            tags: Some(TagsView::Stored(t.tags)),
            ..Self::summary(t, now)
        }
    }
}

impl<'a> From<&'a TicketOut> for TicketView<'a> {
    fn from(t: &'a TicketOut) -> Self {
        Self {
            id: t.id,
            tenant_id: t.tenant_id,
            subject: &t.subject,
            category: t.category,
            priority: t.priority,
            status: t.status,
            description: &t.description,
            call_id: t.call_id.as_deref(),
            source_session_id: t.source_session_id.as_deref(),
            contact_email: &t.contact_email,
            plan_tier: &t.plan_tier,
            sla_tier: &t.sla.tier,
            sla_first_response_target: &t.sla.first_response_target,
            sla_priority_queue: t.sla.priority_queue,
            first_response_due_at: t.sla.first_response_due_at,
            first_response_at: t.sla.first_response_at,
            breached: t.sla.breached,
            charge_cents: t.charge.amount_cents,
            charge_status: t.charge.status,
            bounty_eligible: t.bounty.eligible,
            bounty_status: t.bounty.status,
            bounty_cents: t.bounty.amount_cents,
            email_status: t.email.status,
            email_reason: t.email.reason.as_deref(),
            message_count: t.message_count,
            created_at: t.created_at,
            updated_at: t.updated_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            merged_into: t.merged_into,
            version: t.version,
            assignee_id: t.assignee_id,
            tags: t.tags.as_deref().map(TagsView::Listed),
            messages: t.messages.as_deref(),
            messages_next: t.messages_next.as_deref(),
        }
    }
}

/// The bytes `serde_json` writes for [`TicketOut`]'s derived `Serialize`, field for field
/// (the tests below compare them).
impl WriteJson for TicketView<'_> {
    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_object();
        w.key("id");
        w.prefixed_uuid(TicketId::PREFIX, self.id.uuid());
        w.key("object");
        w.str("support_ticket");
        if let Some(tenant_id) = self.tenant_id {
            w.key("tenant_id");
            w.uuid(tenant_id);
        }
        w.key("subject");
        w.str(self.subject);
        w.key("category");
        w.str(self.category.as_str());
        w.key("priority");
        w.str(self.priority.as_str());
        w.key("status");
        w.str(self.status.as_str());
        w.key("description");
        w.str(self.description);
        w.key("call_id");
        w.opt_str(self.call_id);
        w.key("source_session_id");
        w.opt_str(self.source_session_id);
        w.key("contact_email");
        w.str(self.contact_email);
        w.key("plan_tier");
        w.str(self.plan_tier);
        w.key("sla");
        w.begin_object();
        w.key("tier");
        w.str(self.sla_tier);
        w.key("first_response_target");
        w.str(self.sla_first_response_target);
        w.key("priority_queue");
        w.bool(self.sla_priority_queue);
        w.key("first_response_due_at");
        w.opt_timestamp(self.first_response_due_at);
        w.key("first_response_at");
        w.opt_timestamp(self.first_response_at);
        w.key("breached");
        w.bool(self.breached);
        w.end_object();
        w.key("charge");
        w.begin_object();
        w.key("amount_cents");
        w.i64(self.charge_cents);
        w.key("status");
        w.str(self.charge_status);
        w.end_object();
        w.key("bounty");
        w.begin_object();
        w.key("eligible");
        w.bool(self.bounty_eligible);
        w.key("status");
        w.str(self.bounty_status);
        w.key("amount_cents");
        w.i64(self.bounty_cents);
        w.end_object();
        w.key("email");
        w.begin_object();
        w.key("status");
        w.str(self.email_status);
        w.key("reason");
        w.opt_str(self.email_reason);
        w.end_object();
        w.key("message_count");
        w.i64(i64::from(self.message_count));
        w.key("created_at");
        w.timestamp(self.created_at);
        w.key("updated_at");
        w.timestamp(self.updated_at);
        w.key("resolved_at");
        w.opt_timestamp(self.resolved_at);
        w.key("closed_at");
        w.opt_timestamp(self.closed_at);
        w.key("merged_into");
        match self.merged_into {
            Some(into) => w.prefixed_uuid(TicketId::PREFIX, into.uuid()),
            None => w.null(),
        }
        w.key("version");
        w.i64(self.version);
        if let Some(assignee_id) = self.assignee_id {
            w.key("assignee_id");
            w.opt_uuid(assignee_id);
        }
        if let Some(tags) = self.tags {
            w.key("tags");
            w.begin_array();
            let mut each = |tag: &str| {
                w.element();
                w.str(tag);
            };
            match tags {
                TagsView::Stored(stored) => Tags::stored(stored).for_each(each),
                TagsView::Listed(tags) => tags.iter().for_each(|tag| each(tag)),
            }
            w.end_array();
        }
        if let Some(messages) = self.messages {
            w.key("messages");
            w.begin_array();
            for message in messages {
                w.element();
                message.write_json(w);
            }
            w.end_array();
        }
        if let Some(next) = self.messages_next {
            w.key("messages_next");
            w.str(next);
        }
        w.end_object();
    }

    fn size_hint(&self) -> usize {
        ROW_BYTES * (1 + self.messages.map_or(0, <[MessageOut]>::len))
    }
}

/// A page's rows, each shaped by `view` (borrowing the rows' text).
pub fn page<'r>(
    rows: &'r [TicketRow],
    view: impl Fn(TicketRef<'r>) -> TicketView<'r>,
) -> Result<Vec<TicketView<'r>>, DbErr> {
    rows.iter().map(|row| Ok(view(row.ticket()?))).collect()
}

impl WriteJson for TicketOut {
    fn write_json(&self, w: &mut JsonWriter) {
        TicketView::from(self).write_json(w);
    }

    fn size_hint(&self) -> usize {
        TicketView::from(self).size_hint()
    }
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventOut {
    #[schema(example = "evt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "ticket_event")]
    pub object: &'static str,
    pub ticket_id: String,
    /// `created`, `message_added`, `status_changed`, `priority_changed`, `bounty_awarded`,
    /// `merged`, `erased`; operators also see `assigned`, `tags_changed`, `sla_warning` and
    /// `sla_breached`.
    #[serde(rename = "type")]
    #[schema(example = "status_changed")]
    pub kind: String,
    /// `customer`, `operator:<name>`, `bot:<name>` or `system`.
    #[schema(example = "customer")]
    pub actor: String,
    /// Event details (e.g. `from`/`to` of a status change); `null` when there are none.
    #[schema(value_type = Value)]
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

impl From<ticket_events::Model> for EventOut {
    fn from(e: ticket_events::Model) -> Self {
        Self {
            id: EventId::from_uuid(e.id).to_string(),
            object: "ticket_event",
            ticket_id: TicketId::from_uuid(e.ticket_id).to_string(),
            kind: e.kind.to_string(),
            actor: e.actor,
            data: e.data.unwrap_or(Value::Null),
            created_at: e.created_at,
        }
    }
}

/// A ticket with its messages and its history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketWithEvents {
    #[serde(flatten)]
    pub ticket: TicketOut,
    /// Oldest first, at most the first 1,000.
    pub events: Vec<EventOut>,
    /// Present (`true`) when the thread has more messages than embedded (the first 1,000).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub messages_truncated: bool,
    /// Present (`true`) when the ticket has more events than embedded (the first 1,000).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub events_truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_writer;
    use crate::pagination::{CursorPageOut, Listed, Page};
    use chrono::TimeZone;
    use entities::values::{
        BountyStatus, ChargeStatus, MessageAuthor, TicketEmailStatus, TicketStatus,
    };

    fn ticket(n: u128, tricky: bool) -> tickets::Model {
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let text = |plain: &str| {
            if tricky {
                format!("{plain} \"quoted\" \\ tab\t nl\n \u{1} é 🎉")
            } else {
                plain.to_string()
            }
        };
        tickets::Model {
            id: uuid::Uuid::from_u128(0x0193a0b4_c5d6_7e8f_9a0b_1c2d3e4f5a00 + n),
            tenant_id: uuid::Uuid::from_u128(7),
            subject: text("Webhook signatures fail"),
            category: if tricky {
                Category::Bug
            } else {
                Category::ApiSdk
            },
            priority: Priority::High,
            priority_rank: 2,
            status: TicketStatus::Open,
            description: text("Since rotating our webhook secret every delivery fails."),
            call_id: tricky.then(|| text("call_8f2c1a")),
            source_session_id: None,
            contact_email: "engineer@acme.com".into(),
            plan_tier: "enterprise".into(),
            sla_tier: "enterprise".into(),
            sla_first_response_target: "4 hours, 24/7 for urgent issues".into(),
            sla_priority_queue: tricky,
            first_response_due_at: Some(at + chrono::Duration::microseconds(123_456)),
            first_response_at: tricky.then_some(at + chrono::Duration::milliseconds(5)),
            charge_cents: 1,
            charge_status: ChargeStatus::Pending,
            charge_entry_id: None,
            bounty_status: BountyStatus::None,
            bounty_cents: 0,
            email_status: TicketEmailStatus::Failed,
            email_reason: tricky.then(|| text("bounced")),
            message_count: 3,
            created_at: at,
            updated_at: at + chrono::Duration::seconds(61),
            resolved_at: None,
            closed_at: tricky.then_some(at),
            version: 4,
            assignee_id: tricky.then(|| uuid::Uuid::from_u128(9)),
            tags: if tricky {
                ",vip,needs_\"fix\",".into()
            } else {
                String::new()
            },
            merged_into: tricky.then(|| uuid::Uuid::from_u128(11)),
        }
    }

    fn message(n: u128, internal: bool) -> messages::Model {
        messages::Model {
            id: uuid::Uuid::from_u128(0x0193_0000 + n),
            ticket_id: uuid::Uuid::from_u128(0x0193_1000),
            tenant_id: uuid::Uuid::from_u128(7),
            author: if internal {
                MessageAuthor::Operator
            } else {
                MessageAuthor::Customer
            },
            author_name: internal.then(|| "Ada \"the\" operator".to_string()),
            body: "Here is the request id:\nreq_42 \u{7}".into(),
            internal,
            created_at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap()
                + chrono::Duration::nanoseconds(1),
            merged_from: internal.then(|| uuid::Uuid::from_u128(13)),
        }
    }

    fn same(out: &impl Fn() -> TicketOut) {
        let t = out();
        assert_eq!(
            String::from_utf8(json_writer::to_vec(&t)).unwrap(),
            serde_json::to_string(&t).unwrap()
        );
    }

    #[test]
    fn tickets_write_the_bytes_serde_writes() {
        let now = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap();
        for tricky in [false, true] {
            same(&|| TicketOut::summary(ticket(1, tricky), now));
            same(&|| {
                TicketOut::summary(ticket(1, tricky), now).for_operator(uuid::Uuid::from_u128(7))
            });
            same(&|| TicketOut::with_messages(ticket(1, tricky), vec![], now));
            same(&|| {
                TicketOut::with_messages(
                    ticket(1, tricky),
                    vec![message(1, false), message(2, true)],
                    now,
                )
                .for_operator(uuid::Uuid::from_u128(7))
            });
            same(&|| {
                TicketOut::with_thread(
                    ticket(1, tricky),
                    Head {
                        rows: vec![message(1, false)],
                        more: tricky,
                    },
                    now,
                )
            });
        }
    }

    /// A page's rows written straight from their borrowed text, as `TicketOut` serializes.
    fn same_from_rows(t: &tickets::Model, now: DateTime<Utc>) {
        let row = TicketRef::from(t);
        assert_eq!(row.to_model(), *t);
        let tenant = TicketOut::summary(t.clone(), now);
        assert_eq!(
            String::from_utf8(json_writer::to_vec(&TicketView::summary(row, now))).unwrap(),
            serde_json::to_string(&tenant).unwrap()
        );
        let operator = TicketOut::summary(t.clone(), now).for_operator(t.tenant_id);
        assert_eq!(
            String::from_utf8(json_writer::to_vec(&TicketView::for_operator(row, now))).unwrap(),
            serde_json::to_string(&operator).unwrap()
        );
    }

    #[test]
    fn rows_write_the_bytes_serde_writes() {
        for now in [
            Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        ] {
            for tricky in [false, true] {
                same_from_rows(&ticket(1, tricky), now);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_row_text_writes_the_bytes_serde_writes(
            subject in proptest::prelude::any::<String>(),
            description in proptest::prelude::any::<String>(),
            reason in proptest::option::of(proptest::prelude::any::<String>()),
            tags in "[a-z_\",]{0,24}",
            tricky in proptest::prelude::any::<bool>(),
        ) {
            let now = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap();
            same_from_rows(
                &tickets::Model {
                    subject,
                    description,
                    email_reason: reason,
                    tags,
                    ..ticket(1, tricky)
                },
                now,
            );
        }
    }

    #[test]
    fn ticket_pages_write_the_bytes_serde_writes() {
        let now = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap();
        let page = Page {
            limit: 50,
            offset: 0,
        };
        for (rows, cursor, exact) in [(0, None, true), (3, Some("abc\"def".to_string()), false)] {
            let listed = Listed {
                rows: (0..rows).map(|n| ticket(n, n % 2 == 1)).collect(),
                total: 1_234,
                total_is_exact: exact,
                next_cursor: cursor,
            };
            let out = CursorPageOut::new(listed, page, rows > 0, |t| {
                let tenant_id = t.tenant_id;
                TicketOut::summary(t, now).for_operator(tenant_id)
            });
            assert_eq!(
                String::from_utf8(json_writer::to_vec(&out)).unwrap(),
                serde_json::to_string(&out).unwrap()
            );
            let exactly = out.counted_exactly();
            assert_eq!(
                String::from_utf8(json_writer::to_vec(&exactly)).unwrap(),
                serde_json::to_string(&exactly).unwrap()
            );
        }
    }
}
