//! Tenants: provisioning, their effective limits, and the per-tenant actors that serialize
//! every mutation of a tenant's tickets and balance.
pub mod actor;
pub mod provision;
pub mod registry;

use chrono::{DateTime, Utc};
use entities::tenants;
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::plan::Plan;
use crate::ratelimit::RateSpec;

pub const LIMITS_PLAN: &str = "plan";
pub const LIMITS_CUSTOM: &str = "custom";
pub const LIMITS_UNLIMITED: &str = "unlimited";

/// The tenant's plan, falling back to `free` for a value written by a newer version.
pub fn plan_of(t: &tenants::Model) -> Plan {
    t.plan.parse().unwrap_or(Plan::Free)
}

/// The limit in force: the operator's override, or the plan's.
pub fn rate_spec(t: &tenants::Model) -> RateSpec {
    match (t.limits_mode.as_str(), t.limit_rpm, t.limit_burst) {
        (LIMITS_UNLIMITED, _, _) => RateSpec::Unlimited,
        (LIMITS_CUSTOM, Some(rpm), Some(burst)) if rpm > 0 && burst > 0 => RateSpec::Limited {
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

fn limits_json(spec: RateSpec) -> Value {
    match spec {
        RateSpec::Unlimited => json!("unlimited"),
        RateSpec::Limited { per_minute, burst } => {
            json!({"requests_per_minute": per_minute, "burst": burst})
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TenantOut {
    pub id: uuid::Uuid,
    pub object: &'static str,
    pub name: String,
    pub email: String,
    pub plan: String,
    pub limits: Value,
    /// `plan` when the plan's limits apply, `override` when an operator set them.
    pub limits_source: &'static str,
    pub balance_cents: i64,
    pub currency: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<tenants::Model> for TenantOut {
    fn from(t: tenants::Model) -> Self {
        let limits = limits_json(rate_spec(&t));
        Self {
            limits_source: if t.limits_mode == LIMITS_PLAN {
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
