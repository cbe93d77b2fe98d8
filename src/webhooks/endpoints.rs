//! A tenant's webhook endpoints: create (with a fresh signing secret), list, find, change,
//! rotate the secret, delete. Inputs arrive checked by `super::input`
//! (URL, event types, description).
use chrono::{DateTime, Utc};
use entities::webhook_endpoints as endpoints;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;
use workers::signing;

use super::WebhookError;
use crate::caps;
use crate::domain::ids::WebhookId;
use crate::pagination::Page;

pub struct NewEndpoint {
    pub url: String,
    /// The subscribed event types, a JSON array.
    pub events: Value,
    pub description: Option<String>,
    pub enabled: bool,
}

/// What a `PATCH` changes; `None` leaves a field as it is.
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<Value>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// Stores a new endpoint; returns it and its signing secret (shown once). At most
/// [`caps::WEBHOOK_ENDPOINTS`] per tenant.
pub async fn create(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    new: NewEndpoint,
    now: DateTime<Utc>,
) -> Result<(endpoints::Model, String), caps::Error> {
    caps::WEBHOOK_ENDPOINTS
        .ensure_room(
            db,
            endpoints::Entity::find().filter(endpoints::Column::TenantId.eq(tenant_id)),
        )
        .await?;
    let secret = signing::new_secret();
    let created = endpoints::Entity::insert(endpoints::ActiveModel {
        id: Set(WebhookId::new().uuid()),
        tenant_id: Set(tenant_id),
        url: Set(new.url),
        events: Set(new.events),
        description: Set(new.description),
        secret: Set(secret.clone()),
        enabled: Set(new.enabled),
        disabled_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_with_returning(db)
    .await?;
    Ok((created, secret))
}

/// One of the tenant's endpoints; another tenant's is `None` like an unknown one.
pub async fn find(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<endpoints::Model>, DbErr> {
    endpoints::Entity::find_by_id(id)
        .filter(endpoints::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// The tenant's endpoint `id`, or [`WebhookError::NotFound`].
pub async fn get(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<endpoints::Model, WebhookError> {
    find(db, tenant_id, id).await?.ok_or(WebhookError::NotFound)
}

/// The tenant's endpoints, newest first, and how many there are.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    page: Page,
) -> Result<(Vec<endpoints::Model>, u64), DbErr> {
    let query = endpoints::Entity::find().filter(endpoints::Column::TenantId.eq(tenant_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(endpoints::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Applies `change`; enabling an endpoint clears why it was disabled.
pub async fn update(
    db: &DatabaseConnection,
    endpoint: endpoints::Model,
    change: EndpointChange,
    now: DateTime<Utc>,
) -> Result<endpoints::Model, DbErr> {
    let mut active: endpoints::ActiveModel = endpoint.into();
    if let Some(url) = change.url {
        active.url = Set(url);
    }
    if let Some(events) = change.events {
        active.events = Set(events);
    }
    if let Some(description) = change.description {
        active.description = Set(description);
    }
    if let Some(enabled) = change.enabled {
        active.enabled = Set(enabled);
        if enabled {
            active.disabled_reason = Set(None);
        }
    }
    active.updated_at = Set(now);
    active.update(db).await
}

/// A new signing secret; the old one stops signing at once. Returns the endpoint and the
/// secret (shown once).
pub async fn rotate_secret(
    db: &DatabaseConnection,
    endpoint: endpoints::Model,
    now: DateTime<Utc>,
) -> Result<(endpoints::Model, String), DbErr> {
    let secret = signing::new_secret();
    let mut active: endpoints::ActiveModel = endpoint.into();
    active.secret = Set(secret.clone());
    active.updated_at = Set(now);
    Ok((active.update(db).await?, secret))
}

pub async fn delete(db: &DatabaseConnection, id: Uuid) -> Result<(), DbErr> {
    endpoints::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}
