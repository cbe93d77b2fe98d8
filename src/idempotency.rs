//! Stored outcomes of `POST` requests sent with an `Idempotency-Key` (docs/API.md §2): scoped to
//! the tenant, kept 24 h. A row is claimed (`in_progress`) before the request runs and
//! completed with its response afterwards. The claim records the process that holds it
//! (`workers::lease`): when that process dies, its claims are forgotten as soon as it is known
//! dead, so the client's retry runs.
use chrono::{DateTime, Duration, Utc};
use entities::idempotency_keys as keys;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

/// How long a key is remembered.
pub const RETENTION: Duration = Duration::hours(24);
/// A claim with no recorded owner older than this was abandoned and may be taken over.
pub const ABANDONED_AFTER: Duration = Duration::seconds(60);

const IN_PROGRESS: &str = workers::lease::IN_PROGRESS;
const DONE: &str = "done";

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First use: run the request, then `complete` or `release`.
    Fresh,
    /// Same key, same request, already answered.
    Replay { status: u16, body: String },
    /// Same key, different request.
    Mismatch,
    /// Same key while the first request still runs.
    InProgress,
}

pub async fn claim(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Claim, DbErr> {
    for _ in 0..3 {
        let inserted = keys::Entity::insert(keys::ActiveModel {
            tenant_id: Set(tenant_id),
            key: Set(key.to_string()),
            request_hash: Set(request_hash.to_string()),
            state: Set(IN_PROGRESS.to_string()),
            response_status: Set(None),
            response_body: Set(None),
            created_at: Set(now),
            lease_owner: Set(workers::lease::owner()),
        })
        .on_conflict(
            OnConflict::columns([keys::Column::TenantId, keys::Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        if inserted == 1 {
            return Ok(Claim::Fresh);
        }
        let Some(existing) = keys::Entity::find_by_id((tenant_id, key.to_string()))
            .one(db)
            .await?
        else {
            continue;
        };
        let expired = existing.created_at < now - RETENTION
            || (existing.state == IN_PROGRESS
                && existing.lease_owner.is_none()
                && existing.created_at < now - ABANDONED_AFTER);
        if expired {
            keys::Entity::delete_many()
                .filter(keys::Column::TenantId.eq(tenant_id))
                .filter(keys::Column::Key.eq(key))
                .filter(keys::Column::CreatedAt.eq(existing.created_at))
                .exec(db)
                .await?;
            continue;
        }
        if existing.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        return Ok(
            match (
                existing.state.as_str(),
                existing.response_status,
                existing.response_body,
            ) {
                (DONE, Some(status), Some(body)) => Claim::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    body,
                },
                _ => Claim::InProgress,
            },
        );
    }
    Ok(Claim::InProgress)
}

pub async fn complete(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    key: &str,
    status: u16,
    body: String,
) -> Result<(), DbErr> {
    keys::Entity::update_many()
        .col_expr(keys::Column::State, sea_orm::sea_query::Expr::value(DONE))
        .col_expr(
            keys::Column::ResponseStatus,
            sea_orm::sea_query::Expr::value(i32::from(status)),
        )
        .col_expr(
            keys::Column::ResponseBody,
            sea_orm::sea_query::Expr::value(body),
        )
        .filter(keys::Column::TenantId.eq(tenant_id))
        .filter(keys::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets a claim whose request failed on our side, so the client may retry it.
pub async fn release(db: &DatabaseConnection, tenant_id: Uuid, key: &str) -> Result<(), DbErr> {
    keys::Entity::delete_many()
        .filter(keys::Column::TenantId.eq(tenant_id))
        .filter(keys::Column::Key.eq(key))
        .filter(keys::Column::State.eq(IN_PROGRESS))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes keys past retention.
pub async fn purge_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(keys::Entity::delete_many()
        .filter(keys::Column::CreatedAt.lt(now - RETENTION))
        .exec(db)
        .await?
        .rows_affected)
}
