//! Kept ticket counts: how many tickets sit in each (tag, status, category, priority,
//! assignee) bucket, per tenant (`ticket_counts`) and across tenants (`ticket_counts_all`).
//! Triggers on `tickets` write them in the transaction of every change (the migration
//! `m20261201_000010_scale`), so a list's `total` reads a few rows instead of counting
//! tickets. This module reads them, and recounts from the tickets for checks and repairs.
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use uuid::Uuid;

use crate::tickets::query::{Assignee, TicketFilter};

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// Whether the tickets matching `filter` are counted here: unless the filter also needs text
/// or time (`q`, `breached`), which no count keeps.
pub fn is_kept(filter: &TicketFilter) -> bool {
    filter.q.is_none() && filter.breached.is_none()
}

/// The statement reading the kept count of the tickets matching `filter` (one `BIGINT`),
/// to run inside a list's page statement or alone. Only for a filter that [`is_kept`]: it
/// reads the filter's kept fields and nothing else.
pub fn kept_query(filter: &TicketFilter) -> SelectStatement {
    let mut query = Query::select();
    query.expr(Expr::cust("CAST(COALESCE(SUM(n), 0) AS BIGINT)"));
    match filter.tenant_id {
        Some(tenant_id) => {
            query
                .from(Alias::new("ticket_counts"))
                .and_where(col("tenant_id").eq(tenant_id));
        }
        None => {
            query.from(Alias::new("ticket_counts_all"));
        }
    }
    narrow(&mut query, filter);
    query
}

fn narrow(query: &mut SelectStatement, filter: &TicketFilter) {
    query.and_where(col("tag").eq(filter.tag.clone().unwrap_or_default()));
    if let Some(status) = filter.status {
        query.and_where(col("status").eq(status));
    }
    if let Some(category) = filter.category {
        query.and_where(col("category").eq(category));
    }
    if let Some(priority) = filter.priority {
        query.and_where(col("priority").eq(priority));
    }
    match filter.assignee {
        Some(Assignee::Nobody) => {
            query.and_where(col("assignee_id").eq(Uuid::nil()));
        }
        Some(Assignee::Operator(id)) => {
            query.and_where(col("assignee_id").eq(id));
        }
        None => {}
    }
}

/// One bucket whose kept count differs from the tickets' `COUNT(*)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub tenant_id: Option<Uuid>,
    pub bucket: String,
    pub kept: i64,
    pub counted: i64,
}

/// Compares every kept bucket with a recount from `tickets` (in one snapshot) and returns
/// the buckets that differ: empty when the counts are right. Costs a scan of every ticket.
pub async fn verify(db: &DatabaseConnection) -> Result<Vec<Drift>, DbErr> {
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    let (split, tag) = match backend {
        sea_orm::DatabaseBackend::Postgres => (
            "CROSS JOIN LATERAL unnest(array_prepend('', string_to_array(trim(both ',' from tickets.tags), ','))) AS t(tag)",
            "t.tag",
        ),
        _ => (
            ", json_each('[\"\"' || CASE WHEN trim(tickets.tags, ',') = '' THEN '' ELSE ',\"' || replace(trim(tickets.tags, ','), ',', '\",\"') || '\"' END || ']') AS t",
            "t.value",
        ),
    };
    let nil = match backend {
        sea_orm::DatabaseBackend::Postgres => "'00000000-0000-0000-0000-000000000000'::uuid",
        _ => "X'00000000000000000000000000000000'",
    };
    // Per tenant, then across tenants; each side's buckets that the other lacks count too.
    let counted = format!(
        "SELECT tickets.tenant_id AS tenant_id, {tag} AS tag, status, category, priority,
                COALESCE(assignee_id, {nil}) AS assignee_id, COUNT(*) AS n
         FROM tickets {split} GROUP BY 1, 2, 3, 4, 5, 6"
    );
    let per_tenant = format!(
        "SELECT k.tenant_id, k.tag || '/' || k.status || '/' || k.category || '/' || k.priority,
                CAST(COALESCE(k.kept, 0) AS BIGINT), CAST(COALESCE(k.counted, 0) AS BIGINT) FROM (
           SELECT COALESCE(a.tenant_id, b.tenant_id) AS tenant_id, COALESCE(a.tag, b.tag) AS tag,
                  COALESCE(a.status, b.status) AS status, COALESCE(a.category, b.category) AS category,
                  COALESCE(a.priority, b.priority) AS priority, a.n AS kept, b.n AS counted
           FROM ticket_counts a FULL OUTER JOIN ({counted}) b
             ON a.tenant_id = b.tenant_id AND a.tag = b.tag AND a.status = b.status
            AND a.category = b.category AND a.priority = b.priority AND a.assignee_id = b.assignee_id
         ) k WHERE COALESCE(k.kept, 0) <> COALESCE(k.counted, 0)"
    );
    let across = format!(
        "SELECT k.tag || '/' || k.status || '/' || k.category || '/' || k.priority,
                CAST(COALESCE(k.kept, 0) AS BIGINT), CAST(COALESCE(k.counted, 0) AS BIGINT) FROM (
           SELECT COALESCE(a.tag, b.tag) AS tag, COALESCE(a.status, b.status) AS status,
                  COALESCE(a.category, b.category) AS category, COALESCE(a.priority, b.priority) AS priority,
                  a.n AS kept, b.n AS counted
           FROM (SELECT tag, status, category, priority, assignee_id, SUM(n) AS n
                 FROM ticket_counts_all GROUP BY 1, 2, 3, 4, 5) a
           FULL OUTER JOIN (SELECT tag, status, category, priority, assignee_id, SUM(n) AS n
                 FROM ({counted}) c GROUP BY 1, 2, 3, 4, 5) b
             ON a.tag = b.tag AND a.status = b.status AND a.category = b.category
            AND a.priority = b.priority AND a.assignee_id = b.assignee_id
         ) k WHERE COALESCE(k.kept, 0) <> COALESCE(k.counted, 0)"
    );
    let mut drift = Vec::new();
    for row in txn
        .query_all_raw(sea_orm::Statement::from_string(backend, per_tenant))
        .await?
    {
        drift.push(Drift {
            tenant_id: Some(row.try_get_by_index(0)?),
            bucket: row.try_get_by_index(1)?,
            kept: row.try_get_by_index(2)?,
            counted: row.try_get_by_index(3)?,
        });
    }
    for row in txn
        .query_all_raw(sea_orm::Statement::from_string(backend, across))
        .await?
    {
        drift.push(Drift {
            tenant_id: None,
            bucket: row.try_get_by_index(0)?,
            kept: row.try_get_by_index(1)?,
            counted: row.try_get_by_index(2)?,
        });
    }
    txn.commit().await?;
    Ok(drift)
}
