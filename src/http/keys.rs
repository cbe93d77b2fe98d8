//! `/v1/auth/*` and `/v1/keys/publishable`: who am I, key rotation, publishable keys.
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use entities::{api_keys, tenants};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::auth::SecretKey;
use crate::auth::keys::KeyKind;
use crate::domain::ids::PublishableKeyId;
use crate::domain::validate::Name;
use crate::error::{ApiError, ApiResult};
use crate::http::json::JsonBody;
use crate::http::query::QueryMap;
use crate::tenants::{TenantOut, provision};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/me").route(web::get().to(me)))
        .service(web::resource("/auth/regenerate-key").route(web::post().to(regenerate_key)))
        .service(
            web::resource("/keys/publishable")
                .route(web::get().to(list_publishable_keys))
                .route(web::post().to(create_publishable_key)),
        )
        .service(
            web::resource("/keys/publishable/{id}").route(web::delete().to(delete_publishable_key)),
        );
}

async fn me(state: web::Data<AppState>, SecretKey(key): SecretKey) -> ApiResult<HttpResponse> {
    let tenant = tenants::Entity::find_by_id(key.tenant_id)
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let tenant = TenantOut::from(tenant);
    Ok(HttpResponse::Ok().json(json!({
        "tenant_id": tenant.id,
        "name": tenant.name,
        "email": tenant.email,
        "plan": tenant.plan,
        "limits": tenant.limits,
        "balance_cents": tenant.balance_cents,
        "currency": tenant.currency,
        "key": {"type": key.kind, "prefix": key.prefix},
    })))
}

/// Revokes the calling key and returns a new secret key, shown once.
async fn regenerate_key(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let txn = crate::db::begin_write(&state.db).await?;
    let revoked = api_keys::Entity::update_many()
        .col_expr(
            api_keys::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(api_keys::Column::Id.eq(key.key_id))
        .filter(api_keys::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if revoked.rows_affected != 1 {
        return Err(ApiError::unauthorized("Invalid or revoked API key"));
    }
    let minted = provision::insert_key(&txn, key.tenant_id, KeyKind::Secret, None).await?;
    txn.commit().await?;
    state.auth.forget(&key.key_hash);
    Ok(HttpResponse::Ok().json(json!({
        "object": "secret_key",
        "secret_key": minted.token,
        "prefix": minted.prefix,
    })))
}

#[derive(Serialize)]
struct PublishableKeyOut {
    id: String,
    object: &'static str,
    label: Option<String>,
    prefix: String,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl From<api_keys::Model> for PublishableKeyOut {
    fn from(k: api_keys::Model) -> Self {
        Self {
            id: PublishableKeyId::from_uuid(k.id).to_string(),
            object: "publishable_key",
            label: k.label,
            prefix: k.prefix,
            created_at: k.created_at,
            key: None,
        }
    }
}

fn live_publishable(tenant_id: uuid::Uuid) -> sea_orm::Select<api_keys::Entity> {
    api_keys::Entity::find()
        .filter(api_keys::Column::TenantId.eq(tenant_id))
        .filter(api_keys::Column::Kind.eq(KeyKind::Publishable.as_str()))
        .filter(api_keys::Column::RevokedAt.is_null())
}

async fn list_publishable_keys(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let query = live_publishable(key.tenant_id);
    let total = query.clone().count(&state.db).await?;
    let keys = query
        .order_by_desc(api_keys::Column::CreatedAt)
        .order_by_desc(api_keys::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(&state.db)
        .await?;
    let data: Vec<PublishableKeyOut> = keys.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": data, "total": total, "limit": page.limit, "offset": page.offset,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishableKeyIn {
    label: Option<String>,
}

async fn create_publishable_key(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    JsonBody(body): JsonBody<PublishableKeyIn>,
) -> ApiResult<HttpResponse> {
    let label = body
        .label
        .map(|l| Name::parse(&l, "label"))
        .transpose()?
        .map(Name::into_inner);
    let minted =
        provision::insert_key(&state.db, key.tenant_id, KeyKind::Publishable, label).await?;
    let stored = api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(&minted.hash))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::internal("publishable key vanished after insert"))?;
    let mut out = PublishableKeyOut::from(stored);
    out.key = Some(minted.token);
    Ok(HttpResponse::Created().json(out))
}

async fn delete_publishable_key(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id: PublishableKeyId = path.parse().map_err(|_| ApiError::not_found())?;
    let target = live_publishable(key.tenant_id)
        .filter(api_keys::Column::Id.eq(id.uuid()))
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let hash = target.key_hash.clone();
    let mut revoke: api_keys::ActiveModel = target.into();
    revoke.revoked_at = Set(Some(Utc::now()));
    api_keys::Entity::update(revoke).exec(&state.db).await?;
    state.auth.forget(&hash);
    Ok(HttpResponse::Ok()
        .json(json!({"id": id.to_string(), "object": "publishable_key", "deleted": true})))
}
