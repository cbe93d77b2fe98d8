use sea_orm::entity::prelude::*;

use crate::values::{
    BountyStatus, Category, ChargeStatus, Priority, TicketEmailStatus, TicketStatus,
};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subject: String,
    pub category: Category,
    pub priority: Priority,
    pub priority_rank: i16,
    pub status: TicketStatus,
    pub description: String,
    pub call_id: Option<String>,
    pub source_session_id: Option<String>,
    pub contact_email: String,
    pub plan_tier: String,
    pub sla_tier: String,
    pub sla_first_response_target: String,
    pub sla_priority_queue: bool,
    pub first_response_due_at: Option<DateTimeUtc>,
    pub first_response_at: Option<DateTimeUtc>,
    pub charge_cents: i64,
    pub charge_status: ChargeStatus,
    pub charge_entry_id: Option<Uuid>,
    pub bounty_status: BountyStatus,
    pub bounty_cents: i64,
    pub email_status: TicketEmailStatus,
    pub email_reason: Option<String>,
    pub message_count: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub version: i64,
    pub assignee_id: Option<Uuid>,
    pub tags: String,
    pub merged_into: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
