//! Number registrations: register (the primary key decides races between tenants), attach
//! to an agent, list, remove.
use chrono::{DateTime, Utc};
use entities::numbers;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use uuid::Uuid;

use super::{NumberError, agents};
use crate::db::begin_write;
use crate::db::is_unique_violation;
use crate::domain::validate::E164Number;
use crate::pagination::Page;

/// How often a registration re-reads after losing an insert race before giving up.
const RACE_RETRIES: usize = 5;

/// The outcome of a registration: a new row (`201`) or this tenant's existing one (`200`).
#[derive(Debug)]
pub enum Registered {
    Created(numbers::Model),
    Existing(numbers::Model),
}

/// A write that named an agent deleted meanwhile fails its foreign key: that agent is gone.
fn agent_vanished(e: DbErr) -> NumberError {
    match e.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => NumberError::NoSuchAgent,
        _ => NumberError::Db(e),
    }
}

enum Attempt {
    Done(Registered),
    /// Another request inserted the number between our read and our insert.
    LostRace,
}

/// Registers `number` for the tenant, attaching `agent_id` when given.
/// New → `Created`; already this tenant's → `Existing` (agent updated when given);
/// another tenant's → `409 number_taken`; unknown or foreign agent → `404`.
///
/// Two tenants racing for one number: both may see no row, but only one insert passes the
/// primary key; the loser re-reads and answers as if it had come second.
pub async fn register(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    number: &E164Number,
    agent_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Registered, NumberError> {
    for _ in 0..RACE_RETRIES {
        let txn = begin_write(db).await?;
        match register_once(&txn, tenant_id, number, agent_id, now).await {
            Ok(Attempt::Done(registered)) => {
                txn.commit().await.map_err(agent_vanished)?;
                return Ok(registered);
            }
            Ok(Attempt::LostRace) => txn.rollback().await?,
            Err(e) => {
                txn.rollback().await.ok();
                return Err(e);
            }
        }
    }
    Err(NumberError::ConcurrentUpdate)
}

async fn register_once(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    number: &E164Number,
    agent_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Attempt, NumberError> {
    if let Some(agent_id) = agent_id {
        agents::find(txn, tenant_id, agent_id).await?;
    }
    if let Some(existing) = numbers::Entity::find_by_id(number.as_str())
        .one(txn)
        .await?
    {
        if existing.tenant_id != tenant_id {
            return Err(NumberError::NumberTaken);
        }
        let row = match agent_id {
            Some(agent_id) if existing.agent_id != Some(agent_id) => {
                set_agent(txn, existing, agent_id, now).await?
            }
            _ => existing,
        };
        return Ok(Attempt::Done(Registered::Existing(row)));
    }
    crate::caps::NUMBERS
        .ensure_room(
            txn,
            numbers::Entity::find().filter(numbers::Column::TenantId.eq(tenant_id)),
        )
        .await?;
    let row = numbers::ActiveModel {
        number: Set(number.as_str().to_owned()),
        tenant_id: Set(tenant_id),
        agent_id: Set(agent_id),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match numbers::Entity::insert(row).exec_with_returning(txn).await {
        Ok(row) => Ok(Attempt::Done(Registered::Created(row))),
        Err(e) if is_unique_violation(&e) => Ok(Attempt::LostRace),
        Err(e) => Err(agent_vanished(e)),
    }
}

async fn set_agent(
    txn: &DatabaseTransaction,
    row: numbers::Model,
    agent_id: Uuid,
    now: DateTime<Utc>,
) -> Result<numbers::Model, NumberError> {
    let mut change: numbers::ActiveModel = row.into();
    change.agent_id = Set(Some(agent_id));
    change.updated_at = Set(now);
    numbers::Entity::update(change)
        .exec(txn)
        .await
        .map_err(agent_vanished)
}

/// One of the tenant's numbers; another tenant's is `404` like an unregistered one.
async fn find_own(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    number: &E164Number,
) -> Result<numbers::Model, NumberError> {
    numbers::Entity::find_by_id(number.as_str())
        .filter(numbers::Column::TenantId.eq(tenant_id))
        .one(txn)
        .await?
        .ok_or(NumberError::NoSuchNumber)
}

/// Points the tenant's `number` at its agent `agent_id`.
pub async fn attach(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    number: &E164Number,
    agent_id: Uuid,
    now: DateTime<Utc>,
) -> Result<numbers::Model, NumberError> {
    let txn = begin_write(db).await?;
    let row = find_own(&txn, tenant_id, number).await?;
    agents::find(&txn, tenant_id, agent_id).await?;
    let row = if row.agent_id == Some(agent_id) {
        row
    } else {
        set_agent(&txn, row, agent_id, now).await?
    };
    txn.commit().await.map_err(agent_vanished)?;
    Ok(row)
}

/// The tenant's numbers, newest first, and how many there are.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    page: Page,
) -> Result<(Vec<numbers::Model>, u64), NumberError> {
    let query = numbers::Entity::find().filter(numbers::Column::TenantId.eq(tenant_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(numbers::Column::CreatedAt)
        .order_by_asc(numbers::Column::Number)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Removes the tenant's registration of `number` (nothing happens at the carrier).
pub async fn remove(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    number: &E164Number,
) -> Result<(), NumberError> {
    let deleted = numbers::Entity::delete_many()
        .filter(numbers::Column::Number.eq(number.as_str()))
        .filter(numbers::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(NumberError::NoSuchNumber);
    }
    Ok(())
}
