//! The spend report: ledger totals over a window, by kind and by day.
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entities::ledger_entries as ledger;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::ledger::LedgerKind;
use crate::domain::FieldError;

/// The longest window a report sums over.
pub const MAX_DAYS: i64 = 366;
/// The window when no start is given: this many days before the end.
const DEFAULT_DAYS: i64 = 30;

/// The window `[from, to)` of a report: `to` defaults to `now`, `from` to 30 days before
/// `to`; `from` may not be after `to`, and the window spans at most [`MAX_DAYS`].
pub fn window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), FieldError> {
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS));
    if from > to {
        return Err(FieldError::new("from", "`from` must not be after `to`"));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(FieldError::new(
            "from",
            format!("The window may span at most {MAX_DAYS} days"),
        ));
    }
    Ok((from, to))
}

pub struct Spend {
    /// Ticket fees paid in the window (positive).
    pub spent_cents: i64,
    pub by_kind: BTreeMap<String, i64>,
    /// Days with entries, oldest first, each with its sums per kind.
    pub by_day: BTreeMap<NaiveDate, BTreeMap<String, i64>>,
}

/// Sums the tenant's ledger entries created in `[from, to)`.
pub async fn report(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Spend, DbErr> {
    let rows: Vec<(LedgerKind, i64, DateTime<Utc>)> = ledger::Entity::find()
        .select_only()
        .column(ledger::Column::Kind)
        .column(ledger::Column::AmountCents)
        .column(ledger::Column::CreatedAt)
        .filter(ledger::Column::TenantId.eq(tenant_id))
        .filter(ledger::Column::CreatedAt.gte(from))
        .filter(ledger::Column::CreatedAt.lt(to))
        .into_tuple()
        .all(db)
        .await?;
    let mut spend = Spend {
        spent_cents: 0,
        by_kind: BTreeMap::new(),
        by_day: BTreeMap::new(),
    };
    for (kind, amount, at) in rows {
        *spend.by_kind.entry(kind.to_string()).or_default() += amount;
        *spend
            .by_day
            .entry(at.date_naive())
            .or_default()
            .entry(kind.to_string())
            .or_default() += amount;
        if kind == LedgerKind::TicketFee {
            spend.spent_cents -= amount;
        }
    }
    Ok(spend)
}
