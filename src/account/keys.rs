//! The tenant's own keys: replacing the secret key, and its publishable keys.
use chrono::{DateTime, Utc};
use entities::api_keys;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::auth::KeyKind;
use crate::auth::keys::MintedToken;
use crate::caps;
use crate::db::begin_write;
use crate::domain::web::AllowedOrigins;
use crate::pagination::Page;
use crate::tenants::provision;

fn live_publishable(tenant_id: Uuid) -> Select<api_keys::Entity> {
    api_keys::Entity::find()
        .filter(api_keys::Column::TenantId.eq(tenant_id))
        .filter(api_keys::Column::Kind.eq(KeyKind::Publishable))
        .filter(api_keys::Column::RevokedAt.is_null())
}

/// Revokes the calling secret key and mints its successor in one transaction; `None` when
/// the calling key was revoked meanwhile (then nothing changes).
pub async fn regenerate_secret(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    calling_key: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<MintedToken>, DbErr> {
    let txn = begin_write(db).await?;
    let revoked = api_keys::Entity::update_many()
        .col_expr(api_keys::Column::RevokedAt, Expr::value(now))
        .filter(api_keys::Column::Id.eq(calling_key))
        .filter(api_keys::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if revoked.rows_affected != 1 {
        return Ok(None);
    }
    let minted = provision::insert_key(&txn, tenant_id, KeyKind::Secret, None).await?;
    txn.commit().await?;
    Ok(Some(minted))
}

/// Live publishable keys, newest first, and how many there are.
pub async fn list_publishable(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    page: Page,
) -> Result<(Vec<api_keys::Model>, u64), DbErr> {
    let query = live_publishable(tenant_id);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(api_keys::Column::CreatedAt)
        .order_by_desc(api_keys::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Mints a publishable key; returns the stored row and the full key (shown once). At most
/// [`caps::PUBLISHABLE_KEYS`] live ones per tenant.
pub async fn create_publishable(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    label: Option<String>,
    allowed_origins: Option<&AllowedOrigins>,
) -> Result<(api_keys::Model, MintedToken), caps::Error> {
    caps::PUBLISHABLE_KEYS
        .ensure_room(db, live_publishable(tenant_id))
        .await?;
    let minted = provision::insert_key_for_origins(
        db,
        tenant_id,
        KeyKind::Publishable,
        label,
        allowed_origins,
    )
    .await?;
    let stored = api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(&minted.hash))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::Custom("publishable key vanished after insert".into()))?;
    Ok((stored, minted))
}

/// Revokes one of the tenant's live publishable keys; returns its hash (to drop it from the
/// key cache), or `None` when there is no such live key.
pub async fn revoke_publishable(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbErr> {
    let Some(target) = live_publishable(tenant_id)
        .filter(api_keys::Column::Id.eq(id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let hash = target.key_hash.clone();
    let mut revoke: api_keys::ActiveModel = target.into();
    revoke.revoked_at = Set(Some(now));
    api_keys::Entity::update(revoke).exec(db).await?;
    Ok(Some(hash))
}

/// Every origin any of the tenant's live publishable keys is restricted to (the pages that
/// may frame its Support tab). Keys without a list add nothing: "any origin" is for calling
/// the API, not for framing.
pub async fn publishable_origins(
    db: &DatabaseConnection,
    tenant_id: Uuid,
) -> Result<Vec<String>, DbErr> {
    let stored: Vec<Option<String>> = live_publishable(tenant_id)
        .select_only()
        .column(api_keys::Column::AllowedOrigins)
        .into_tuple()
        .all(db)
        .await?;
    let mut origins: Vec<String> = stored
        .iter()
        .flatten()
        .flat_map(|s| {
            AllowedOrigins::from_stored(s)
                .iter()
                .map(|o| o.as_str().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    origins.sort();
    origins.dedup();
    Ok(origins)
}
