//! Tenant events (docs/API.md §5): each is stored once with the exact JSON receivers get, then one
//! delivery per subscribed endpoint (and the ops webhook) is queued through the outbox — all
//! inside the caller's transaction.
use chrono::{DateTime, Utc};
use entities::values::DeliveryStatus;
use entities::{
    webhook_deliveries as deliveries, webhook_endpoints as endpoints, webhook_events as events,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};
use serde_json::Value;
use uuid::Uuid;
use workers::jobs::{Job, WebhookJob};
use workers::outbox;

use super::WebhookError;
use crate::config::Config;
use crate::domain::ids::{EventId, WebhookId};
use crate::feed::{self, Visibility};

pub const TICKET_CREATED: &str = "support.ticket_created";
pub const MESSAGE_CREATED: &str = "support.message_created";
pub const STATUS_CHANGED: &str = "support.ticket_status_changed";
pub const BOUNTY_AWARDED: &str = "support.bounty_awarded";
pub const TICKET_MERGED: &str = "support.ticket_merged";
pub const SLA_WARNING: &str = "support.sla_warning";
pub const SLA_BREACHED: &str = "support.sla_breached";
pub const TEST: &str = "webhook.test";

/// The event types a tenant may subscribe to.
pub const SUBSCRIBABLE: [&str; 7] = [
    TICKET_CREATED,
    MESSAGE_CREATED,
    STATUS_CHANGED,
    BOUNTY_AWARDED,
    TICKET_MERGED,
    SLA_WARNING,
    SLA_BREACHED,
];

fn subscribed(endpoint: &endpoints::Model, kind: &str) -> bool {
    match endpoint.events.as_array() {
        Some(list) if !list.is_empty() => list.iter().any(|e| e.as_str() == Some(kind)),
        _ => true,
    }
}

/// Where an event goes: every subscribed, enabled endpoint of the tenant plus the ops webhook.
pub enum Audience {
    Subscribers,
    /// One endpoint only (the test event), and not the ops webhook.
    Endpoint(Uuid),
}

/// Emits one event; `None` when nobody receives it (then nothing is stored).
pub async fn emit<C: ConnectionTrait>(
    conn: &C,
    config: &Config,
    tenant_id: Uuid,
    kind: &str,
    data: Value,
    audience: Audience,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, DbErr> {
    let ids = emit_many(conn, config, tenant_id, kind, vec![data], audience, now).await?;
    Ok(ids.first().copied())
}

/// Queues a `webhook.test` event to one endpoint only; returns the event's id.
pub async fn send_test(
    db: &DatabaseConnection,
    config: &Config,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Uuid, WebhookError> {
    let txn = crate::db::begin_write(db).await?;
    let data = serde_json::json!({
        "message": "This is a test event from Helpline.",
        "webhook_id": WebhookId::from_uuid(endpoint_id).to_string(),
    });
    let event_id = emit(
        &txn,
        config,
        tenant_id,
        TEST,
        data,
        Audience::Endpoint(endpoint_id),
        now,
    )
    .await?
    .ok_or(WebhookError::NoReceiver)?;
    txn.commit().await?;
    Ok(event_id)
}

/// Emits one event of `kind` per item of `data` (a batch of the same change), with one
/// statement per table for the whole batch. A tenant event (`Audience::Subscribers`) always
/// joins the event feed; the webhook event row only exists to be delivered, so when no
/// endpoint is subscribed (and there is no ops webhook) it is not stored and no ids are
/// returned.
pub async fn emit_many<C: ConnectionTrait>(
    conn: &C,
    config: &Config,
    tenant_id: Uuid,
    kind: &str,
    data: Vec<Value>,
    audience: Audience,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbErr> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let event_ids: Vec<Uuid> = data.iter().map(|_| EventId::new().uuid()).collect();
    let payloads: Vec<(Uuid, Value)> = event_ids
        .iter()
        .zip(data)
        .map(|(&event_id, data)| {
            (
                event_id,
                feed::payload(event_id, kind, tenant_id, data, now),
            )
        })
        .collect();
    let mut targets: Vec<Option<Uuid>> = match audience {
        Audience::Subscribers => endpoints::Entity::find()
            .filter(endpoints::Column::TenantId.eq(tenant_id))
            .filter(endpoints::Column::Enabled.eq(true))
            .all(conn)
            .await?
            .into_iter()
            .filter(|e| subscribed(e, kind))
            .map(|e| Some(e.id))
            .collect(),
        Audience::Endpoint(id) => vec![Some(id)],
    };
    if matches!(audience, Audience::Subscribers) {
        // Event feed: every tenant event, received by a webhook or not.
        feed::record(conn, tenant_id, kind, &payloads, Visibility::Tenant, now).await?;
        if config.ops_webhook_url.is_some() {
            targets.push(None);
        }
    }
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<events::ActiveModel> = payloads
        .into_iter()
        .map(|(event_id, payload)| events::ActiveModel {
            id: Set(event_id),
            tenant_id: Set(tenant_id),
            kind: Set(kind.to_string()),
            payload: Set(payload),
            created_at: Set(now),
        })
        .collect();
    events::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    let first_delay = config
        .webhook_retry_schedule
        .first()
        .copied()
        .unwrap_or_default();
    let at = now + chrono::Duration::from_std(first_delay).unwrap_or_default();
    let pairs: Vec<(Uuid, Uuid, Option<Uuid>)> = event_ids
        .iter()
        .flat_map(|&event_id| {
            targets
                .iter()
                .map(move |&endpoint_id| (Uuid::now_v7(), event_id, endpoint_id))
        })
        .collect();
    let deliveries: Vec<deliveries::ActiveModel> = pairs
        .iter()
        .map(
            |&(delivery_id, event_id, endpoint_id)| deliveries::ActiveModel {
                id: Set(delivery_id),
                tenant_id: Set(tenant_id),
                endpoint_id: Set(endpoint_id),
                event_id: Set(event_id),
                event_type: Set(kind.to_string()),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                response_status: Set(None),
                last_error: Set(None),
                next_attempt_at: Set(Some(at)),
                in_flight_until: Set(None),
                lease_owner: Set(None),
                created_at: Set(now),
                delivered_at: Set(None),
            },
        )
        .collect();
    let jobs = pairs
        .iter()
        .map(|&(delivery_id, _, _)| (Job::Webhook(WebhookJob { delivery_id }), at));
    deliveries::Entity::insert_many(deliveries)
        .exec_without_returning(conn)
        .await?;
    outbox::enqueue_many(conn, jobs, now).await?;
    Ok(event_ids)
}

/// The public id of a webhook endpoint.
pub fn endpoint_id(id: Uuid) -> String {
    WebhookId::from_uuid(id).to_string()
}
