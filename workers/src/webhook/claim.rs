//! Claiming deliveries for an attempt: one conditional `UPDATE … RETURNING` claims the
//! deliveries of every handler asking at the same time, then one query each loads their
//! events and endpoints. A delivery is claimed only while `pending` and not held by another
//! worker, so a job queued twice makes one attempt.
use std::collections::HashMap;

use chrono::Utc;
use entities::{
    webhook_deliveries as deliveries, webhook_endpoints as endpoints, webhook_events as events,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use entities::values::DeliveryStatus;

/// A delivery this worker now holds, with what it needs for its attempt (`None`: deleted).
#[derive(Debug)]
pub struct Claimed {
    pub delivery: deliveries::Model,
    pub endpoint: Option<endpoints::Model>,
    pub event: Option<events::Model>,
}

/// Claims the deliveries `ids`; answers per id, in order (`None`: not claimable now). An id
/// asked twice is claimed for the first asker only.
pub async fn claim(db: DatabaseConnection, ids: Vec<Uuid>) -> Result<Vec<Option<Claimed>>, DbErr> {
    let now = Utc::now();
    let claimed = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::InFlightUntil,
            Expr::value(now + crate::lease::LEASE_FOR),
        )
        .col_expr(
            deliveries::Column::LeaseOwner,
            Expr::value(crate::lease::owner()),
        )
        .filter(deliveries::Column::Id.is_in(ids.iter().copied()))
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending))
        .filter(
            Condition::any()
                .add(deliveries::Column::InFlightUntil.is_null())
                .add(deliveries::Column::InFlightUntil.lt(now)),
        )
        .exec_with_returning(&db)
        .await?;
    if claimed.is_empty() {
        return Ok(ids.iter().map(|_| None).collect());
    }
    let events: HashMap<Uuid, events::Model> = events::Entity::find()
        .filter(events::Column::Id.is_in(claimed.iter().map(|d| d.event_id)))
        .all(&db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let endpoint_ids: Vec<Uuid> = claimed.iter().filter_map(|d| d.endpoint_id).collect();
    let endpoints: HashMap<Uuid, endpoints::Model> = if endpoint_ids.is_empty() {
        HashMap::new()
    } else {
        endpoints::Entity::find()
            .filter(endpoints::Column::Id.is_in(endpoint_ids))
            .all(&db)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect()
    };
    let mut claimed: HashMap<Uuid, deliveries::Model> =
        claimed.into_iter().map(|d| (d.id, d)).collect();
    Ok(ids
        .iter()
        .map(|id| {
            let delivery = claimed.remove(id)?;
            Some(Claimed {
                endpoint: delivery
                    .endpoint_id
                    .and_then(|id| endpoints.get(&id).cloned()),
                event: events.get(&delivery.event_id).cloned(),
                delivery,
            })
        })
        .collect())
}
