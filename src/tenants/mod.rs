//! Tenants: provisioning, their effective limits, and the per-tenant actors that serialize
//! every mutation of a tenant's tickets and balance.
pub mod actor;
pub mod commits;
pub mod manage;
pub mod provision;
pub mod registry;

use chrono::{DateTime, Utc};
use entities::tenants;
use entities::values::LimitsMode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::plan::Plan;
use crate::ratelimit::RateSpec;

/// A tenant by id.
pub async fn find(
    db: &sea_orm::DatabaseConnection,
    id: uuid::Uuid,
) -> Result<Option<tenants::Model>, sea_orm::DbErr> {
    use sea_orm::EntityTrait;
    tenants::Entity::find_by_id(id).one(db).await
}

/// Every tenant, newest first, and how many there are.
pub async fn list(
    db: &sea_orm::DatabaseConnection,
    page: crate::pagination::Page,
) -> Result<(Vec<tenants::Model>, u64), sea_orm::DbErr> {
    use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder, QuerySelect};
    let total = tenants::Entity::find().count(db).await?;
    let rows = tenants::Entity::find()
        .order_by_desc(tenants::Column::CreatedAt)
        .order_by_desc(tenants::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Tenants whose id is `q`, or whose name or email contains it (case-insensitive), newest
/// first, at most `limit`.
pub async fn search(
    db: &sea_orm::DatabaseConnection,
    q: &str,
    limit: u64,
) -> Result<Vec<tenants::Model>, sea_orm::DbErr> {
    use sea_orm::sea_query::{Expr, Func, LikeExpr};
    use sea_orm::{
        ColumnTrait, Condition, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect,
    };
    let mut query = tenants::Entity::find();
    query = match q.trim().parse::<uuid::Uuid>() {
        Ok(id) => query.filter(tenants::Column::Id.eq(id)),
        Err(_) => {
            let escaped = crate::tickets::query::escape_like(&q.trim().to_lowercase());
            let pattern = format!("%{escaped}%");
            let like = |col: tenants::Column| {
                Expr::expr(Func::lower(Expr::col(col)))
                    .like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            query.filter(
                Condition::any()
                    .add(like(tenants::Column::Name))
                    .add(like(tenants::Column::Email)),
            )
        }
    };
    query
        .order_by_desc(tenants::Column::CreatedAt)
        .order_by_desc(tenants::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// An operator's limits for a tenant.
#[derive(Debug, Clone, Copy)]
pub enum LimitsChange {
    /// Back to the plan's.
    Plan,
    Unlimited,
    Custom {
        per_minute: u32,
        burst: u32,
    },
}

/// What an operator changes on a tenant; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct TenantChange {
    pub name: Option<crate::domain::validate::Name>,
    pub email: Option<crate::domain::validate::Email>,
    pub plan: Option<Plan>,
    pub limits: Option<LimitsChange>,
}

/// Applies `change` to `tenant` and returns the stored row.
pub async fn update(
    db: &sea_orm::DatabaseConnection,
    tenant: tenants::Model,
    change: TenantChange,
    now: DateTime<Utc>,
) -> Result<tenants::Model, sea_orm::DbErr> {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let mut active: tenants::ActiveModel = tenant.into();
    if let Some(name) = change.name {
        active.name = Set(name.into_inner());
    }
    if let Some(email) = change.email {
        active.email = Set(email.into_inner());
    }
    if let Some(plan) = change.plan {
        active.plan = Set(plan.as_str().to_string());
    }
    match change.limits {
        None => {}
        Some(LimitsChange::Plan) => {
            active.limits_mode = Set(LimitsMode::Plan);
            active.limit_rpm = Set(None);
            active.limit_burst = Set(None);
        }
        Some(LimitsChange::Unlimited) => {
            active.limits_mode = Set(LimitsMode::Unlimited);
            active.limit_rpm = Set(None);
            active.limit_burst = Set(None);
        }
        Some(LimitsChange::Custom { per_minute, burst }) => {
            active.limits_mode = Set(LimitsMode::Custom);
            active.limit_rpm = Set(i32::try_from(per_minute).ok());
            active.limit_burst = Set(i32::try_from(burst).ok());
        }
    }
    active.updated_at = Set(now);
    active.update(db).await
}

/// The tenant's plan, falling back to `free` for a value written by a newer version.
pub fn plan_of(t: &tenants::Model) -> Plan {
    Plan::from_stored(&t.plan)
}

/// The limit in force: the operator's override, or the plan's.
pub fn rate_spec(t: &tenants::Model) -> RateSpec {
    match (t.limits_mode, t.limit_rpm, t.limit_burst) {
        (LimitsMode::Unlimited, _, _) => RateSpec::Unlimited,
        (LimitsMode::Custom, Some(rpm), Some(burst)) if rpm > 0 && burst > 0 => RateSpec::Limited {
            per_minute: rpm.unsigned_abs(),
            burst: burst.unsigned_abs(),
        },
        _ => {
            let spec = plan_of(t).spec();
            match (spec.requests_per_minute, spec.burst) {
                (Some(per_minute), Some(burst)) => RateSpec::Limited { per_minute, burst },
                _ => RateSpec::Unlimited,
            }
        }
    }
}

/// How a rate limit is shown and set: `"unlimited"`, or a GCRA limit of
/// `requests_per_minute` with `burst` requests at once.
pub struct RateLimits;

impl utoipa::PartialSchema for RateLimits {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let count = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int32,
                )))
                .minimum(Some(1))
                .description(Some(description))
        };
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([LimitsMode::Unlimited.as_str()]))
                    .description(Some("No rate limit")),
            )
            .item(
                ObjectBuilder::new()
                    .property("requests_per_minute", count("Sustained rate"))
                    .property("burst", count("Requests allowed at once"))
                    .required("requests_per_minute")
                    .required("burst")
                    .additional_properties(Some(
                        utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                    )),
            )
            .description(Some(
                "`\"unlimited\"` or `{\"requests_per_minute\", \"burst\"}`",
            ))
            .into()
    }
}

impl utoipa::ToSchema for RateLimits {}

fn limits_json(spec: RateSpec) -> Value {
    match spec {
        RateSpec::Unlimited => json!("unlimited"),
        RateSpec::Limited { per_minute, burst } => {
            json!({"requests_per_minute": per_minute, "burst": burst})
        }
    }
}

/// A tenant (an account of the platform).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantOut {
    pub id: uuid::Uuid,
    #[schema(example = "tenant")]
    pub object: &'static str,
    pub name: String,
    pub email: String,
    #[schema(value_type = Plan)]
    pub plan: String,
    /// The rate limit in force.
    #[schema(value_type = RateLimits)]
    pub limits: Value,
    /// `plan` when the plan's limits apply, `override` when an operator set them.
    #[schema(example = "plan")]
    pub limits_source: &'static str,
    pub balance_cents: i64,
    #[schema(example = "usd")]
    pub currency: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<tenants::Model> for TenantOut {
    fn from(t: tenants::Model) -> Self {
        let limits = limits_json(rate_spec(&t));
        Self {
            limits_source: if t.limits_mode == LimitsMode::Plan {
                "plan"
            } else {
                "override"
            },
            id: t.id,
            object: "tenant",
            name: t.name,
            email: t.email,
            plan: t.plan,
            limits,
            balance_cents: t.balance_cents,
            currency: "usd",
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}
