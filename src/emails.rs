//! Outgoing email (docs/API.md §4): a stored email plus its job, written in the caller's
//! transaction. Nothing is queued when `RESEND_API_KEY` is unset.
use chrono::{DateTime, Utc};
use entities::values::DeliveryStatus;
use entities::{emails, tickets};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use uuid::Uuid;
use workers::jobs::{EmailJob, Job};
use workers::outbox;

use crate::config::Config;
use crate::domain::ids::TicketId;

pub use entities::values::EmailKind;

/// `[<category>/<priority>] <subject> (<ticket id>)`
pub fn support_subject(ticket: &tickets::Model) -> String {
    format!(
        "[{}/{}] {} ({})",
        ticket.category,
        ticket.priority,
        ticket.subject,
        TicketId::from_uuid(ticket.id)
    )
}

/// The email for the support inbox about a new ticket or a customer reply.
pub fn to_support(config: &Config, ticket: &tickets::Model, kind: EmailKind, text: &str) -> Draft {
    let heading = match kind {
        EmailKind::NewTicket => "New ticket",
        _ => "New reply from the customer",
    };
    Draft {
        kind,
        to: config.support_inbox.clone(),
        reply_to: Some(ticket.contact_email.clone()),
        subject: support_subject(ticket),
        body: format!(
            "{heading}\n\nTicket: {}\nTenant: {}\nContact: {}\nCategory: {}\nPriority: {}\nStatus: {}\n\n{text}\n",
            TicketId::from_uuid(ticket.id),
            ticket.tenant_id,
            ticket.contact_email,
            ticket.category,
            ticket.priority,
            ticket.status,
        ),
    }
}

/// The email to the ticket's contact about an operator reply or status change.
pub fn to_contact(ticket: &tickets::Model, kind: EmailKind, text: &str) -> Draft {
    Draft {
        kind,
        to: ticket.contact_email.clone(),
        reply_to: None,
        subject: format!(
            "Re: {} ({})",
            ticket.subject,
            TicketId::from_uuid(ticket.id)
        ),
        body: format!("{text}\n\n— Support\n"),
    }
}

pub struct Draft {
    pub kind: EmailKind,
    pub to: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub body: String,
}

/// Stores the email and queues its job; returns `false` (and stores nothing) when email is
/// not configured.
pub async fn queue<C: ConnectionTrait>(
    conn: &C,
    config: &Config,
    ticket: &tickets::Model,
    draft: Draft,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    queue_many(conn, config, [(ticket, draft)], now).await
}

/// Stores several emails and their jobs with one statement per table; returns `false` (and
/// stores nothing) when email is not configured.
pub async fn queue_many<'a, C: ConnectionTrait>(
    conn: &C,
    config: &Config,
    drafts: impl IntoIterator<Item = (&'a tickets::Model, Draft)>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if config.resend_api_key.is_none() {
        return Ok(false);
    }
    let mut jobs = Vec::new();
    let rows: Vec<emails::ActiveModel> = drafts
        .into_iter()
        .map(|(ticket, draft)| {
            let email_id = Uuid::now_v7();
            jobs.push((Job::Email(EmailJob { email_id }), now));
            emails::ActiveModel {
                id: Set(email_id),
                tenant_id: Set(ticket.tenant_id),
                ticket_id: Set(Some(ticket.id)),
                kind: Set(draft.kind),
                to_addr: Set(draft.to),
                reply_to: Set(draft.reply_to),
                subject: Set(draft.subject),
                body_text: Set(draft.body),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                last_error: Set(None),
                provider_id: Set(None),
                next_attempt_at: Set(now),
                in_flight_until: Set(None),
                lease_owner: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
        })
        .collect();
    if rows.is_empty() {
        return Ok(true);
    }
    emails::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    outbox::enqueue_many(conn, jobs, now).await?;
    Ok(true)
}
