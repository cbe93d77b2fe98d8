//! Agent storage: tenant-scoped create, list, get, replace, and delete (which detaches the
//! agent's numbers in the same transaction).
use chrono::{DateTime, Utc};
use entities::{agents, numbers};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::NumberError;
use crate::db::begin_write;
use crate::domain::agent::AgentDescription;
use crate::domain::validate::Name;
use crate::pagination::Page;

/// Everything a tenant sets on an agent (`POST` and `PUT` take the same fields).
#[derive(Debug, Clone)]
pub struct AgentFields {
    pub name: Name,
    pub description: Option<AgentDescription>,
}

pub async fn create(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    fields: AgentFields,
    now: DateTime<Utc>,
) -> Result<agents::Model, NumberError> {
    crate::caps::AGENTS
        .ensure_room(
            db,
            agents::Entity::find().filter(agents::Column::TenantId.eq(tenant_id)),
        )
        .await?;
    let agent = agents::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        name: Set(fields.name.into_inner()),
        description: Set(fields.description.map(AgentDescription::into_inner)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(agents::Entity::insert(agent)
        .exec_with_returning(db)
        .await?)
}

/// The tenant's agents, newest first, and how many there are.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    page: Page,
) -> Result<(Vec<agents::Model>, u64), NumberError> {
    let query = agents::Entity::find().filter(agents::Column::TenantId.eq(tenant_id));
    let total = query.clone().count(db).await?;
    let rows = query
        // UUIDv7: id order is creation order.
        .order_by_desc(agents::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// One of the tenant's agents; another tenant's agent is `404` like an unknown one.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    agent_id: Uuid,
) -> Result<agents::Model, NumberError> {
    agents::Entity::find_by_id(agent_id)
        .filter(agents::Column::TenantId.eq(tenant_id))
        .one(conn)
        .await?
        .ok_or(NumberError::NoSuchAgent)
}

/// `PUT`: replaces the name and the description (absent description → none).
pub async fn replace(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    agent_id: Uuid,
    fields: AgentFields,
    now: DateTime<Utc>,
) -> Result<agents::Model, NumberError> {
    let txn = begin_write(db).await?;
    let agent = find(&txn, tenant_id, agent_id).await?;
    let mut change: agents::ActiveModel = agent.into();
    change.name = Set(fields.name.into_inner());
    change.description = Set(fields.description.map(AgentDescription::into_inner));
    change.updated_at = Set(now);
    let updated = agents::Entity::update(change).exec(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes the agent and detaches its numbers (their `agent_id` becomes null), atomically.
/// Returns how many numbers were detached.
pub async fn delete(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    agent_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, NumberError> {
    let txn = begin_write(db).await?;
    let agent = find(&txn, tenant_id, agent_id).await?;
    let detached = numbers::Entity::update_many()
        .col_expr(numbers::Column::AgentId, Expr::value(Option::<Uuid>::None))
        .col_expr(numbers::Column::UpdatedAt, Expr::value(now))
        .filter(numbers::Column::AgentId.eq(agent.id))
        .exec(&txn)
        .await?
        .rows_affected;
    agents::Entity::delete_by_id(agent.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(detached)
}
