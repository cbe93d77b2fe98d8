//! The operators: who may be assigned a ticket.
use entities::staff;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

/// Operators whose token is not revoked, by name.
pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<staff::Model>, DbErr> {
    staff::Entity::find()
        .filter(staff::Column::RevokedAt.is_null())
        .order_by_asc(staff::Column::Name)
        .order_by_asc(staff::Column::Id)
        .all(conn)
        .await
}

/// The operator `id`, unless unknown or revoked.
pub async fn find_active<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<staff::Model>, DbErr> {
    staff::Entity::find_by_id(id)
        .filter(staff::Column::RevokedAt.is_null())
        .one(conn)
        .await
}
