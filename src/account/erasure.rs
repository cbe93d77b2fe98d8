//! Erasure requests: asking for one queues the privacy job (`workers/src/privacy.rs`) in the
//! same transaction; asking again while one is pending or running changes nothing.
use chrono::{DateTime, Utc};
use entities::erasure_requests as requests;
use entities::values::ErasureStatus;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait};
use uuid::Uuid;
use workers::jobs::{Job, PrivacyJob};

use crate::db::begin_write;

/// The tenant's latest erasure request, if it ever asked.
pub async fn latest(
    db: &DatabaseConnection,
    tenant_id: Uuid,
) -> Result<Option<requests::Model>, DbErr> {
    requests::Entity::find_by_id(tenant_id).one(db).await
}

/// What [`request`] did: `queued` is true when it queued a new privacy job.
pub struct Requested {
    pub request: Option<requests::Model>,
    pub queued: bool,
}

/// Asks for the tenant's personal data to be erased, unless a request is already under way.
pub async fn request(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Requested, DbErr> {
    let txn = begin_write(db).await?;
    let existing = requests::Entity::find_by_id(tenant_id).one(&txn).await?;
    if existing
        .as_ref()
        .is_some_and(|r| r.status != ErasureStatus::Done)
    {
        txn.rollback().await?;
        return Ok(Requested {
            request: existing,
            queued: false,
        });
    }
    requests::Entity::insert(requests::ActiveModel {
        tenant_id: Set(tenant_id),
        status: Set(ErasureStatus::Pending),
        requested_at: Set(now),
        completed_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(requests::Column::TenantId)
            .update_columns([
                requests::Column::Status,
                requests::Column::RequestedAt,
                requests::Column::CompletedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    workers::outbox::enqueue(&txn, Job::Privacy(PrivacyJob { tenant_id }), now, now).await?;
    let saved = requests::Entity::find_by_id(tenant_id).one(&txn).await?;
    txn.commit().await?;
    Ok(Requested {
        request: saved,
        queued: true,
    })
}
