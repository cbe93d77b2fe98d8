use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feed_events")]
pub struct Model {
    /// The feed position, assigned by the database in commit order.
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    /// Seen by operators only.
    pub internal: bool,
    /// The same JSON a webhook receiver gets.
    pub payload: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
