//! `/v1/billing/*` and `/v1/analytics/spend`: balance, ledger, spend totals.
use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::billing::ledger::{self, LedgerEntryOut};
use crate::billing::spend;
use crate::http::auth::SecretKey;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::query::{CursorParams, PageParams, QueryMap};
use crate::pagination::CursorPageOut;
use crate::tenants;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/billing/balance").route(web::get().to(balance)))
        .service(web::resource("/billing/ledger").route(web::get().to(list_ledger)))
        .service(web::resource("/analytics/spend").route(web::get().to(spend)));
}

/// The tenant's balance.
#[derive(Serialize, ToSchema)]
struct BalanceOut {
    #[schema(example = "balance")]
    object: &'static str,
    #[schema(example = 99)]
    balance_cents: i64,
    #[schema(example = "usd")]
    currency: &'static str,
}

/// Read the balance
///
/// The balance always equals the sum of the tenant's ledger.
#[utoipa::path(
    get,
    path = "/v1/billing/balance",
    tag = "billing",
    responses(
        (status = 200, description = "The balance", body = BalanceOut),
        (status = 404, description = "`not_found`: the tenant no longer exists", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn balance(state: web::Data<AppState>, SecretKey(key): SecretKey) -> ApiResult<HttpResponse> {
    let tenant = tenants::find(&state.db, key.tenant_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(BalanceOut {
        object: "balance",
        balance_cents: tenant.balance_cents,
        currency: "usd",
    }))
}

/// List ledger entries
///
/// Newest first; `cursor` continues after the last entry of the previous page.
#[utoipa::path(
    get,
    path = "/v1/billing/ledger",
    tag = "billing",
    params(PageParams, CursorParams),
    responses(
        (status = 200, description = "A page of ledger entries", body = CursorPageOut<LedgerEntryOut>),
        (status = 400, description = "`validation_failed`: `limit`, `offset` or `cursor` is invalid; `use_cursor`: `offset` past 10,000 (detail: `cursor`)", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn list_ledger(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let page = q.keyset_page()?;
    let cursor = q.cursor()?;
    let listed = ledger::page(&state.db, key.tenant_id, page, cursor).await?;
    Ok(HttpResponse::Ok().json(CursorPageOut::new(
        listed,
        page,
        cursor.is_some(),
        LedgerEntryOut::from,
    )))
}

/// `YYYY-MM-DD` (a whole day; `to` includes that day) or an RFC 3339 instant.
fn parse_bound(q: &QueryMap, field: &str, end_of_day: bool) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(raw) = q.get(field) else {
        return Ok(None);
    };
    if let Ok(instant) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(instant.with_timezone(&Utc)));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::validation(
            field,
            format!("`{field}` must be a date (YYYY-MM-DD) or an RFC 3339 time"),
        )
    })?;
    let start = day.and_time(NaiveTime::MIN).and_utc();
    Ok(Some(if end_of_day {
        start + Duration::days(1)
    } else {
        start
    }))
}

/// The window of `/v1/analytics/spend`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SpendParams {
    /// Start: a date (`YYYY-MM-DD`, from its start) or an RFC 3339 time. Default: 30 days
    /// before `to`.
    #[param(example = "2026-03-01")]
    pub from: Option<String>,
    /// End: a date (`YYYY-MM-DD`, that whole day included) or an RFC 3339 time. Default: now.
    /// The window spans at most 366 days.
    #[param(example = "2026-03-31")]
    pub to: Option<String>,
}

/// One day of the spend report.
#[derive(Serialize, ToSchema)]
struct SpendDay {
    #[schema(format = Date, example = "2026-03-02")]
    date: String,
    /// Sum of amounts per ledger kind (`ticket_fee` is negative).
    by_kind: BTreeMap<String, i64>,
    net_cents: i64,
}

/// Totals by ledger kind and by day.
#[derive(Serialize, ToSchema)]
struct SpendReport {
    #[schema(example = "spend_report")]
    object: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[schema(example = "usd")]
    currency: &'static str,
    /// Ticket fees paid in the window (positive).
    spent_cents: i64,
    /// Sum of every entry in the window.
    net_cents: i64,
    by_kind: BTreeMap<String, i64>,
    /// Days with entries, oldest first.
    by_day: Vec<SpendDay>,
}

/// Spend report
///
/// Ledger totals by kind and by day over a window (default: the last 30 days).
#[utoipa::path(
    get,
    path = "/v1/analytics/spend",
    tag = "billing",
    params(SpendParams),
    responses(
        (status = 200, description = "The report", body = SpendReport),
        (status = 400, description = "`validation_failed`: `from`/`to` unreadable, `from` after `to`, or a window over 366 days", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn spend(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let to = parse_bound(&q, "to", true)?;
    let from = parse_bound(&q, "from", false)?;
    let (from, to) = spend::window(from, to, Utc::now())?;
    let report = spend::report(&state.db, key.tenant_id, from, to).await?;
    let days: Vec<_> = report
        .by_day
        .into_iter()
        .map(|(date, kinds)| SpendDay {
            date: date.to_string(),
            net_cents: kinds.values().sum(),
            by_kind: kinds,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SpendReport {
        object: "spend_report",
        from,
        to,
        currency: "usd",
        spent_cents: report.spent_cents,
        net_cents: report.by_kind.values().sum::<i64>(),
        by_kind: report.by_kind,
        by_day: days,
    }))
}
