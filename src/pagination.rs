//! Pages and keyset cursors, shared by every list: the features take a [`Page`] (and a
//! cursor) and return a [`Listed`]; `src/http/query.rs` parses them from the query string.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::domain::FieldError;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;
/// The largest `offset` the databases can bind (a signed 64-bit integer).
pub const MAX_OFFSET: u64 = i64::MAX as u64;

/// `limit` (default 50, clamped to 200) and `offset` (default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u64,
    pub offset: u64,
}

/// The deepest `offset` a keyset list serves; past it, `400 use_cursor`.
pub const MAX_DEEP_OFFSET: u64 = 10_000;
/// A `total` that is counted row by row (SLA breaches, the ledger) stops at this many.
pub const COUNT_CAP: u64 = 10_000;
/// A text search's `total` stops at this many: each counted match is a random heap read
/// after the index has found it, so the count stays within a few milliseconds at any size.
pub const SEARCH_COUNT_CAP: u64 = 1_000;

/// One page of rows, how many rows match in all, and (for keyset lists) where the next page
/// starts. `total_is_exact` is false when `total` stopped at its cap ([`COUNT_CAP`],
/// [`SEARCH_COUNT_CAP`]).
#[derive(Debug)]
pub struct Listed<T> {
    pub rows: Vec<T>,
    pub total: u64,
    pub total_is_exact: bool,
    pub next_cursor: Option<String>,
}

/// One page of an offset-paged list as the API answers it: the rows, how many match in all,
/// anything a list adds about itself (`extra`, e.g. the notifications' `unread_count`), and
/// the page that was asked for (docs/API.md §2).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PageOut<T, X = NoExtra> {
    pub data: Vec<T>,
    pub total: u64,
    #[serde(flatten)]
    #[schema(inline)]
    pub extra: X,
    pub limit: u64,
    pub offset: u64,
}

/// A list that adds nothing about itself.
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct NoExtra {}

impl<T> PageOut<T> {
    pub fn new(data: Vec<T>, total: u64, page: Page) -> Self {
        Self::with(data, total, NoExtra {}, page)
    }
}

impl<T, X> PageOut<T, X> {
    /// A page whose list adds `extra` after `total`.
    pub fn with(data: Vec<T>, total: u64, extra: X, page: Page) -> Self {
        Self {
            data,
            total,
            extra,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

/// One page of a keyset list as the API answers it (tickets, the inbox, a ticket's messages,
/// the ledger): `offset` is 0 when paging by `cursor`, `next_cursor` is where the next page
/// starts.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CursorPageOut<T> {
    pub data: Vec<T>,
    pub total: u64,
    /// False when `total` stopped counting (at 1,000 matches of `q`, at 10,000 with
    /// `breached`); absent on a list
    /// that always counts exactly (a ticket's messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub total_is_exact: Option<bool>,
    /// 0 when paging by `cursor`.
    pub offset: u64,
    pub limit: u64,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

impl<T: crate::json_writer::WriteJson> crate::json_writer::WriteJson for CursorPageOut<T> {
    fn write_json(&self, w: &mut crate::json_writer::JsonWriter) {
        w.begin_object();
        w.key("data");
        w.begin_array();
        for row in &self.data {
            w.element();
            row.write_json(w);
        }
        w.end_array();
        w.key("total");
        w.u64(self.total);
        if let Some(exact) = self.total_is_exact {
            w.key("total_is_exact");
            w.bool(exact);
        }
        w.key("offset");
        w.u64(self.offset);
        w.key("limit");
        w.u64(self.limit);
        w.key("next_cursor");
        w.opt_str(self.next_cursor.as_deref());
        w.end_object();
    }

    fn size_hint(&self) -> usize {
        crate::json_writer::ROW_BYTES + self.data.iter().map(|row| row.size_hint()).sum::<usize>()
    }
}

impl<T> CursorPageOut<T> {
    /// `listed` with each row shaped by `out`, as the page asked for (`by_cursor`: it came
    /// from a cursor, not an offset).
    pub fn new<R>(
        mut listed: Listed<R>,
        page: Page,
        by_cursor: bool,
        out: impl FnMut(R) -> T,
    ) -> Self {
        let rows = std::mem::take(&mut listed.rows);
        Self::shaped(
            rows.into_iter().map(out).collect(),
            &listed,
            page,
            by_cursor,
        )
    }

    /// `listed` with its rows shaped into `data` beforehand (e.g. borrowed from them).
    pub fn shaped<R>(data: Vec<T>, listed: &Listed<R>, page: Page, by_cursor: bool) -> Self {
        Self {
            data,
            total: listed.total,
            total_is_exact: Some(listed.total_is_exact),
            offset: if by_cursor { 0 } else { page.offset },
            limit: page.limit,
            next_cursor: listed.next_cursor.clone(),
        }
    }

    /// The same page without `total_is_exact`, for a list that always counts exactly.
    pub fn counted_exactly(self) -> Self {
        Self {
            total_is_exact: None,
            ..self
        }
    }
}

/// Counts the rows of `query`, stopping at `cap`: `(total, exact)`.
pub async fn capped_count<E, C>(
    conn: &C,
    query: sea_orm::Select<E>,
    cap: u64,
) -> Result<(u64, bool), sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    use sea_orm::QueryTrait;
    capped_count_statement(conn, query.into_query(), cap).await
}

/// Counts the rows `query` selects, stopping at `cap`: `(total, exact)`.
pub async fn capped_count_statement<C>(
    conn: &C,
    query: sea_orm::sea_query::SelectStatement,
    cap: u64,
) -> Result<(u64, bool), sea_orm::DbErr>
where
    C: sea_orm::ConnectionTrait,
{
    let n = count_value(conn, &capped_count_query(query, cap)).await?;
    Ok(capped_total(n, cap))
}

/// Runs a statement whose one value is a count (no row counts as 0).
pub async fn count_value<C>(
    conn: &C,
    statement: &sea_orm::sea_query::SelectStatement,
) -> Result<i64, sea_orm::DbErr>
where
    C: sea_orm::ConnectionTrait,
{
    match conn.query_one(statement).await? {
        Some(row) => row.try_get_by_index(0),
        None => Ok(0),
    }
}

/// The statement counting the rows `query` selects up to `cap + 1` (one value): read it
/// with [`capped_total`].
pub fn capped_count_query(
    mut query: sea_orm::sea_query::SelectStatement,
    cap: u64,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{Alias, Expr, Query};
    // Only the rows' existence matters: no column is read beyond what the filter needs.
    query
        .clear_selects()
        .expr(Expr::cust("1"))
        .clear_order_by()
        .limit(cap + 1);
    Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(query, Alias::new("capped"))
        .to_owned()
}

/// `(total, exact)` from what [`capped_count_query`] counted.
pub fn capped_total(counted: i64, cap: u64) -> (u64, bool) {
    let n = u64::try_from(counted).unwrap_or(0);
    (n.min(cap), n <= cap)
}

/// An opaque keyset cursor: the last id seen (ids are UUIDv7, so they sort by creation).
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode_cursor(raw: &str) -> Result<Uuid, FieldError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| FieldError::new("cursor", "`cursor` is not a cursor this API returned"))
}

/// Trims a keyset query's `limit + 1` rows to the page and points the cursor past the last
/// row kept when more remain.
pub fn keyset_page<T>(
    mut rows: Vec<T>,
    page: Page,
    id: impl Fn(&T) -> Uuid,
) -> (Vec<T>, Option<String>) {
    let next_cursor = page_end(&mut rows, page).map(|row| encode_cursor(id(row)));
    (rows, next_cursor)
}

/// Trims a keyset query's `limit + 1` rows to the page: the last row kept, when more remain
/// (the next page starts after it).
pub fn page_end<T>(rows: &mut Vec<T>, page: Page) -> Option<&T> {
    let more = rows.len() as u64 > page.limit;
    rows.truncate(page.limit as usize);
    if more { rows.last() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).ok(), Some(id));
        for bad in ["", "abc", "!!!!", "AAAA"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keyset_pages_point_past_the_last_row_only_when_more_remain() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page {
            limit: 2,
            offset: 0,
        };
        let (rows, next) = keyset_page(ids.clone(), page, |id| *id);
        assert_eq!(rows, ids[..2]);
        assert_eq!(next, Some(encode_cursor(ids[1])));
        let (rows, next) = keyset_page(ids[..2].to_vec(), page, |id| *id);
        assert_eq!(rows.len(), 2);
        assert_eq!(next, None);
    }
}
