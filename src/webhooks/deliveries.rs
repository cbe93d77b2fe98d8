//! Deliveries of events to an endpoint: the tenant's list, and putting one back in the queue
//! for another attempt (a manual retry, from the tenant or from `/admin/queues`).
use chrono::{DateTime, Utc};
use entities::values::DeliveryStatus;
use entities::webhook_deliveries as deliveries;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;
use workers::jobs::{Job, WebhookJob};

use crate::db::begin_write;
use crate::pagination::Page;

/// The endpoint's deliveries, newest first, and how many there are.
pub async fn list(
    db: &DatabaseConnection,
    endpoint_id: Uuid,
    page: Page,
) -> Result<(Vec<deliveries::Model>, u64), DbErr> {
    let query = deliveries::Entity::find().filter(deliveries::Column::EndpointId.eq(endpoint_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(deliveries::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// One delivery of the endpoint.
pub async fn find(
    db: &DatabaseConnection,
    endpoint_id: Uuid,
    id: Uuid,
) -> Result<Option<deliveries::Model>, DbErr> {
    deliveries::Entity::find_by_id(id)
        .filter(deliveries::Column::EndpointId.eq(endpoint_id))
        .one(db)
        .await
}

/// Puts a delivery back to `pending` and queues one more attempt now, in one transaction;
/// `None` when the delivery is gone (nothing is queued then). Wake the relay after it.
pub async fn requeue(
    db: &DatabaseConnection,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<deliveries::Model>, DbErr> {
    let txn = begin_write(db).await?;
    reset(&txn, delivery_id, now).await?;
    workers::outbox::enqueue(&txn, Job::Webhook(WebhookJob { delivery_id }), now, now).await?;
    let Some(delivery) = deliveries::Entity::find_by_id(delivery_id)
        .one(&txn)
        .await?
    else {
        return Ok(None);
    };
    txn.commit().await?;
    Ok(Some(delivery))
}

/// Puts a delivery that is not yet delivered back to `pending`, due now; returns whether
/// there was one.
pub async fn reset<C: ConnectionTrait>(
    conn: &C,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let reset = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::Status,
            Expr::value(DeliveryStatus::Pending),
        )
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(now))
        .filter(deliveries::Column::Id.eq(delivery_id))
        .filter(deliveries::Column::Status.ne(DeliveryStatus::Delivered))
        .exec(conn)
        .await?;
    Ok(reset.rows_affected == 1)
}
