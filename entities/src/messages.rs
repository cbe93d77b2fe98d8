use sea_orm::entity::prelude::*;

use crate::values::MessageAuthor;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub tenant_id: Uuid,
    pub author: MessageAuthor,
    pub author_name: Option<String>,
    pub body: String,
    pub internal: bool,
    pub created_at: DateTimeUtc,
    /// Copied by a merge from this ticket (original author and time kept).
    pub merged_from: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
