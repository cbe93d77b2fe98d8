use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// A `values::Queue`, kept as text: the relay marks a row it cannot read (say, one
    /// written by a newer version) as sent instead of failing on it.
    pub queue: String,
    pub payload: Json,
    pub available_at: DateTimeUtc,
    pub claim_token: Option<Uuid>,
    pub claimed_until: Option<DateTimeUtc>,
    /// The `worker_instances` row of the process holding the claim.
    pub lease_owner: Option<Uuid>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
