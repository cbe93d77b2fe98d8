//! The operator console (`/console`): its pages as maud markup and the reads only a page
//! needs (the names behind ids on a page of tickets). Every change goes through the same
//! feature functions the `/admin` API calls.
pub mod views;

use std::collections::HashMap;

use entities::tenants;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

/// The names of the tenants on one page (a bounded `IN` lookup).
pub async fn tenant_names(
    db: &DatabaseConnection,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, String>, DbErr> {
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String)> = tenants::Entity::find()
        .select_only()
        .column(tenants::Column::Id)
        .column(tenants::Column::Name)
        .filter(tenants::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
