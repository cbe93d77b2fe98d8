//! The tenant's feed: a page of notifications and the read markers.
use chrono::{DateTime, Utc};
use entities::notifications;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::pagination::Page;

fn of_tenant(tenant_id: Uuid) -> Select<notifications::Entity> {
    notifications::Entity::find().filter(notifications::Column::TenantId.eq(tenant_id))
}

pub struct FeedPage {
    pub rows: Vec<notifications::Model>,
    /// Matching the filter.
    pub total: u64,
    /// Unread, whatever the filter.
    pub unread_count: u64,
}

/// Newest first; `unread` `Some(true)` keeps unread ones only, `Some(false)` read ones only.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    unread: Option<bool>,
    page: Page,
) -> Result<FeedPage, DbErr> {
    let mut query = of_tenant(tenant_id);
    if unread == Some(true) {
        query = query.filter(notifications::Column::ReadAt.is_null());
    } else if unread == Some(false) {
        query = query.filter(notifications::Column::ReadAt.is_not_null());
    }
    let total = query.clone().count(db).await?;
    let unread_count = of_tenant(tenant_id)
        .filter(notifications::Column::ReadAt.is_null())
        .count(db)
        .await?;
    let rows = query
        .order_by_desc(notifications::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok(FeedPage {
        rows,
        total,
        unread_count,
    })
}

/// Marks one of the tenant's notifications read (a second mark keeps the first time);
/// `None` when the tenant has no such notification.
pub async fn mark_read(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<notifications::Model>, DbErr> {
    let Some(found) = of_tenant(tenant_id)
        .filter(notifications::Column::Id.eq(id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    notifications::Entity::update_many()
        .col_expr(notifications::Column::ReadAt, Expr::value(now))
        .filter(notifications::Column::Id.eq(found.id))
        .filter(notifications::Column::ReadAt.is_null())
        .exec(db)
        .await?;
    notifications::Entity::find_by_id(found.id).one(db).await
}

/// Marks every unread notification of the tenant read; returns how many.
pub async fn mark_all_read(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let updated = notifications::Entity::update_many()
        .col_expr(notifications::Column::ReadAt, Expr::value(now))
        .filter(notifications::Column::TenantId.eq(tenant_id))
        .filter(notifications::Column::ReadAt.is_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected)
}
