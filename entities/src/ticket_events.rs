use sea_orm::entity::prelude::*;

use crate::values::TicketEventKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub tenant_id: Uuid,
    pub kind: TicketEventKind,
    /// `customer`, `operator:<name>` or `system`.
    pub actor: String,
    pub data: Option<Json>,
    /// False for events about internal notes, which tenants never see.
    pub public: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
