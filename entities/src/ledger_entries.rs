use sea_orm::entity::prelude::*;

use crate::values::{LedgerKind, LedgerStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: LedgerKind,
    /// Signed: fees are negative.
    pub amount_cents: i64,
    pub balance_after_cents: i64,
    pub ticket_id: Option<Uuid>,
    pub note: Option<String>,
    pub status: LedgerStatus,
    pub settle_attempts: i32,
    /// When settlement is next due (the recovery sweep re-queues it if it never ran).
    pub next_attempt_at: DateTimeUtc,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub settled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
