//! The event feed: every event that webhooks, the ops webhook and in-app notifications
//! report, plus the operator-only ones, in one ordered table (`feed_events`) whose `seq` is
//! the position clients resume from. Rows are written in the transaction of the change
//! ([`record`]); each node's [`hub::Hub`] follows the table and hands new events to the
//! open streams ([`stream`]). docs/ARCHITECTURE.md, "The event feed", has the design.
mod end;
pub mod hub;
mod mailbox;
pub mod store;
pub mod stream;

use chrono::{DateTime, Utc};
use entities::feed_events;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Statement};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::ids::EventId;

/// Feed-only event types (the webhook types live in `crate::webhooks::events`).
pub const TICKET_UPDATED: &str = "support.ticket_updated";
pub const NOTIFICATION_CREATED: &str = "notification.created";

/// Sent once, instead of events, to a client whose position is older than the retention.
pub const RESET: &str = "reset";

/// Who may see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// The tenant and operators.
    Tenant,
    /// Operators only: internal notes, assignment.
    Internal,
}

/// Why the feed could not answer.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("this tenant already has {0} open streams, the most allowed")]
    TooManyStreams(usize),
    #[error("the position is older than the feed's retention")]
    PositionExpired,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The JSON of an event, exactly as a webhook receiver gets it.
pub fn payload(
    event_id: Uuid,
    kind: &str,
    tenant_id: Uuid,
    data: Value,
    now: DateTime<Utc>,
) -> Value {
    json!({
        "id": EventId::from_uuid(event_id).to_string(),
        "type": kind,
        "created_at": now,
        "tenant_id": tenant_id,
        "data": data,
    })
}

/// Any key, so two features' locks never collide: "helpfeed" in ASCII.
const FEED_LOCK: i64 = 0x6865_6c70_6665_6564;

/// Appends events (`(event id, payload)`) to the feed inside the caller's transaction.
///
/// On PostgreSQL a sequence hands out positions at insert time, not at commit, so two
/// transactions could commit out of order and a reader that already moved past the later
/// position would never see the earlier one. The advisory lock taken here (held until the
/// transaction ends) makes positions commit in order; callers therefore record feed events
/// as late as they can, after their row locks. SQLite has one writer at a time anyway.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    kind: &str,
    events: &[(Uuid, Value)],
    visibility: Visibility,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [FEED_LOCK.into()],
        ))
        .await?;
    }
    let rows = events.iter().map(|(id, payload)| feed_events::ActiveModel {
        id: Set(*id),
        tenant_id: Set(tenant_id),
        kind: Set(kind.to_string()),
        internal: Set(visibility == Visibility::Internal),
        payload: Set(payload.clone()),
        created_at: Set(now),
        ..Default::default()
    });
    feed_events::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Records one event of `kind` with `data`, giving it a new event id.
pub async fn record_one<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    kind: &str,
    data: Value,
    visibility: Visibility,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let id = EventId::new().uuid();
    let event = payload(id, kind, tenant_id, data, now);
    record(conn, tenant_id, kind, &[(id, event)], visibility, now).await
}

/// The webhook payload's fields, as the feed serves them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventBody {
    #[schema(example = "evt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    /// `support.ticket_created`, `support.message_created`, `support.ticket_status_changed`,
    /// `support.bounty_awarded`, `support.ticket_merged`, `support.ticket_updated`,
    /// `support.sla_warning`, `support.sla_breached` or `notification.created`
    /// (docs/EVENTS.md).
    #[serde(rename = "type")]
    #[schema(example = "support.ticket_created")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub tenant_id: Uuid,
    /// What the event is about; its shape depends on `type`.
    pub data: Value,
}

/// One event of a JSON page: its feed position and the webhook payload.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedEventOut {
    /// The feed position; pass the last one you processed as `after` (or `Last-Event-ID`).
    #[schema(example = 42)]
    pub seq: i64,
    #[serde(flatten)]
    pub event: EventBody,
}

impl TryFrom<feed_events::Model> for FeedEventOut {
    type Error = DbErr;

    fn try_from(row: feed_events::Model) -> Result<Self, DbErr> {
        let event = serde_json::from_value(row.payload).map_err(|e| {
            DbErr::Custom(format!(
                "feed event {} has a malformed payload: {e}",
                row.seq
            ))
        })?;
        Ok(Self {
            seq: row.seq,
            event,
        })
    }
}

/// A page of the feed, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    pub data: Vec<FeedEventOut>,
    /// The `after` of the next page; `null` when this page reached the end (poll again later
    /// with the `seq` of the last event you saw).
    pub next_after: Option<i64>,
}
