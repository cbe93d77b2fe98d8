use sea_orm::entity::prelude::*;

use crate::values::PrincipalKind;

/// A browser session (console or Support tab). Only the token's SHA-256 hash is stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "web_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub principal_kind: PrincipalKind,
    /// The operator's staff id or the tenant's id.
    pub principal_id: Uuid,
    pub csrf_secret: String,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
