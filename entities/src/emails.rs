use sea_orm::entity::prelude::*;

use crate::values::{DeliveryStatus, EmailKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "emails")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Option<Uuid>,
    pub kind: EmailKind,
    pub to_addr: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub body_text: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    /// When the next attempt is due (the recovery sweep re-queues it if it never ran).
    pub next_attempt_at: DateTimeUtc,
    pub in_flight_until: Option<DateTimeUtc>,
    /// The `worker_instances` row of the process holding the claim.
    pub lease_owner: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
