//! The ticket, message and event objects as the API shows them (SPEC §4).
use chrono::{DateTime, Utc};
use entities::{messages, ticket_events, tickets};
use serde::Serialize;
use serde_json::Value;

use crate::domain::ids::{EventId, MessageId, TicketId};
use crate::domain::sla;

#[derive(Debug, Clone, Serialize)]
pub struct SlaOut {
    pub tier: String,
    pub first_response_target: String,
    pub priority_queue: bool,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub breached: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChargeOut {
    pub amount_cents: i64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BountyOut {
    pub eligible: bool,
    pub status: String,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmailOut {
    pub status: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageOut {
    pub id: String,
    pub object: &'static str,
    pub ticket_id: String,
    pub author: String,
    pub author_name: Option<String>,
    pub body: String,
    pub internal: bool,
    pub created_at: DateTime<Utc>,
}

impl From<messages::Model> for MessageOut {
    fn from(m: messages::Model) -> Self {
        Self {
            id: MessageId::from_uuid(m.id).to_string(),
            object: "support_message",
            ticket_id: TicketId::from_uuid(m.ticket_id).to_string(),
            author: m.author,
            author_name: m.author_name,
            body: m.body,
            internal: m.internal,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketOut {
    pub id: String,
    pub object: &'static str,
    /// Present on operator views only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<uuid::Uuid>,
    pub subject: String,
    pub category: String,
    pub priority: String,
    pub status: String,
    pub description: String,
    pub call_id: Option<String>,
    pub source_session_id: Option<String>,
    pub contact_email: String,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageOut>>,
}

impl TicketOut {
    /// The list form: no messages.
    pub fn summary(t: tickets::Model, now: DateTime<Utc>) -> Self {
        Self {
            id: TicketId::from_uuid(t.id).to_string(),
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
                status: t.charge_status,
            },
            bounty: BountyOut {
                eligible: t.category == "bug",
                status: t.bounty_status,
                amount_cents: t.bounty_cents,
            },
            email: EmailOut {
                status: t.email_status,
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
            messages: None,
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

    /// Operators also see which tenant a ticket belongs to.
    pub fn for_operator(mut self, tenant_id: uuid::Uuid) -> Self {
        self.tenant_id = Some(tenant_id);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EventOut {
    pub id: String,
    pub object: &'static str,
    pub ticket_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

impl From<ticket_events::Model> for EventOut {
    fn from(e: ticket_events::Model) -> Self {
        Self {
            id: EventId::from_uuid(e.id).to_string(),
            object: "ticket_event",
            ticket_id: TicketId::from_uuid(e.ticket_id).to_string(),
            kind: e.kind,
            actor: e.actor,
            data: e.data.unwrap_or(Value::Null),
            created_at: e.created_at,
        }
    }
}
