//! Ticket reads: they go straight to the database, never through the actor. Totals of lists
//! filtered by kept fields come from `tickets::counts`; text search uses the index the
//! triggers keep (`tsvector` on PostgreSQL, FTS5 on SQLite); every list pages by an index in
//! its own order (docs/ARCHITECTURE.md, "Reads at scale").
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entities::{messages, ticket_events, tickets};
use sea_orm::sea_query::{
    Alias, Condition as JoinCondition, Expr, JoinType, LikeExpr, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, ExprTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Statement, Value,
};
use uuid::Uuid;

use crate::domain::FieldError;
use crate::domain::status::TicketStatus;
use crate::domain::ticket::{Category, Priority};
use crate::pagination::{
    COUNT_CAP, Listed, Page, SEARCH_COUNT_CAP, capped_count, capped_count_query,
    capped_count_statement, capped_total, count_value, encode_cursor, keyset_page, page_end,
};
use crate::tickets::counts;
use crate::tickets::rows::{self, TicketRef, TicketRow};

mod written;

/// Filters shared by the tenant's list and the operator inbox.
#[derive(Debug, Default, Clone)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    pub q: Option<String>,
    /// `q` also searches internal notes (operators).
    pub search_internal: bool,
    pub tenant_id: Option<Uuid>,
    pub breached: Option<bool>,
    pub assignee: Option<Assignee>,
    /// A tag already parsed by `domain::tags::parse_tag` (stored as `,a,b,`).
    pub tag: Option<String>,
}

/// The inbox's `assignee` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    Nobody,
    Operator(Uuid),
}

/// The order of a ticket list: newest first, or best match first (with `q`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Newest,
    Relevance,
}

impl std::str::FromStr for Sort {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "newest" => Ok(Sort::Newest),
            "relevance" => Ok(Sort::Relevance),
            _ => Err(()),
        }
    }
}

/// The words of a search: letters and digits, lower-cased; everything else separates words.
/// A ticket matches when it holds every word (whole words, any order).
pub fn search_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .take(16)
        .collect()
}

/// The PostgreSQL document a search reads: public text, or (operators) with the notes too.
fn pg_document(internal: bool) -> &'static str {
    if internal {
        "(search_public || search_internal)"
    } else {
        "search_public"
    }
}

/// How a page of a search finds its matches. SQLite needs to be told; PostgreSQL's planner
/// makes the same choice from its statistics of the `tsvector` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matches {
    /// Up to the count cap: read every match from the search index, then order them.
    Few,
    /// More: walk the list's own index in its order and test each ticket, so the page stops
    /// after `limit + 1` matches instead of reading and sorting all of them.
    Many,
}

/// The search condition for `words` on `backend`.
fn matches(
    backend: DatabaseBackend,
    words: &[String],
    internal: bool,
    plan: Matches,
) -> SimpleExpr {
    match backend {
        DatabaseBackend::Postgres => Expr::cust_with_values(
            format!("{} @@ to_tsquery('simple', $1)", pg_document(internal)),
            [words.join(" & ")],
        ),
        _ => match plan {
            Matches::Few => Expr::cust_with_values(
                "tickets.id IN (SELECT r.ticket_id FROM ticket_search_rows r WHERE r.rowid IN \
                 (SELECT rowid FROM ticket_search WHERE ticket_search MATCH ?))",
                [fts5_query(words, internal)],
            ),
            // `+` keeps SQLite from driving the walk by the matches' rowids.
            Matches::Many => Expr::cust_with_values(
                "EXISTS (SELECT 1 FROM ticket_search_rows r WHERE r.ticket_id = tickets.id \
                 AND +r.rowid IN (SELECT rowid FROM ticket_search WHERE ticket_search MATCH ?))",
                [fts5_query(words, internal)],
            ),
        },
    }
}

/// The FTS5 query for `words`. It names no tenant: the tenant is a condition on `tickets`,
/// and ANDing the tenant's term would read every ticket of the tenant from the index.
fn fts5_query(words: &[String], internal: bool) -> String {
    let terms: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    let columns = if internal {
        "{public internal}"
    } else {
        "{public}"
    };
    format!("{columns} : ({})", terms.join(" AND "))
}

/// `alias` (a `ticket_words` row) is a word of the tenant's ticket, in its public document
/// unless `internal`; binds the tenant, then the word. PostgreSQL compares the word through
/// its `lower`, as the `simple` configuration does when it builds the documents; SQLite's
/// rows hold FTS5's case folding, which the search's own lower-casing matches.
fn tenant_word_sql(backend: DatabaseBackend, alias: &str, internal: bool) -> String {
    let public = if internal {
        String::new()
    } else {
        format!(" AND {alias}.public")
    };
    match backend {
        DatabaseBackend::Postgres => {
            format!("{alias}.tenant_id = $1 AND {alias}.word = lower($2) COLLATE \"C\"{public}")
        }
        _ => format!("{alias}.tenant_id = ? AND {alias}.word = ?{public}"),
    }
}

/// `alias` (a `ticket_words` row) is `word` of the tenant's ticket.
fn tenant_word(
    backend: DatabaseBackend,
    alias: &str,
    tenant_id: Uuid,
    word: &str,
    internal: bool,
) -> SimpleExpr {
    Expr::cust_with_values(
        tenant_word_sql(backend, alias, internal),
        [Value::from(tenant_id), Value::from(word.to_string())],
    )
}

/// The ticket `w0` names also holds each of `words`.
fn other_words(
    backend: DatabaseBackend,
    tenant_id: Uuid,
    words: &[String],
    internal: bool,
) -> Vec<SimpleExpr> {
    words
        .iter()
        .map(|word| {
            Expr::cust_with_values(
                format!(
                    "EXISTS (SELECT 1 FROM ticket_words w WHERE {} AND w.ticket_id = w0.ticket_id)",
                    tenant_word_sql(backend, "w", internal)
                ),
                [Value::from(tenant_id), Value::from(word.clone())],
            )
        })
        .collect()
}

/// Best match first (then newest): `ts_rank` on PostgreSQL, `bm25` on SQLite.
fn relevance(backend: DatabaseBackend, words: &[String], internal: bool) -> SimpleExpr {
    match backend {
        DatabaseBackend::Postgres => Expr::cust_with_values(
            format!(
                "-ts_rank({}, to_tsquery('simple', $1))",
                pg_document(internal)
            ),
            [words.join(" & ")],
        ),
        _ => Expr::cust_with_values(
            "(SELECT bm25(ticket_search) FROM ticket_search WHERE ticket_search MATCH ? AND \
             rowid = (SELECT rowid FROM ticket_search_rows WHERE ticket_id = tickets.id))",
            [fts5_query(words, internal)],
        ),
    }
}

/// How a list learns its `total`.
#[derive(Debug, Clone)]
enum Total {
    /// Counted before the page: SQLite's search, whose count also picks the page's plan.
    Known(u64, bool),
    /// The kept count ([`counts::kept_query`]), read by the page's own statement as one more
    /// column ([`TOTAL_COLUMN`]). A list is then one statement, written once per shape
    /// ([`written`]).
    Kept,
    /// On PostgreSQL, a search's matches counted up to [`SEARCH_COUNT_CAP`] by this
    /// statement, read by the page's own statement as one more column.
    Search(Box<SelectStatement>),
    /// Counted after the page, which may show where the matches end.
    AfterPage,
}

/// The column a page statement carries its list's total in.
const TOTAL_COLUMN: &str = "list_total";

impl TicketFilter {
    fn apply(
        &self,
        backend: DatabaseBackend,
        mut query: Select<tickets::Entity>,
        now: DateTime<Utc>,
        plan: Matches,
    ) -> Select<tickets::Entity> {
        if let Some(tenant_id) = self.tenant_id {
            query = query.filter(tickets::Column::TenantId.eq(tenant_id));
        }
        if let Some(status) = self.status {
            query = query.filter(tickets::Column::Status.eq(status));
        }
        if let Some(category) = self.category {
            query = query.filter(tickets::Column::Category.eq(category));
        }
        if let Some(priority) = self.priority {
            query = query.filter(tickets::Column::Priority.eq(priority));
        }
        if let Some(text) = &self.q {
            let words = search_words(text);
            query = if words.is_empty() {
                // Nothing searchable (only punctuation): nothing matches.
                query.filter(Expr::cust("1 = 0"))
            } else {
                query.filter(matches(backend, &words, self.search_internal, plan))
            };
        }
        match self.assignee {
            Some(Assignee::Nobody) => query = query.filter(tickets::Column::AssigneeId.is_null()),
            Some(Assignee::Operator(id)) => {
                query = query.filter(tickets::Column::AssigneeId.eq(id));
            }
            None => {}
        }
        if let Some(tag) = &self.tag {
            query = query.filter(
                Expr::col(tickets::Column::Tags).like(LikeExpr::new(tag_pattern(tag)).escape('\\')),
            );
        }
        if let Some(breached) = self.breached {
            query = query.filter(breached_condition(breached, now));
        }
        query
    }

    /// How the list gets its total: the kept count when the filter allows, or with `q` the
    /// matches counted up to [`SEARCH_COUNT_CAP`], both inside the page's statement; except
    /// on SQLite, where a search's count is run first because it also tells the page how to
    /// find the matches.
    async fn total_source<C: ConnectionTrait>(
        &self,
        conn: &C,
        now: DateTime<Utc>,
    ) -> Result<Total, DbErr> {
        let backend = conn.get_database_backend();
        if let Some(total) = self.total_in_page(backend, now) {
            return Ok(total);
        }
        if self.q.is_none() {
            return Ok(Total::AfterPage);
        }
        let count = self.search_count(backend, now);
        let (n, exact) = capped_count_statement(conn, count, SEARCH_COUNT_CAP).await?;
        Ok(Total::Known(n, exact))
    }

    /// The total this filter's page statement reads on `backend` ([`Total::Kept`] or
    /// [`Total::Search`]), if it has one.
    fn total_in_page(&self, backend: DatabaseBackend, now: DateTime<Utc>) -> Option<Total> {
        if counts::is_kept(self) {
            return Some(Total::Kept);
        }
        (self.q.is_some() && backend == DatabaseBackend::Postgres).then(|| {
            Total::Search(Box::new(capped_count_query(
                self.search_count(backend, now),
                SEARCH_COUNT_CAP,
            )))
        })
    }

    /// Whether a condition besides the tenant and the text needs the ticket's own row.
    fn needs_ticket_row(&self) -> bool {
        self.status.is_some()
            || self.category.is_some()
            || self.priority.is_some()
            || self.assignee.is_some()
            || self.tag.is_some()
            || self.breached.is_some()
    }

    /// The statement counting a search's matches, driven by the search index so it stops
    /// after the cap. A tenant's search counts its first word's `ticket_words` rows (an
    /// index-only walk) and joins the tickets only for other filters; a search of every
    /// tenant reads the full-text index (on SQLite, the FTS5 matches joined to their
    /// `ticket_search_rows` row and ticket).
    fn search_count(&self, backend: DatabaseBackend, now: DateTime<Utc>) -> SelectStatement {
        // The filter's own statement: every match read from the search index.
        let filtered = || {
            self.apply(backend, rows::select_tickets(), now, Matches::Few)
                .into_query()
        };
        let words = self.q.as_deref().map(search_words).unwrap_or_default();
        if words.is_empty() {
            return filtered();
        }
        match (self.tenant_id, self.needs_ticket_row()) {
            (Some(tenant_id), false) => {
                let mut count = Query::select();
                count
                    .expr(Expr::cust("1"))
                    .from_as(Alias::new("ticket_words"), Alias::new("w0"))
                    .and_where(tenant_word(
                        backend,
                        "w0",
                        tenant_id,
                        &words[0],
                        self.search_internal,
                    ));
                for exists in other_words(backend, tenant_id, &words[1..], self.search_internal) {
                    count.and_where(exists);
                }
                count
            }
            (Some(_), true) => match self.word_walk(backend, &words, Matches::Many, now) {
                Some((walk, _)) => walk.into_query(),
                None => filtered(),
            },
            (None, _) if backend == DatabaseBackend::Postgres => filtered(),
            (None, _) => {
                let rest = TicketFilter {
                    q: None,
                    ..self.clone()
                };
                let mut count = rest
                    .apply(backend, rows::select_tickets(), now, Matches::Few)
                    .into_query();
                // FTS5 first (`CROSS JOIN` keeps SQLite's join order), then its row, then
                // the ticket.
                count
                    .from_clear()
                    .from(Alias::new("ticket_search"))
                    .join(
                        JoinType::CrossJoin,
                        Alias::new("ticket_search_rows"),
                        JoinCondition::all(),
                    )
                    .join(
                        JoinType::CrossJoin,
                        Alias::new("tickets"),
                        JoinCondition::all(),
                    )
                    .and_where(Expr::cust_with_values(
                        "ticket_search MATCH ?",
                        [fts5_query(&words, self.search_internal)],
                    ))
                    .and_where(Expr::cust("ticket_search_rows.rowid = ticket_search.rowid"))
                    .and_where(Expr::cust("tickets.id = ticket_search_rows.ticket_id"));
                count
            }
        }
    }

    /// A tenant's search newest first, as a walk of the tenant's words (`ticket_words`) in
    /// ticket-id order that stops after `limit + 1` matches: the rest of the filter joined
    /// to that index, and the column the walk is ordered by. `None` for a search that is not
    /// one tenant's.
    fn word_walk(
        &self,
        backend: DatabaseBackend,
        words: &[String],
        plan: Matches,
        now: DateTime<Utc>,
    ) -> Option<(Select<tickets::Entity>, &'static str)> {
        let tenant_id = self.tenant_id?;
        let (first, others) = words.split_first()?;
        let rest = TicketFilter {
            q: None,
            ..self.clone()
        };
        let mut walk = rest.apply(backend, rows::select_tickets(), now, plan);
        let word = tenant_word(backend, "w0", tenant_id, first, self.search_internal);
        match backend {
            DatabaseBackend::Postgres => {
                QueryTrait::query(&mut walk).join_as(
                    JoinType::InnerJoin,
                    Alias::new("ticket_words"),
                    Alias::new("w0"),
                    JoinCondition::all()
                        .add(word)
                        .add(Expr::cust("w0.ticket_id = tickets.id")),
                );
            }
            _ => {
                // The words first: `CROSS JOIN` keeps SQLite's join order, which would
                // otherwise walk the tenant's tickets and probe each one's word.
                QueryTrait::query(&mut walk)
                    .from_clear()
                    .from_as(Alias::new("ticket_words"), Alias::new("w0"))
                    .join(
                        JoinType::CrossJoin,
                        Alias::new("tickets"),
                        JoinCondition::all(),
                    );
                walk = walk
                    .filter(word)
                    .filter(Expr::cust("tickets.id = w0.ticket_id"));
            }
        }
        for exists in other_words(backend, tenant_id, others, self.search_internal) {
            walk = walk.filter(exists);
        }
        Some((walk, "w0.ticket_id"))
    }

    /// The total after a page that fetched `fetched` rows (up to `limit + 1`), given what
    /// [`Total::read_page`] left: known; still in the page's statement when the page had
    /// no row to carry it (0 on the first page, since the page and its count read one
    /// snapshot; past the end, the count by itself); else, when an offset page shows where
    /// the matches end, `offset + fetched`; else counted up to [`COUNT_CAP`].
    async fn total_after<C: ConnectionTrait>(
        &self,
        conn: &C,
        total: Total,
        now: DateTime<Utc>,
        page: Page,
        by_cursor: bool,
        fetched: usize,
    ) -> Result<(u64, bool), DbErr> {
        let past_the_end = by_cursor || page.offset > 0;
        match total {
            Total::Known(n, exact) => return Ok((n, exact)),
            Total::Kept | Total::Search(_) if !past_the_end => return Ok((0, true)),
            Total::Kept => {
                let n = count_value(conn, &counts::kept_query(self)).await?;
                return Ok(Total::counted(n, None));
            }
            Total::Search(query) => {
                let n = count_value(conn, &query).await?;
                return Ok(Total::counted(n, Some(SEARCH_COUNT_CAP)));
            }
            Total::AfterPage => {}
        }
        let fetched = fetched as u64;
        if !by_cursor && fetched <= page.limit && (fetched > 0 || page.offset == 0) {
            return Ok((page.offset + fetched, true));
        }
        // Only a list without `q` is counted after its page (a search's total is known
        // before it or read in it), so how the page finds matches does not arise.
        let base = self.apply(
            conn.get_database_backend(),
            rows::select_tickets(),
            now,
            Matches::Many,
        );
        capped_count(conn, base, COUNT_CAP).await
    }
}

/// `page`'s statement with the total `query` counts as one more column ([`TOTAL_COLUMN`]).
fn with_total(page: Select<tickets::Entity>, query: &SelectStatement) -> SelectStatement {
    let mut statement = page.into_query();
    // Not correlated with the page's rows: both databases evaluate it once.
    statement.expr_as(query.clone(), Alias::new(TOTAL_COLUMN));
    statement
}

impl Total {
    /// How the page should find a search's matches: few when all were counted (SQLite;
    /// PostgreSQL's search does not depend on it).
    fn plan(&self) -> Matches {
        match self {
            Total::Known(_, true) => Matches::Few,
            _ => Matches::Many,
        }
    }

    /// `(total, exact)` from what a count up to `cap` (none: no cap) counted.
    fn counted(n: i64, cap: Option<u64>) -> (u64, bool) {
        match cap {
            Some(cap) => capped_total(n, cap),
            None => (u64::try_from(n).unwrap_or(0), true),
        }
    }

    /// `page` as the statement that reads it on `backend`, with this total as one more
    /// column when the page's statement reads it.
    fn statement(
        &self,
        backend: DatabaseBackend,
        filter: &TicketFilter,
        page: Select<tickets::Entity>,
    ) -> Statement {
        match self {
            Total::Kept => backend.build(&with_total(page, &counts::kept_query(filter))),
            Total::Search(query) => backend.build(&with_total(page, query)),
            Total::Known(..) | Total::AfterPage => page.build(backend),
        }
    }

    /// A kept total's page statement as [`written`] keeps it; `None` for any other total
    /// (built by [`Total::statement`]).
    fn written(
        &self,
        backend: DatabaseBackend,
        filter: &TicketFilter,
        order: written::Order,
        page: Page,
    ) -> Option<Statement> {
        match self {
            Total::Kept => written::statement(backend, filter, order, page),
            Total::Known(..) | Total::Search(_) | Total::AfterPage => None,
        }
    }

    /// Reads the page `statement` (made by [`Total::statement`] or [`written`]): the rows,
    /// and the total as it stands after the page (known, when a row carried it).
    async fn read_page<C: ConnectionTrait>(
        self,
        conn: &C,
        statement: Statement,
    ) -> Result<(Vec<TicketRow>, Total), DbErr> {
        let rows = conn.query_all_raw(statement).await?;
        let cap = match &self {
            Total::Kept => None,
            Total::Search(_) => Some(SEARCH_COUNT_CAP),
            Total::Known(..) | Total::AfterPage => return Ok((rows::ticket_rows(rows)?, self)),
        };
        let total = match rows.first() {
            Some(row) => {
                let (n, exact) = Total::counted(row.try_get::<i64>("", TOTAL_COLUMN)?, cap);
                Total::Known(n, exact)
            }
            None => self,
        };
        Ok((rows::ticket_rows(rows)?, total))
    }
}

fn breached_condition(breached: bool, now: DateTime<Utc>) -> Condition {
    // Spelled out both ways: `NOT (…)` over NULL columns would drop rows.
    let due = || Expr::col(tickets::Column::FirstResponseDueAt);
    let answered = || tickets::Column::FirstResponseAt.is_not_null();
    let unanswered = || tickets::Column::FirstResponseAt.is_null();
    if breached {
        Condition::all()
            .add(tickets::Column::FirstResponseDueAt.is_not_null())
            .add(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(answered())
                            .add(Expr::col(tickets::Column::FirstResponseAt).gt(due())),
                    )
                    .add(
                        Condition::all()
                            .add(unanswered())
                            .add(tickets::Column::FirstResponseDueAt.lt(now)),
                    ),
            )
    } else {
        Condition::any()
            .add(tickets::Column::FirstResponseDueAt.is_null())
            .add(
                Condition::all()
                    .add(answered())
                    .add(Expr::col(tickets::Column::FirstResponseAt).lte(due())),
            )
            .add(
                Condition::all()
                    .add(unanswered())
                    .add(tickets::Column::FirstResponseDueAt.gte(now)),
            )
    }
}

/// The LIKE pattern of a ticket holding `tag` among its stored tags (`,a,b,`). Tags may hold
/// `_`, a LIKE wildcard: escaped.
fn tag_pattern(tag: &str) -> String {
    format!("%,{},%", escape_like(tag))
}

/// `s` with LIKE's wildcards and escape character escaped (for `ESCAPE '\\'`).
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Newest first (the `(tenant_id, id)` index, no sort), or with `q` and
/// [`Sort::Relevance`] best match first (offset paging only). With `cursor`, continues after
/// that row (offset is ignored); either way `next_cursor` points past the last row returned
/// when more remain.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &TicketFilter,
    page: Page,
    cursor: Option<Uuid>,
    sort: Sort,
    now: DateTime<Utc>,
) -> Result<Listed<TicketRow>, DbErr> {
    let backend = db.get_database_backend();
    let first = filter.total_source(db, now).await?;
    let words = filter.q.as_deref().map(search_words).unwrap_or_default();
    if sort == Sort::Relevance && !words.is_empty() {
        // Ranking reads every match, however many.
        let rank = relevance(backend, &words, filter.search_internal);
        let ranked = filter
            .apply(backend, rows::select_tickets(), now, Matches::Few)
            .order_by(rank, Order::Asc)
            .order_by_desc(tickets::Column::Id)
            .offset(page.offset)
            .limit(page.limit + 1);
        let statement = first.statement(backend, filter, ranked);
        let (mut rows, total) = first.read_page(db, statement).await?;
        let (total, total_is_exact) = filter
            .total_after(db, total, now, page, false, rows.len())
            .await?;
        rows.truncate(page.limit as usize);
        return Ok(Listed {
            rows,
            total,
            total_is_exact,
            next_cursor: None,
        });
    }
    let plan = first.plan();
    let written = first.written(backend, filter, written::Order::Newest(cursor), page);
    let statement = written.unwrap_or_else(|| {
        let query = match filter.word_walk(backend, &words, plan, now) {
            Some((walk, key)) => walk_page(backend, walk, key, page, cursor),
            None => newest_first(
                filter.apply(backend, rows::select_tickets(), now, plan),
                page,
                cursor,
            ),
        };
        first.statement(backend, filter, query)
    });
    let (mut rows, total) = first.read_page(db, statement).await?;
    let (total, total_is_exact) = filter
        .total_after(db, total, now, page, cursor.is_some(), rows.len())
        .await?;
    let next_cursor = match page_end(&mut rows, page) {
        Some(last) => Some(encode_cursor(last.ticket()?.id)),
        None => None,
    };
    Ok(Listed {
        rows,
        total,
        total_is_exact,
        next_cursor,
    })
}

/// Newest first from the `(tenant_id, id)` index: `limit + 1` rows after `cursor`.
fn newest_first(
    base: Select<tickets::Entity>,
    page: Page,
    cursor: Option<Uuid>,
) -> Select<tickets::Entity> {
    let query = base.order_by_desc(tickets::Column::Id);
    match cursor {
        Some(after) => query.filter(tickets::Column::Id.lt(after)),
        None => query.offset(page.offset),
    }
    .limit(page.limit + 1)
}

/// A word walk's page: `limit + 1` rows after `cursor`, newest first by `key` (the walked
/// index's ticket id, so the cursor bounds the walk itself).
fn walk_page(
    backend: DatabaseBackend,
    walk: Select<tickets::Entity>,
    key: &str,
    page: Page,
    cursor: Option<Uuid>,
) -> Select<tickets::Entity> {
    let query = walk.order_by(Expr::cust(key.to_string()), Order::Desc);
    let placeholder = if backend == DatabaseBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    match cursor {
        Some(after) => query.filter(Expr::cust_with_values(
            format!("{key} < {placeholder}"),
            [after],
        )),
        None => query.offset(page.offset),
    }
    .limit(page.limit + 1)
}

/// Where an inbox walk stands: the last ticket's place in the inbox order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxCursor {
    rank: i16,
    due: Option<DateTime<Utc>>,
    id: Uuid,
}

/// The inbox order as one number, smallest first: priority-queue tickets, then `urgent` >
/// `high` > `normal` > `low`. The same formula as the `inbox_rank` column.
fn inbox_rank(ticket: &TicketRef<'_>) -> i16 {
    (if ticket.sla_priority_queue { 0 } else { 4 }) + 3 - ticket.priority_rank
}

impl InboxCursor {
    fn after(ticket: &TicketRef<'_>) -> Self {
        Self {
            rank: inbox_rank(ticket),
            due: ticket.first_response_due_at,
            id: ticket.id,
        }
    }

    /// Opaque: rank, due time in microseconds (or none), id.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(27);
        bytes.extend_from_slice(&self.rank.to_be_bytes());
        match self.due {
            Some(due) => {
                bytes.push(1);
                bytes.extend_from_slice(&due.timestamp_micros().to_be_bytes());
            }
            None => bytes.push(0),
        }
        bytes.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(raw: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("cursor", "`cursor` is not a cursor this API returned");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let (rank, rest) = bytes.split_first_chunk::<2>().ok_or_else(bad)?;
        let (flag, rest) = rest.split_first().ok_or_else(bad)?;
        let (due, rest) = match flag {
            1 => {
                let (micros, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
                let due =
                    DateTime::from_timestamp_micros(i64::from_be_bytes(*micros)).ok_or_else(bad)?;
                (Some(due), rest)
            }
            0 => (None, rest),
            _ => return Err(bad()),
        };
        let id = Uuid::from_slice(rest).map_err(|_| bad())?;
        Ok(Self {
            rank: i16::from_be_bytes(*rank),
            due,
            id,
        })
    }

    fn condition(&self, backend: DatabaseBackend) -> SimpleExpr {
        match backend {
            DatabaseBackend::Postgres => Expr::cust_with_values(
                "(inbox_rank, inbox_due, id) > ($1, COALESCE($2, 'infinity'::timestamptz), $3)",
                [
                    sea_orm::Value::from(self.rank),
                    sea_orm::Value::from(self.due),
                    sea_orm::Value::from(self.id),
                ],
            ),
            _ => Expr::cust_with_values(
                "(inbox_rank, inbox_due, tickets.id) > (?, COALESCE(?, '9999-12-31T23:59:59Z'), ?)",
                [
                    sea_orm::Value::from(self.rank),
                    sea_orm::Value::from(self.due),
                    sea_orm::Value::from(self.id),
                ],
            ),
        }
    }
}

/// The operator inbox: priority-queue tickets first, then `urgent` > … > `low`, then the
/// earliest first-response due time (none last), then the oldest; read in that order from
/// `idx_tickets_inbox_status` (with a status) or `idx_tickets_inbox_all`. With `cursor`, continues
/// after that ticket (offset is ignored).
pub async fn inbox(
    db: &impl ConnectionTrait,
    filter: &TicketFilter,
    page: Page,
    cursor: Option<InboxCursor>,
    now: DateTime<Utc>,
) -> Result<Listed<TicketRow>, DbErr> {
    let backend = db.get_database_backend();
    let first = filter.total_source(db, now).await?;
    let plan = first.plan();
    let written = first.written(backend, filter, written::Order::Inbox(cursor), page);
    let statement = written.unwrap_or_else(|| {
        let base = filter.apply(backend, rows::select_tickets(), now, plan);
        first.statement(backend, filter, inbox_order(backend, base, page, cursor))
    });
    let (mut rows, total) = first.read_page(db, statement).await?;
    let (total, total_is_exact) = filter
        .total_after(db, total, now, page, cursor.is_some(), rows.len())
        .await?;
    let next_cursor = match page_end(&mut rows, page) {
        Some(last) => Some(InboxCursor::after(&last.ticket()?).encode()),
        None => None,
    };
    Ok(Listed {
        rows,
        total,
        total_is_exact,
        next_cursor,
    })
}

/// The inbox order: `limit + 1` rows after `cursor`.
fn inbox_order(
    backend: DatabaseBackend,
    base: Select<tickets::Entity>,
    page: Page,
    cursor: Option<InboxCursor>,
) -> Select<tickets::Entity> {
    let query = base
        .order_by_asc(Expr::cust("inbox_rank"))
        .order_by_asc(Expr::cust("inbox_due"))
        .order_by_asc(tickets::Column::Id);
    match cursor {
        Some(after) => query.filter(after.condition(backend)),
        None => query.offset(page.offset),
    }
    .limit(page.limit + 1)
}

/// The statements behind the lists, with the index each must read in order (no sort), for
/// the plan checks in the tests and `helpline-bench`.
pub fn plan_samples(
    backend: DatabaseBackend,
    tenant_id: Uuid,
) -> Vec<(&'static str, String, &'static str)> {
    let now = Utc::now();
    let page = Page {
        limit: 50,
        offset: 0,
    };
    let tenant = TicketFilter {
        tenant_id: Some(tenant_id),
        ..TicketFilter::default()
    };
    let open = TicketFilter {
        status: Some(TicketStatus::Open),
        ..TicketFilter::default()
    };
    let cursor = InboxCursor {
        rank: 5,
        due: Some(now),
        id: Uuid::now_v7(),
    };
    // The page's statement as the list sends it: with its total when it reads it.
    let sql = |filter: &TicketFilter, query: Select<tickets::Entity>| {
        filter
            .total_in_page(backend, now)
            .unwrap_or(Total::AfterPage)
            .statement(backend, filter, query)
            .to_string()
    };
    let list = |filter: &TicketFilter, cursor: Option<Uuid>| {
        let base = filter.apply(backend, rows::select_tickets(), now, Matches::Many);
        sql(filter, newest_first(base, page, cursor))
    };
    let inbox = |filter: &TicketFilter, cursor: Option<InboxCursor>| {
        let base = filter.apply(backend, rows::select_tickets(), now, Matches::Many);
        sql(filter, inbox_order(backend, base, page, cursor))
    };
    let status = TicketFilter {
        status: Some(TicketStatus::Open),
        ..tenant.clone()
    };
    let status_priority = TicketFilter {
        priority: Some(Priority::High),
        ..status.clone()
    };
    // A tenant's search with more matches than it counts walks the tenant's words in
    // ticket-id order.
    let search = TicketFilter {
        q: Some("zirconium".into()),
        ..tenant.clone()
    };
    let search_walk = |filter: &TicketFilter| {
        let words = filter.q.as_deref().map(search_words).unwrap_or_default();
        match filter.word_walk(backend, &words, Matches::Many, now) {
            Some((walk, key)) => sql(filter, walk_page(backend, walk, key, page, None)),
            None => String::new(),
        }
    };
    vec![
        ("list", list(&tenant, None), "idx_tickets_tenant_id"),
        (
            "search, many matches",
            search_walk(&search),
            match backend {
                DatabaseBackend::Postgres => "ticket_words_pkey",
                _ => "w0 USING PRIMARY KEY",
            },
        ),
        (
            "list after a cursor",
            list(&tenant, Some(Uuid::now_v7())),
            "idx_tickets_tenant_id",
        ),
        (
            "list by status",
            list(&status, None),
            "idx_tickets_tenant_status",
        ),
        (
            "list by status and priority",
            list(&status_priority, None),
            "idx_tickets_tenant_status_priority",
        ),
        (
            "inbox, open",
            inbox(&open, None),
            "idx_tickets_inbox_status",
        ),
        (
            "inbox, open, after a cursor",
            inbox(&open, Some(cursor)),
            "idx_tickets_inbox_status",
        ),
        (
            "inbox, everything",
            inbox(&TicketFilter::default(), Some(cursor)),
            "idx_tickets_inbox_all",
        ),
    ]
}

fn thread_query(ticket_id: Uuid, include_internal: bool) -> Select<messages::Entity> {
    messages::Entity::find().filter(thread_condition(ticket_id, include_internal))
}

/// A ticket's thread: its messages, internal notes only when `include_internal`.
fn thread_condition(ticket_id: Uuid, include_internal: bool) -> Condition {
    let thread = Condition::all().add(messages::Column::TicketId.eq(ticket_id));
    if include_internal {
        thread
    } else {
        thread.add(messages::Column::Internal.eq(false))
    }
}

/// The most messages a tenant's single-ticket answer embeds, oldest first; the rest is paged
/// at `GET /v1/support/tickets/{id}/messages`.
pub const EMBEDDED_MESSAGES: u64 = 50;
/// The most messages, and the most events, an operator's single-ticket answer carries.
pub const OPERATOR_EMBEDDED: u64 = 1_000;

/// The first rows of a longer list, and whether more follow.
#[derive(Debug)]
pub struct Head<T> {
    pub rows: Vec<T>,
    pub more: bool,
}

impl<T> Head<T> {
    fn of(mut rows: Vec<T>, limit: u64) -> Self {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Self { rows, more }
    }
}

/// The first `limit` messages of a ticket, oldest first.
pub async fn thread_head(
    db: &impl ConnectionTrait,
    ticket_id: Uuid,
    include_internal: bool,
    limit: u64,
) -> Result<Head<messages::Model>, DbErr> {
    let rows = thread_query(ticket_id, include_internal)
        .order_by_asc(messages::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(Head::of(rows, limit))
}

/// A ticket and the first `limit` messages of its thread, oldest first, in one statement (one
/// round trip): the ticket left-joined to those of its messages whose ids are among the
/// thread's first `limit + 1`. `None` when no such ticket (of `tenant_id`, if given).
pub async fn ticket_with_thread(
    db: &impl ConnectionTrait,
    ticket_id: Uuid,
    tenant_id: Option<Uuid>,
    include_internal: bool,
    limit: u64,
) -> Result<Option<(tickets::Model, Head<messages::Model>)>, DbErr> {
    let statement = ticket_with_thread_statement(
        db.get_database_backend(),
        ticket_id,
        tenant_id,
        include_internal,
        limit,
    );
    let found = db.query_all_raw(statement).await?;
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let ticket = rows::ticket_at(first, 0)?;
    let mut messages = Vec::with_capacity(found.len());
    for row in &found {
        if let Some(message) = rows::message_at(row, rows::TICKET_COLUMNS)? {
            messages.push(message);
        }
    }
    Ok(Some((ticket, Head::of(messages, limit))))
}

/// The ticket's columns, then its thread's first `limit + 1` messages' in a left join (none:
/// one row of the ticket's alone).
fn ticket_with_thread_query(
    ticket_id: Uuid,
    tenant_id: Option<Uuid>,
    include_internal: bool,
    limit: u64,
) -> SelectStatement {
    let message = |column| Expr::col((messages::Entity, column));
    let mut head = Query::select();
    head.expr(message(messages::Column::Id))
        .from(messages::Entity)
        .cond_where(thread_condition(ticket_id, include_internal))
        .order_by((messages::Entity, messages::Column::Id), Order::Asc)
        .limit(limit + 1);
    let mut query = rows::select_tickets().filter(tickets::Column::Id.eq(ticket_id));
    if let Some(tenant_id) = tenant_id {
        query = query.filter(tickets::Column::TenantId.eq(tenant_id));
    }
    let mut statement = query.into_query();
    statement
        .expr(rows::message_columns())
        .left_join(
            messages::Entity,
            JoinCondition::all()
                .add(
                    message(messages::Column::TicketId)
                        .equals((tickets::Entity, tickets::Column::Id)),
                )
                .add(message(messages::Column::Id).in_subquery(head)),
        )
        .order_by((messages::Entity, messages::Column::Id), Order::Asc);
    statement
}

/// [`ticket_with_thread_query`] as the backend's SQL and values. The hottest read: its SQL
/// (~2 KB, 60 columns) is built and quoted once per backend and shape, and each call only
/// lists its values, in the order the builder binds them (docs/PERFORMANCE.md, "Routes in
/// the order requests need them; get one's SQL written once").
fn ticket_with_thread_statement(
    backend: DatabaseBackend,
    ticket_id: Uuid,
    tenant_id: Option<Uuid>,
    include_internal: bool,
    limit: u64,
) -> Statement {
    static SQL: [OnceLock<String>; 12] = [const { OnceLock::new() }; 12];
    let backend_index = match backend {
        DatabaseBackend::Postgres => 0,
        DatabaseBackend::Sqlite => 1,
        _ => 2,
    };
    let shape =
        backend_index * 4 + usize::from(tenant_id.is_some()) * 2 + usize::from(include_internal);
    let sql = SQL[shape].get_or_init(|| {
        backend
            .build(&ticket_with_thread_query(
                Uuid::nil(),
                tenant_id.map(|_| Uuid::nil()),
                include_internal,
                limit,
            ))
            .sql
    });
    let mut values: Vec<Value> = Vec::with_capacity(5);
    values.push(ticket_id.into());
    if !include_internal {
        values.push(false.into());
    }
    values.push((limit + 1).into());
    values.push(ticket_id.into());
    if let Some(tenant_id) = tenant_id {
        values.push(tenant_id.into());
    }
    Statement::from_sql_and_values(backend, sql.as_str(), values)
}

/// Every message of a ticket, oldest first.
pub async fn all_messages(
    db: &impl ConnectionTrait,
    ticket_id: Uuid,
    include_internal: bool,
) -> Result<Vec<messages::Model>, DbErr> {
    thread_query(ticket_id, include_internal)
        .order_by_asc(messages::Column::Id)
        .all(db)
        .await
}

/// One page of the public thread, oldest first, from the `(ticket_id, id)` index; with
/// `cursor`, continues after that message (offset is ignored). `total` is the ticket's kept
/// `message_count` (its public messages).
pub async fn thread_page(
    db: &impl ConnectionTrait,
    ticket: &tickets::Model,
    page: Page,
    cursor: Option<Uuid>,
) -> Result<Listed<messages::Model>, DbErr> {
    let query = thread_query(ticket.id, false).order_by_asc(messages::Column::Id);
    let query = match cursor {
        Some(after) => query.filter(messages::Column::Id.gt(after)),
        None => query.offset(page.offset),
    };
    let rows = query.limit(page.limit + 1).all(db).await?;
    let (rows, next_cursor) = keyset_page(rows, page, |m| m.id);
    Ok(Listed {
        rows,
        total: u64::try_from(ticket.message_count).unwrap_or(0),
        total_is_exact: true,
        next_cursor,
    })
}

fn events_query(ticket_id: Uuid, include_internal: bool) -> Select<ticket_events::Entity> {
    let query = ticket_events::Entity::find().filter(ticket_events::Column::TicketId.eq(ticket_id));
    if include_internal {
        query
    } else {
        query.filter(ticket_events::Column::Public.eq(true))
    }
}

/// One page of a ticket's history, oldest first, and how many events it has; tenants see
/// only public events.
pub async fn events_page(
    db: &impl ConnectionTrait,
    ticket_id: Uuid,
    include_internal: bool,
    page: Page,
) -> Result<(Vec<ticket_events::Model>, u64), DbErr> {
    let query = events_query(ticket_id, include_internal);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(ticket_events::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// The first `limit` events of a ticket, oldest first.
pub async fn events_head(
    db: &impl ConnectionTrait,
    ticket_id: Uuid,
    include_internal: bool,
    limit: u64,
) -> Result<Head<ticket_events::Model>, DbErr> {
    let rows = events_query(ticket_id, include_internal)
        .order_by_asc(ticket_events::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(Head::of(rows, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }

    #[test]
    fn get_ones_written_sql_is_what_the_builder_builds() {
        let ticket = Uuid::now_v7();
        let tenant = Uuid::now_v7();
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            for tenant_id in [Some(tenant), None] {
                for include_internal in [false, true] {
                    for limit in [EMBEDDED_MESSAGES, OPERATOR_EMBEDDED] {
                        let built = backend.build(&ticket_with_thread_query(
                            ticket,
                            tenant_id,
                            include_internal,
                            limit,
                        ));
                        let written = ticket_with_thread_statement(
                            backend,
                            ticket,
                            tenant_id,
                            include_internal,
                            limit,
                        );
                        assert_eq!(
                            written.sql, built.sql,
                            "{backend:?} {tenant_id:?} {include_internal} {limit}"
                        );
                        assert_eq!(
                            written.values, built.values,
                            "{backend:?} {tenant_id:?} {include_internal} {limit}"
                        );
                    }
                }
            }
        }
    }
}
