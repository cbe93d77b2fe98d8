//! The API shapes of webhook endpoints (shared by `/v1/webhooks` and the account export).
use chrono::{DateTime, Utc};
use entities::webhook_endpoints as endpoints;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::ids::WebhookId;

/// A webhook endpoint of the tenant.
#[derive(Serialize, ToSchema)]
pub struct EndpointOut {
    #[schema(example = "whk_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "webhook_endpoint")]
    pub object: &'static str,
    #[schema(example = "https://hooks.acme.com/helpline")]
    pub url: String,
    /// Subscribed event types.
    #[schema(value_type = Vec<WebhookEventType>)]
    pub events: Value,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why delivery stopped, e.g. the receiver answered `410 Gone`.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The signing secret (`whsec_…`): only when created or rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")]
    pub secret: Option<String>,
}

/// An event type a webhook endpoint may subscribe to.
#[derive(ToSchema)]
#[allow(dead_code)] // describes `events`; the handlers check against `events::SUBSCRIBABLE`
pub enum WebhookEventType {
    #[schema(rename = "support.ticket_created")]
    TicketCreated,
    #[schema(rename = "support.message_created")]
    MessageCreated,
    #[schema(rename = "support.ticket_status_changed")]
    TicketStatusChanged,
    #[schema(rename = "support.bounty_awarded")]
    BountyAwarded,
    #[schema(rename = "support.ticket_merged")]
    TicketMerged,
    #[schema(rename = "support.sla_warning")]
    SlaWarning,
    #[schema(rename = "support.sla_breached")]
    SlaBreached,
}

impl From<endpoints::Model> for EndpointOut {
    fn from(e: endpoints::Model) -> Self {
        Self {
            id: WebhookId::from_uuid(e.id).to_string(),
            object: "webhook_endpoint",
            url: e.url,
            events: e.events,
            description: e.description,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
            secret: None,
        }
    }
}
