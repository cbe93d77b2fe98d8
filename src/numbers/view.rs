//! The agent and number objects as the API shows them.
use chrono::{DateTime, Utc};
use entities::{agents, numbers};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// An agent: what a registered number routes to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentOut {
    pub id: Uuid,
    #[schema(example = "agent")]
    pub object: &'static str,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<agents::Model> for AgentOut {
    fn from(a: agents::Model) -> Self {
        Self {
            id: a.id,
            object: "agent",
            name: a.name,
            description: a.description,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A registered number, exactly the fields of the numbers list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NumberOut {
    /// E.164.
    #[schema(example = "+15551234567")]
    pub number: String,
    pub agent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<numbers::Model> for NumberOut {
    fn from(n: numbers::Model) -> Self {
        Self {
            number: n.number,
            agent_id: n.agent_id,
            created_at: n.created_at,
        }
    }
}
