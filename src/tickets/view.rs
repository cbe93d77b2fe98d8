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

/// The next page of a thread whose first [`EMBEDDED_MESSAGES`] a tenant's answer embeds.
fn messages_next(id: TicketId) -> String {
    format!(
        "/v1/support/tickets/{id}/messages?offset={EMBEDDED_MESSAGES}&limit={EMBEDDED_MESSAGES}"
    )
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
            out.messages_next = Some(messages_next(out.id));
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

/// A ticket's answer written straight from a borrowed row ([`TicketRef`]: a page's row as
/// the driver holds it, or a model's fields), without copying its text: the bytes of the
/// matching [`TicketOut`].
#[derive(Debug, Clone, Copy)]
pub struct TicketView<'a> {
    ticket: TicketRef<'a>,
    breached: bool,
    /// Operators also see `tenant_id`, `assignee_id` and `tags`.
    operator: bool,
    messages: Option<&'a [MessageOut]>,
    /// The thread has more messages than `messages`: write `messages_next`.
    more: bool,
}

impl<'a> TicketView<'a> {
    /// The list form (as [`TicketOut::summary`]).
    pub fn summary(ticket: TicketRef<'a>, now: DateTime<Utc>) -> Self {
        Self {
            breached: sla::breached(ticket.first_response_due_at, ticket.first_response_at, now),
            ticket,
            operator: false,
            messages: None,
            more: false,
        }
    }

    /// The operator's list form (as [`TicketOut::for_operator`]).
    pub fn for_operator(ticket: TicketRef<'a>, now: DateTime<Utc>) -> Self {
        Self {
            operator: true,
            ..Self::summary(ticket, now)
        }
    }

    /// With the thread's first messages and, when it has `more`, where the next page is (as
    /// [`TicketOut::with_thread`]).
    pub fn with_thread(self, messages: &'a [MessageOut], more: bool) -> Self {
        Self {
            messages: Some(messages),
            more,
            ..self
        }
    }
}

/// The bytes `serde_json` writes for [`TicketOut`]'s derived `Serialize`, field for field
/// (the tests below compare them).
impl WriteJson for TicketView<'_> {
    fn write_json(&self, w: &mut JsonWriter) {
        let t = &self.ticket;
        w.begin_object();
        w.key("id");
        w.prefixed_uuid(TicketId::PREFIX, t.id);
        w.key("object");
        w.str("support_ticket");
        if self.operator {
            w.key("tenant_id");
            w.uuid(t.tenant_id);
        }
        w.key("subject");
        w.str(t.subject);
        w.key("category");
        w.str(t.category.as_str());
        w.key("priority");
        w.str(t.priority.as_str());
        w.key("status");
        w.str(t.status.as_str());
        w.key("description");
        w.str(t.description);
        w.key("call_id");
        w.opt_str(t.call_id);
        w.key("source_session_id");
        w.opt_str(t.source_session_id);
        w.key("contact_email");
        w.str(t.contact_email);
        w.key("plan_tier");
        w.str(t.plan_tier);
        w.key("sla");
        w.begin_object();
        w.key("tier");
        w.str(t.sla_tier);
        w.key("first_response_target");
        w.str(t.sla_first_response_target);
        w.key("priority_queue");
        w.bool(t.sla_priority_queue);
        w.key("first_response_due_at");
        w.opt_timestamp(t.first_response_due_at);
        w.key("first_response_at");
        w.opt_timestamp(t.first_response_at);
        w.key("breached");
        w.bool(self.breached);
        w.end_object();
        w.key("charge");
        w.begin_object();
        w.key("amount_cents");
        w.i64(t.charge_cents);
        w.key("status");
        w.str(t.charge_status.as_str());
        w.end_object();
        w.key("bounty");
        w.begin_object();
        w.key("eligible");
        w.bool(t.category == Category::Bug);
        w.key("status");
        w.str(t.bounty_status.as_str());
        w.key("amount_cents");
        w.i64(t.bounty_cents);
        w.end_object();
        w.key("email");
        w.begin_object();
        w.key("status");
        w.str(t.email_status.as_str());
        w.key("reason");
        w.opt_str(t.email_reason);
        w.end_object();
        w.key("message_count");
        w.i64(i64::from(t.message_count));
        w.key("created_at");
        w.timestamp(t.created_at);
        w.key("updated_at");
        w.timestamp(t.updated_at);
        w.key("resolved_at");
        w.opt_timestamp(t.resolved_at);
        w.key("closed_at");
        w.opt_timestamp(t.closed_at);
        w.key("merged_into");
        match t.merged_into {
            Some(into) => w.prefixed_uuid(TicketId::PREFIX, into),
            None => w.null(),
        }
        w.key("version");
        w.i64(t.version);
        if self.operator {
            w.key("assignee_id");
            w.opt_uuid(t.assignee_id);
            w.key("tags");
            w.begin_array();
            for tag in Tags::stored(t.tags) {
                w.element();
                w.str(tag);
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
        if self.more {
            w.key("messages_next");
            w.str(&messages_next(TicketId::from_uuid(t.id)));
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

    /// The writer's bytes for `view` are serde_json's for `out`.
    fn same(view: TicketView<'_>, out: &TicketOut) {
        assert_eq!(
            String::from_utf8(json_writer::to_vec(&view)).unwrap(),
            serde_json::to_string(out).unwrap()
        );
    }

    #[test]
    fn tickets_write_the_bytes_serde_writes() {
        let now = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap();
        let thread = vec![message(1, false), message(2, true)];
        let messages: Vec<MessageOut> = thread.iter().cloned().map(MessageOut::from).collect();
        for tricky in [false, true] {
            let t = ticket(1, tricky);
            let row = TicketRef::from(&t);
            let tenant = TicketView::summary(row, now);
            let operator = TicketView::for_operator(row, now);
            same(tenant, &TicketOut::summary(t.clone(), now));
            same(
                operator,
                &TicketOut::summary(t.clone(), now).for_operator(t.tenant_id),
            );
            same(
                tenant.with_thread(&[], false),
                &TicketOut::with_messages(t.clone(), vec![], now),
            );
            same(
                operator.with_thread(&messages, false),
                &TicketOut::with_messages(t.clone(), thread.clone(), now).for_operator(t.tenant_id),
            );
            let head = || Head {
                rows: thread[..1].to_vec(),
                more: tricky,
            };
            same(
                tenant.with_thread(&messages[..1], tricky),
                &TicketOut::with_thread(t.clone(), head(), now),
            );
            same(
                operator.with_thread(&messages[..1], tricky),
                &TicketOut::with_thread(t.clone(), head(), now).for_operator(t.tenant_id),
            );
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
                rows: (0..rows).map(|n| ticket(n, n % 2 == 1)).collect::<Vec<_>>(),
                total: 1_234,
                total_is_exact: exact,
                next_cursor: cursor,
            };
            for operator in [false, true] {
                let views = listed.rows.iter().map(|t| {
                    let row = TicketRef::from(t);
                    if operator {
                        TicketView::for_operator(row, now)
                    } else {
                        TicketView::summary(row, now)
                    }
                });
                let outs = listed.rows.iter().map(|t| {
                    let out = TicketOut::summary(t.clone(), now);
                    if operator {
                        out.for_operator(t.tenant_id)
                    } else {
                        out
                    }
                });
                let view = CursorPageOut::shaped(views.collect(), &listed, page, rows > 0);
                let out = CursorPageOut::shaped(outs.collect(), &listed, page, rows > 0);
                assert_eq!(
                    String::from_utf8(json_writer::to_vec(&view)).unwrap(),
                    serde_json::to_string(&out).unwrap()
                );
                assert_eq!(
                    String::from_utf8(json_writer::to_vec(&view.counted_exactly())).unwrap(),
                    serde_json::to_string(&out.counted_exactly()).unwrap()
                );
            }
        }
    }
}
