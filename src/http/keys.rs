//! `/v1/auth/*` and `/v1/keys/publishable`: who am I, key rotation, publishable keys.
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use entities::api_keys;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::account::keys as account_keys;
use crate::app::AppState;
use crate::auth::keys::KeyKind;
use crate::domain::ids::PublishableKeyId;
use crate::domain::validate::Name;
use crate::domain::web::AllowedOrigins;
use crate::http::auth::SecretKey;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::path::path_id;
use crate::http::query::{PageParams, QueryMap};
use crate::pagination::PageOut;
use crate::tenants::{self, RateLimits, TenantOut};

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

/// The calling key.
#[derive(Serialize, ToSchema)]
struct CallingKey {
    #[serde(rename = "type")]
    kind: KeyKind,
    #[schema(example = "hl_sk_AbCd1234")]
    prefix: String,
}

/// Who the caller is.
#[derive(Serialize, ToSchema)]
struct Me {
    tenant_id: uuid::Uuid,
    name: String,
    email: String,
    #[schema(value_type = crate::domain::plan::Plan)]
    plan: String,
    #[schema(value_type = RateLimits)]
    limits: serde_json::Value,
    balance_cents: i64,
    #[schema(example = "usd")]
    currency: &'static str,
    key: CallingKey,
}

/// Who am I
///
/// The tenant behind the key: name, email, plan, limits, balance, and the calling key's type
/// and visible prefix.
#[utoipa::path(
    get,
    path = "/v1/auth/me",
    tag = "keys",
    responses(
        (status = 200, description = "The calling tenant and key", body = Me),
        (status = 404, description = "`not_found`: the tenant no longer exists", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn me(state: web::Data<AppState>, SecretKey(key): SecretKey) -> ApiResult<HttpResponse> {
    let tenant = tenants::find(&state.db, key.tenant_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let tenant = TenantOut::from(tenant);
    Ok(HttpResponse::Ok().json(Me {
        tenant_id: tenant.id,
        name: tenant.name,
        email: tenant.email,
        plan: tenant.plan,
        limits: tenant.limits,
        balance_cents: tenant.balance_cents,
        currency: tenant.currency,
        key: CallingKey {
            kind: key.kind,
            prefix: key.prefix,
        },
    }))
}

/// A new secret key, shown once.
#[derive(Serialize, ToSchema)]
struct NewSecretKey {
    #[schema(example = "secret_key")]
    object: &'static str,
    #[schema(example = "hl_sk_AbCd1234EfGh5678IjKl9012MnOp3456QrSt7890")]
    secret_key: String,
    #[schema(example = "hl_sk_AbCd1234")]
    prefix: String,
}

/// Regenerate the secret key
///
/// Revokes the calling key at once and returns a new secret key, shown once.
#[utoipa::path(
    post,
    path = "/v1/auth/regenerate-key",
    tag = "keys",
    responses((status = 200, description = "The new secret key (the calling key no longer works)", body = NewSecretKey)),
    security(("secret_key" = [])),
)]
async fn regenerate_key(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let minted = account_keys::regenerate_secret(&state.db, key.tenant_id, key.key_id, Utc::now())
        .await?
        .ok_or_else(|| ApiError::unauthorized("Invalid or revoked API key"))?;
    state.auth.forget(&key.key_hash);
    Ok(HttpResponse::Ok().json(NewSecretKey {
        object: "secret_key",
        secret_key: minted.token,
        prefix: minted.prefix,
    }))
}

/// A publishable key: may only open tickets and read the status banner.
#[derive(Serialize, ToSchema)]
struct PublishableKeyOut {
    #[schema(example = "pk_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    id: String,
    #[schema(example = "publishable_key")]
    object: &'static str,
    label: Option<String>,
    #[schema(example = "hl_pk_AbCd1234")]
    prefix: String,
    /// The web origins browsers may use the key from (`403 origin_not_allowed` for any other);
    /// `null`: any origin.
    #[schema(example = json!(["https://acme.example"]))]
    allowed_origins: Option<Vec<String>>,
    created_at: DateTime<Utc>,
    /// The full key: only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    key: Option<String>,
}

impl From<api_keys::Model> for PublishableKeyOut {
    fn from(k: api_keys::Model) -> Self {
        Self {
            id: PublishableKeyId::from_uuid(k.id).to_string(),
            object: "publishable_key",
            label: k.label,
            prefix: k.prefix,
            allowed_origins: k.allowed_origins.as_deref().map(|stored| {
                AllowedOrigins::from_stored(stored)
                    .iter()
                    .map(|o| o.as_str().to_string())
                    .collect()
            }),
            created_at: k.created_at,
            key: None,
        }
    }
}

/// List publishable keys
///
/// The tenant's live publishable keys, with their visible prefix and label; the full key is shown only when created.
#[utoipa::path(
    get,
    path = "/v1/keys/publishable",
    tag = "keys",
    params(PageParams),
    responses(
        (status = 200, description = "Live publishable keys, newest first", body = PageOut<PublishableKeyOut>),
        (status = 400, description = "`validation_failed`: `limit` or `offset` is invalid", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_publishable_keys(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let (keys, total) = account_keys::list_publishable(&state.db, key.tenant_id, page).await?;
    let data: Vec<PublishableKeyOut> = keys.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(PageOut::new(data, total, page)))
}

/// A new publishable key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"label": "Help-center widget", "allowed_origins": ["https://acme.example"]}))]
struct PublishableKeyIn {
    /// 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    label: Option<String>,
    /// 1–20 web origins (`scheme://host[:port]`: `http` or `https`, no path) browsers may use
    /// the key from; a browser request from any other origin answers `403 origin_not_allowed`.
    /// Left out or `null`: any origin.
    #[schema(min_items = 1, max_items = 20, example = json!(["https://acme.example"]))]
    allowed_origins: Option<Vec<String>>,
}

/// Create a publishable key
///
/// A frontend-safe key that may only open tickets and read the status banner, from a
/// browser too (those two operations answer CORS preflights). `allowed_origins` restricts
/// the websites that may use it: a browser request whose `Origin` is not listed answers
/// `403 origin_not_allowed`; requests without `Origin` (servers) are not restricted. The
/// full key is shown once, here.
#[utoipa::path(
    post,
    path = "/v1/keys/publishable",
    tag = "keys",
    request_body = PublishableKeyIn,
    responses(
        (status = 201, description = "The new key, with `key` shown once", body = PublishableKeyOut),
        (status = 400, description = "`validation_failed` (detail `label` or `allowed_origins`): e.g. an origin with a path, a wildcard, or more than 20 origins", body = ErrorBody),
        (status = 409, description = "`limit_reached` (detail `publishable_keys`): the account has 20 live publishable keys", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]

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
    let allowed_origins = body
        .allowed_origins
        .map(|list| AllowedOrigins::parse(&list, "allowed_origins"))
        .transpose()?;
    let (stored, minted) =
        account_keys::create_publishable(&state.db, key.tenant_id, label, allowed_origins.as_ref())
            .await?;
    let mut out = PublishableKeyOut::from(stored);
    out.key = Some(minted.token);
    Ok(HttpResponse::Created().json(out))
}

/// The answer to a deletion.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    /// The kind of object deleted.
    pub object: &'static str,
    #[schema(example = true)]
    pub deleted: bool,
}

/// Revoke a publishable key
///
/// The key stops working at once on this node and within 5 seconds everywhere.
#[utoipa::path(
    delete,
    path = "/v1/keys/publishable/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "Publishable key id")),
    responses(
        (status = 200, description = "The key no longer works", body = Deleted),
        (status = 404, description = "`not_found`: no such live key of this tenant", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn delete_publishable_key(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id: PublishableKeyId = path_id(&path)?;
    let hash = account_keys::revoke_publishable(&state.db, key.tenant_id, id.uuid(), Utc::now())
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.auth.forget(&hash);
    Ok(HttpResponse::Ok().json(Deleted {
        id: id.to_string(),
        object: "publishable_key",
        deleted: true,
    }))
}
