//! `/admin/tenants`: create (secret key shown once), list, get, update plan and limits,
//! and credit a balance.
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::billing::ledger::LedgerEntryOut;
use crate::domain::plan::Plan;
use crate::domain::validate::{Email, Name};
use crate::http::auth::Staff;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::json::JsonBody;
use crate::http::path::path_id;
use crate::http::query::{PageParams, QueryMap};
use crate::pagination::PageOut;
use crate::tenants::manage;
use crate::tenants::provision::{self, NewTenant};
use crate::tenants::{self, LimitsChange, RateLimits, TenantChange, TenantOut};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tenants")
            .route(web::get().to(list_tenants))
            .route(web::post().to(create_tenant)),
    )
    .service(
        web::resource("/tenants/{id}")
            .route(web::get().to(get_tenant))
            .route(web::patch().to(update_tenant)),
    )
    .service(web::resource("/tenants/{id}/credits").route(web::post().to(credit_tenant)));
}

/// A new tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme", "email": "dev@acme.com", "plan": "enterprise", "balance_cents": 10000}))]
struct TenantIn {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// Default `free`.
    #[schema(value_type = Option<Plan>)]
    plan: Option<String>,
    /// Opening balance; default `HELPLINE_START_BALANCE_CENTS`.
    #[schema(minimum = 0, maximum = 100_000_000)]
    balance_cents: Option<i64>,
}

/// A new tenant and its secret key.
#[derive(Serialize, ToSchema)]
struct TenantCreated {
    tenant: TenantOut,
    /// Shown once.
    #[schema(example = "hl_sk_AbCd1234EfGh5678IjKl9012MnOp3456QrSt7890")]
    secret_key: String,
}

/// Create a tenant
///
/// The tenant's secret key is shown once, here.
#[utoipa::path(
    post,
    path = "/admin/tenants",
    tag = "admin",
    request_body = TenantIn,
    responses((status = 201, description = "The tenant and its secret key", body = TenantCreated)),
    security(("staff_token" = [])),
)]
async fn create_tenant(
    state: web::Data<AppState>,
    _: Staff,
    JsonBody(body): JsonBody<TenantIn>,
) -> ApiResult<HttpResponse> {
    let new = NewTenant {
        name: Name::parse(&body.name, "name")?,
        email: Email::parse(&body.email, "email")?,
        plan: body
            .plan
            .as_deref()
            .map(str::parse)
            .transpose()?
            .unwrap_or(Plan::Free),
        balance_cents: manage::cents_in_range(
            "balance_cents",
            body.balance_cents
                .unwrap_or(state.config.start_balance_cents),
            0,
        )?,
    };
    let (tenant, key) = provision::create_tenant(&state.db, new).await?;
    Ok(HttpResponse::Created().json(TenantCreated {
        tenant: TenantOut::from(tenant),
        secret_key: key.token,
    }))
}

/// List tenants
///
/// Every tenant account, newest first, with plan, balance and limits.
#[utoipa::path(
    get,
    path = "/admin/tenants",
    tag = "admin",
    params(PageParams),
    responses(
        (status = 200, description = "A page of tenants, newest first", body = PageOut<TenantOut>),
        (status = 400, description = "`validation_failed`: `limit` or `offset` is invalid", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn list_tenants(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: Staff,
) -> ApiResult<HttpResponse> {
    let page = QueryMap::from_request(&req)?.page()?;
    let (rows, total) = tenants::list(&state.db, page).await?;
    let data: Vec<TenantOut> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(PageOut::new(data, total, page)))
}

/// The tenant a path names; a malformed id is as unknown as a missing tenant.
pub async fn find_tenant(state: &AppState, raw_id: &str) -> ApiResult<entities::tenants::Model> {
    let id: Uuid = path_id(raw_id)?;
    Ok(manage::get(&state.db, id).await?)
}

/// Get a tenant
///
/// One tenant account: its name, email, plan, balance and effective limits (and whether they are the plan's or an override).
#[utoipa::path(
    get,
    path = "/admin/tenants/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id (UUID)")),
    responses(
        (status = 200, description = "The tenant", body = TenantOut),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn get_tenant(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let tenant = find_tenant(&state, &path).await?;
    Ok(HttpResponse::Ok().json(TenantOut::from(tenant)))
}

/// `limits` as sent: absent (unchanged), `null` (back to the plan's), `"unlimited"`, or numbers.
#[derive(Debug)]
enum LimitsIn {
    Plan,
    Unlimited,
    Custom {
        requests_per_minute: u32,
        burst: u32,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomLimitsIn {
    requests_per_minute: u32,
    burst: u32,
}

impl<'de> Deserialize<'de> for LimitsIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Custom(CustomLimitsIn),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(LimitsIn::Plan),
            Some(Raw::Word(w)) if w == "unlimited" => Ok(LimitsIn::Unlimited),
            Some(Raw::Word(_)) => Err(serde::de::Error::custom(
                "expected \"unlimited\", null, or {\"requests_per_minute\", \"burst\"}",
            )),
            Some(Raw::Custom(c)) => Ok(LimitsIn::Custom {
                requests_per_minute: c.requests_per_minute,
                burst: c.burst,
            }),
        }
    }
}

/// The fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"plan": "pilot", "limits": {"requests_per_minute": 600, "burst": 50}}))]
struct TenantPatch {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
    #[schema(value_type = Option<Plan>)]
    plan: Option<String>,
    /// An override of the plan's rate limit: `{"requests_per_minute", "burst"}` or
    /// `"unlimited"`; `null` goes back to the plan's; absent leaves it unchanged.
    // `Some(LimitsIn::Plan)` for an explicit `null`; `None` when absent.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimits>)]
    limits: Option<LimitsIn>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LimitsIn>, D::Error> {
    LimitsIn::deserialize(d).map(Some)
}

/// Update a tenant
///
/// Name, email, plan (open tickets keep their SLA snapshot) and rate-limit override. The
/// tenant's next request runs under the new limits.
#[utoipa::path(
    patch,
    path = "/admin/tenants/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id (UUID)")),
    request_body = TenantPatch,
    responses(
        (status = 200, description = "The tenant", body = TenantOut),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn update_tenant(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
    JsonBody(patch): JsonBody<TenantPatch>,
) -> ApiResult<HttpResponse> {
    let name = patch
        .name
        .as_deref()
        .map(|n| Name::parse(n, "name"))
        .transpose()?;
    let email = patch
        .email
        .as_deref()
        .map(|e| Email::parse(e, "email"))
        .transpose()?;
    let plan: Option<Plan> = patch.plan.as_deref().map(str::parse).transpose()?;
    let limits = patch
        .limits
        .map(|limits| match limits {
            LimitsIn::Plan => Ok(LimitsChange::Plan),
            LimitsIn::Unlimited => Ok(LimitsChange::Unlimited),
            LimitsIn::Custom {
                requests_per_minute,
                burst,
            } => manage::custom_limits(requests_per_minute, burst),
        })
        .transpose()?;
    let tenant = find_tenant(&state, &path).await?;
    let change = TenantChange {
        name,
        email,
        plan,
        limits,
    };
    let updated =
        manage::apply_change(&state.db, &state.auth, &state.limits, tenant, change).await?;
    Ok(HttpResponse::Ok().json(TenantOut::from(updated)))
}

/// A top-up.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount_cents": 5000, "note": "Goodwill credit"}))]
struct CreditIn {
    #[schema(minimum = 1, maximum = 100_000_000)]
    amount_cents: i64,
    #[schema(min_length = 1, max_length = 200)]
    note: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Credited {
    entry: LedgerEntryOut,
    balance_cents: i64,
}

/// Credit a tenant
///
/// Adds a `top_up` ledger entry.
#[utoipa::path(
    post,
    path = "/admin/tenants/{id}/credits",
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id (UUID)")),
    request_body = CreditIn,
    responses(
        (status = 201, description = "The ledger entry and the new balance", body = Credited),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ),
    security(("staff_token" = [])),
)]
async fn credit_tenant(
    state: web::Data<AppState>,
    _: Staff,
    path: web::Path<String>,
    JsonBody(body): JsonBody<CreditIn>,
) -> ApiResult<HttpResponse> {
    let tenant = find_tenant(&state, &path).await?;
    let entry = manage::credit(
        &state.tenants,
        tenant.id,
        body.amount_cents,
        body.note.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Created().json(Credited {
        balance_cents: entry.balance_after_cents,
        entry: LedgerEntryOut::from(entry),
    }))
}
