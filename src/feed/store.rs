//! Reading and trimming the feed table.
use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::{feed_events, feed_state};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{FeedError, FeedEventOut, FeedPage};

/// Which events a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// One tenant's events, or every tenant's.
    pub tenant_id: Option<Uuid>,
    /// Whether operator-only events are included.
    pub internal: bool,
}

impl Scope {
    /// A tenant: its own public events.
    pub fn tenant(tenant_id: Uuid) -> Self {
        Self {
            tenant_id: Some(tenant_id),
            internal: false,
        }
    }

    /// An operator: every event, of one tenant or of all.
    pub fn operator(tenant_id: Option<Uuid>) -> Self {
        Self {
            tenant_id,
            internal: true,
        }
    }

    pub fn sees(&self, tenant_id: Uuid, internal: bool) -> bool {
        (self.internal || !internal) && self.tenant_id.is_none_or(|t| t == tenant_id)
    }
}

/// Up to `limit` events after `after` (and up to `upto`, when given), oldest first.
pub async fn rows_after<C: ConnectionTrait>(
    conn: &C,
    scope: Scope,
    after: i64,
    upto: Option<i64>,
    limit: u64,
) -> Result<Vec<feed_events::Model>, DbErr> {
    let mut query = feed_events::Entity::find().filter(feed_events::Column::Seq.gt(after));
    if let Some(upto) = upto {
        query = query.filter(feed_events::Column::Seq.lte(upto));
    }
    if let Some(tenant_id) = scope.tenant_id {
        query = query.filter(feed_events::Column::TenantId.eq(tenant_id));
    }
    if !scope.internal {
        query = query.filter(feed_events::Column::Internal.eq(false));
    }
    query
        .order_by_asc(feed_events::Column::Seq)
        .limit(limit)
        .all(conn)
        .await
}

/// Every position up to this one was trimmed (0: nothing was).
pub async fn trimmed_through<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    Ok(feed_state::Entity::find_by_id(1)
        .one(conn)
        .await?
        .map_or(0, |s| s.trimmed_through))
}

/// Where the feed ends, and where what is kept begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedEnd {
    /// The newest position written so far (0 for an empty feed).
    pub last: i64,
    /// Every position up to here was trimmed (0: nothing was).
    pub trimmed_through: i64,
}

/// The feed's end as committed when the read starts.
pub async fn end<C: ConnectionTrait>(conn: &C) -> Result<FeedEnd, DbErr> {
    let last: Option<Option<i64>> = feed_events::Entity::find()
        .select_only()
        .column_as(feed_events::Column::Seq.max(), "last")
        .into_tuple()
        .one(conn)
        .await?;
    let trimmed_through = trimmed_through(conn).await?;
    // An empty (fully trimmed) table still remembers how far it went.
    let last = last.flatten().unwrap_or(0).max(trimmed_through);
    Ok(FeedEnd {
        last,
        trimmed_through,
    })
}

/// The newest position written so far (0 for an empty feed).
pub async fn last_seq<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    Ok(end(conn).await?.last)
}

/// A JSON page: events after `after` (from the oldest kept when `None`).
pub async fn page(
    db: &impl ConnectionTrait,
    scope: Scope,
    after: Option<i64>,
    limit: u64,
) -> Result<FeedPage, FeedError> {
    if let Some(after) = after
        && after < trimmed_through(db).await?
    {
        return Err(FeedError::PositionExpired);
    }
    let rows = rows_after(db, scope, after.unwrap_or(0), None, limit).await?;
    let full = limit > 0 && rows.len() as u64 == limit;
    let data = rows
        .into_iter()
        .map(FeedEventOut::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next_after = if full {
        data.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(FeedPage { data, next_after })
}

/// Deletes events older than `retention` and remembers how far the feed was trimmed, so a
/// client resuming from before that point is told to start over. Returns the rows deleted.
pub async fn trim(
    db: &DatabaseConnection,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let cutoff = now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let txn = crate::db::begin_write(db).await?;
    let through: Option<Option<i64>> = feed_events::Entity::find()
        .select_only()
        .column_as(feed_events::Column::Seq.max(), "through")
        .filter(feed_events::Column::CreatedAt.lt(cutoff))
        .into_tuple()
        .one(&txn)
        .await?;
    let Some(through) = through.flatten() else {
        return Ok(0);
    };
    // Positions are in commit order, so everything up to `through` goes, even a row a few
    // milliseconds younger than the cutoff: "trimmed through" then means exactly that.
    let deleted = feed_events::Entity::delete_many()
        .filter(feed_events::Column::Seq.lte(through))
        .exec(&txn)
        .await?
        .rows_affected;
    feed_state::Entity::insert(feed_state::ActiveModel {
        id: Set(1),
        trimmed_through: Set(through),
    })
    .on_conflict(
        OnConflict::column(feed_state::Column::Id)
            .update_column(feed_state::Column::TrimmedThrough)
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(deleted)
}
