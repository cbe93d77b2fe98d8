use sea_orm::entity::prelude::*;

use crate::values::TicketStatus;

/// An operators' canned reply: its body may use `{{ticket.subject}}`, `{{ticket.id}}`,
/// `{{tenant.name}}`, `{{contact_email}}` and `{{operator.name}}`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "macros")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub body: String,
    /// The status a reply with this macro sets, if any.
    pub status: Option<TicketStatus>,
    /// Tags a reply with this macro sets (stored `,a,b,`; empty: leaves them).
    pub tags: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
