//! Tenant events (SPEC §5): each is stored once with the exact JSON receivers get, then one
//! delivery per subscribed endpoint (and the ops webhook) is queued through the outbox — all
//! inside the caller's transaction.
use chrono::{DateTime, Utc};
use entities::{
    webhook_deliveries as deliveries, webhook_endpoints as endpoints, webhook_events as events,
};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;
use workers::jobs::{Job, WebhookJob};
use workers::outbox;

use crate::config::Config;
use crate::domain::ids::{EventId, WebhookId};

pub const TICKET_CREATED: &str = "support.ticket_created";
pub const MESSAGE_CREATED: &str = "support.message_created";
pub const STATUS_CHANGED: &str = "support.ticket_status_changed";
pub const BOUNTY_AWARDED: &str = "support.bounty_awarded";
pub const TEST: &str = "webhook.test";

/// The event types a tenant may subscribe to.
pub const SUBSCRIBABLE: [&str; 4] = [
    TICKET_CREATED,
    MESSAGE_CREATED,
    STATUS_CHANGED,
    BOUNTY_AWARDED,
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

pub async fn emit<C: ConnectionTrait>(
    conn: &C,
    config: &Config,
    tenant_id: Uuid,
    kind: &str,
    data: Value,
    audience: Audience,
    now: DateTime<Utc>,
) -> Result<Uuid, DbErr> {
    let event_id = EventId::new().uuid();
    let payload = json!({
        "id": EventId::from_uuid(event_id).to_string(),
        "type": kind,
        "created_at": now,
        "tenant_id": tenant_id,
        "data": data,
    });
    events::Entity::insert(events::ActiveModel {
        id: Set(event_id),
        tenant_id: Set(tenant_id),
        kind: Set(kind.to_string()),
        payload: Set(payload),
        created_at: Set(now),
    })
    .exec_without_returning(conn)
    .await?;

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
    if matches!(audience, Audience::Subscribers) && config.ops_webhook_url.is_some() {
        targets.push(None);
    }
    let first_delay = config
        .webhook_retry_schedule
        .first()
        .copied()
        .unwrap_or_default();
    let at = now + chrono::Duration::from_std(first_delay).unwrap_or_default();
    for endpoint_id in targets {
        let delivery_id = Uuid::now_v7();
        deliveries::Entity::insert(deliveries::ActiveModel {
            id: Set(delivery_id),
            tenant_id: Set(tenant_id),
            endpoint_id: Set(endpoint_id),
            event_id: Set(event_id),
            event_type: Set(kind.to_string()),
            status: Set(workers::webhook::PENDING.to_string()),
            attempts: Set(0),
            response_status: Set(None),
            last_error: Set(None),
            next_attempt_at: Set(Some(at)),
            in_flight_until: Set(None),
            created_at: Set(now),
            delivered_at: Set(None),
        })
        .exec_without_returning(conn)
        .await?;
        outbox::enqueue(conn, Job::Webhook(WebhookJob { delivery_id }), at, now).await?;
    }
    Ok(event_id)
}

/// The public id of a webhook endpoint.
pub fn endpoint_id(id: Uuid) -> String {
    WebhookId::from_uuid(id).to_string()
}
