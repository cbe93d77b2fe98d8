//! What operators do to a tenant, from `/admin/tenants` and the console alike: find one,
//! change its plan and limits, credit its balance; with the bounds these accept.
use chrono::Utc;
use entities::{ledger_entries, tenants};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use super::actor::Credit;
use super::registry::{Registry, TenantBusy};
use super::{LimitsChange, TenantChange};
use crate::auth::cache::AuthCache;
use crate::billing::ledger::ApplyError;
use crate::domain::FieldError;
use crate::domain::validate::Name;
use crate::ratelimit::RateLimits;

/// Largest single credit or opening balance: $1,000,000.
pub const MAX_CREDIT_CENTS: i64 = 100_000_000;

/// What an operator's change to a tenant can refuse.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("no such tenant")]
    NotFound,
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Busy(#[from] TenantBusy),
    #[error(transparent)]
    Ledger(#[from] ApplyError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The tenant `id`, or [`TenantError::NotFound`].
pub async fn get(db: &DatabaseConnection, id: Uuid) -> Result<tenants::Model, TenantError> {
    super::find(db, id).await?.ok_or(TenantError::NotFound)
}

/// `value` cents for `field`, between `min` and [`MAX_CREDIT_CENTS`].
pub fn cents_in_range(field: &'static str, value: i64, min: i64) -> Result<i64, FieldError> {
    if (min..=MAX_CREDIT_CENTS).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::new(
            field,
            format!("`{field}` must be between {min} and {MAX_CREDIT_CENTS}"),
        ))
    }
}

/// An operator's own limits for a tenant, both at least 1.
pub fn custom_limits(requests_per_minute: u32, burst: u32) -> Result<LimitsChange, FieldError> {
    let max = i32::MAX.unsigned_abs();
    if requests_per_minute == 0 || requests_per_minute > max {
        return Err(FieldError::new(
            "limits.requests_per_minute",
            "`limits.requests_per_minute` must be at least 1",
        ));
    }
    if burst == 0 || burst > max {
        return Err(FieldError::new(
            "limits.burst",
            "`limits.burst` must be at least 1",
        ));
    }
    Ok(LimitsChange::Custom {
        per_minute: requests_per_minute,
        burst,
    })
}

/// Stores a change to a tenant; its next request reloads its key, and with it the limits.
pub async fn apply_change(
    db: &DatabaseConnection,
    auth: &AuthCache,
    limits: &RateLimits,
    tenant: tenants::Model,
    change: TenantChange,
) -> Result<tenants::Model, TenantError> {
    let tenant_id = tenant.id;
    let updated = super::update(db, tenant, change, Utc::now()).await?;
    auth.forget_tenant(tenant_id);
    limits.reset_tenant(tenant_id);
    Ok(updated)
}

/// Credits a tenant (a `top_up` ledger entry) through its actor.
pub async fn credit(
    registry: &Registry,
    tenant_id: Uuid,
    amount_cents: i64,
    note: Option<&str>,
) -> Result<ledger_entries::Model, TenantError> {
    let amount_cents = cents_in_range("amount_cents", amount_cents, 1)?;
    let note = note
        .map(|n| Name::parse(n, "note"))
        .transpose()?
        .map(Name::into_inner);
    Ok(registry
        .send(tenant_id, Credit { amount_cents, note })
        .await??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_and_limits_have_bounds() {
        assert_eq!(cents_in_range("amount_cents", 1, 1).ok(), Some(1));
        let refused = cents_in_range("amount_cents", 0, 1).err();
        assert_eq!(
            refused.map(|e| e.message),
            Some("`amount_cents` must be between 1 and 100000000".to_string())
        );
        assert!(cents_in_range("balance_cents", MAX_CREDIT_CENTS + 1, 0).is_err());
        assert!(matches!(
            custom_limits(600, 50),
            Ok(LimitsChange::Custom {
                per_minute: 600,
                burst: 50
            })
        ));
        assert_eq!(
            custom_limits(0, 50).err().map(|e| e.field),
            Some("limits.requests_per_minute")
        );
        assert_eq!(
            custom_limits(600, 0).err().map(|e| e.field),
            Some("limits.burst")
        );
    }
}
