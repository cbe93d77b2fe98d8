//! `/v1/billing/*` and `/v1/analytics/spend`: balance, ledger, spend totals.
use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use entities::{ledger_entries as ledger, tenants};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use crate::app::AppState;
use crate::auth::SecretKey;
use crate::error::{ApiError, ApiResult};
use crate::http::query::{QueryMap, decode_cursor, encode_cursor};
use crate::ledger::LedgerEntryOut;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/billing/balance").route(web::get().to(balance)))
        .service(web::resource("/billing/ledger").route(web::get().to(list_ledger)))
        .service(web::resource("/analytics/spend").route(web::get().to(spend)));
}

async fn balance(state: web::Data<AppState>, SecretKey(key): SecretKey) -> ApiResult<HttpResponse> {
    let tenant = tenants::Entity::find_by_id(key.tenant_id)
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(json!({
        "object": "balance",
        "balance_cents": tenant.balance_cents,
        "currency": "usd",
    })))
}

/// Newest first; `cursor` continues after the last entry of the previous page.
async fn list_ledger(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let page = q.page()?;
    let cursor = q.get("cursor").map(decode_cursor).transpose()?;
    let base = ledger::Entity::find().filter(ledger::Column::TenantId.eq(key.tenant_id));
    let total = base.clone().count(&state.db).await?;
    let mut query = base.order_by_desc(ledger::Column::Id);
    query = match cursor {
        Some(after) => query.filter(ledger::Column::Id.lt(after)),
        None => query.offset(page.offset),
    };
    let mut rows = query.limit(page.limit + 1).all(&state.db).await?;
    let more = rows.len() as u64 > page.limit;
    rows.truncate(page.limit as usize);
    let next_cursor = if more {
        rows.last().map(|e| encode_cursor(e.id))
    } else {
        None
    };
    let data: Vec<LedgerEntryOut> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": data,
        "total": total,
        "offset": if cursor.is_some() { 0 } else { page.offset },
        "limit": page.limit,
        "next_cursor": next_cursor,
    })))
}

/// The longest window `/v1/analytics/spend` sums over.
const MAX_SPEND_DAYS: i64 = 366;

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

async fn spend(
    req: HttpRequest,
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let q = QueryMap::from_request(&req)?;
    let to = parse_bound(&q, "to", true)?.unwrap_or_else(Utc::now);
    let from = parse_bound(&q, "from", false)?.unwrap_or(to - Duration::days(30));
    if from > to {
        return Err(ApiError::validation(
            "from",
            "`from` must not be after `to`",
        ));
    }
    if to - from > Duration::days(MAX_SPEND_DAYS) {
        return Err(ApiError::validation(
            "from",
            format!("The window may span at most {MAX_SPEND_DAYS} days"),
        ));
    }
    let rows: Vec<(String, i64, DateTime<Utc>)> = ledger::Entity::find()
        .select_only()
        .column(ledger::Column::Kind)
        .column(ledger::Column::AmountCents)
        .column(ledger::Column::CreatedAt)
        .filter(ledger::Column::TenantId.eq(key.tenant_id))
        .filter(ledger::Column::CreatedAt.gte(from))
        .filter(ledger::Column::CreatedAt.lt(to))
        .into_tuple()
        .all(&state.db)
        .await?;

    let mut by_kind: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<String, i64>> = BTreeMap::new();
    let mut spent = 0i64;
    for (kind, amount, at) in rows {
        *by_kind.entry(kind.clone()).or_default() += amount;
        *by_day
            .entry(at.date_naive())
            .or_default()
            .entry(kind.clone())
            .or_default() += amount;
        if kind == crate::ledger::LedgerKind::TicketFee.as_str() {
            spent -= amount;
        }
    }
    let days: Vec<_> = by_day
        .into_iter()
        .map(|(date, kinds)| {
            let net: i64 = kinds.values().sum();
            json!({"date": date.to_string(), "by_kind": kinds, "net_cents": net})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "object": "spend_report",
        "from": from,
        "to": to,
        "currency": "usd",
        "spent_cents": spent,
        "net_cents": by_kind.values().sum::<i64>(),
        "by_kind": by_kind,
        "by_day": days,
    })))
}
