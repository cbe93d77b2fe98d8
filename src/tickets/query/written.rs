//! The SQL of a list page whose total is kept ([`Total::Kept`]): a tenant's tickets newest
//! first, or the operator inbox. The statement, about 2 KB with its 33 columns and its
//! count, depends only on which filters are set and how the page continues, so it is built
//! by the query builder once per shape and backend; each call lists its values in the order
//! the builder binds them (docs/PERFORMANCE.md, "jemalloc, and list statements written once
//! per shape").
//! The tests below check both against the builder for every shape.
use std::sync::OnceLock;

use chrono::Utc;
use sea_orm::{DatabaseBackend, Statement, Value};
use uuid::Uuid;

use super::{
    Assignee, InboxCursor, Matches, TicketFilter, Total, inbox_order, newest_first, tag_pattern,
};
use crate::pagination::Page;
use crate::tickets::rows;

/// A page's order, and the row it continues after (none: it starts at the page's offset).
#[derive(Debug, Clone, Copy)]
pub(super) enum Order {
    Newest(Option<Uuid>),
    Inbox(Option<InboxCursor>),
}

/// Two backends × three assignee filters × seven on-or-off choices (inbox or newest, a
/// cursor, a tenant, a status, a category, a priority, a tag).
const SHAPES: usize = 2 * 3 * (1 << 7);

/// The page statement of `filter` (whose total is kept) in `order`; `None` on a backend this
/// module does not write for.
pub(super) fn statement(
    backend: DatabaseBackend,
    filter: &TicketFilter,
    order: Order,
    page: Page,
) -> Option<Statement> {
    static SQL: [OnceLock<String>; SHAPES] = [const { OnceLock::new() }; SHAPES];
    let shape = shape(backend, filter, order)?;
    let sql = SQL[shape].get_or_init(|| built(backend, filter, order, page).sql);
    Some(Statement::from_sql_and_values(
        backend,
        sql.as_str(),
        values(filter, order, page),
    ))
}

/// The statement as the query builder makes it: what [`statement`] writes.
fn built(backend: DatabaseBackend, filter: &TicketFilter, order: Order, page: Page) -> Statement {
    // A kept filter has neither `q` nor `breached`: the time and the search plan are unused.
    let base = filter.apply(backend, rows::select_tickets(), Utc::now(), Matches::Many);
    let query = match order {
        Order::Newest(cursor) => newest_first(base, page, cursor),
        Order::Inbox(cursor) => inbox_order(backend, base, page, cursor),
    };
    Total::Kept.statement(backend, filter, query)
}

/// Which of the [`SHAPES`] `filter` in `order` has on `backend`.
fn shape(backend: DatabaseBackend, filter: &TicketFilter, order: Order) -> Option<usize> {
    let backend = match backend {
        DatabaseBackend::Postgres => 0,
        DatabaseBackend::Sqlite => 1,
        _ => return None,
    };
    let assignee = match filter.assignee {
        None => 0,
        Some(Assignee::Nobody) => 1,
        Some(Assignee::Operator(_)) => 2,
    };
    let (inbox, cursor) = match order {
        Order::Newest(cursor) => (false, cursor.is_some()),
        Order::Inbox(cursor) => (true, cursor.is_some()),
    };
    let choices = [
        inbox,
        cursor,
        filter.tenant_id.is_some(),
        filter.status.is_some(),
        filter.category.is_some(),
        filter.priority.is_some(),
        filter.tag.is_some(),
    ];
    let bits = choices
        .iter()
        .enumerate()
        .fold(0, |bits, (i, &on)| bits | usize::from(on) << i);
    Some((bits * 3 + assignee) * 2 + backend)
}

/// The statement's values in the builder's order: the kept count's
/// ([`crate::tickets::counts::kept_query`]), the page's conditions
/// ([`TicketFilter::apply`]), where the page continues, and its size.
fn values(filter: &TicketFilter, order: Order, page: Page) -> Vec<Value> {
    let mut values = Vec::with_capacity(16);
    values.extend(filter.tenant_id.map(Value::from));
    values.push(filter.tag.clone().unwrap_or_default().into());
    values.extend(filter.status.map(Value::from));
    values.extend(filter.category.map(Value::from));
    values.extend(filter.priority.map(Value::from));
    match filter.assignee {
        Some(Assignee::Nobody) => values.push(Uuid::nil().into()),
        Some(Assignee::Operator(id)) => values.push(id.into()),
        None => {}
    }

    values.extend(filter.tenant_id.map(Value::from));
    values.extend(filter.status.map(Value::from));
    values.extend(filter.category.map(Value::from));
    values.extend(filter.priority.map(Value::from));
    if let Some(Assignee::Operator(id)) = filter.assignee {
        values.push(id.into());
    }
    values.extend(
        filter
            .tag
            .as_deref()
            .map(|tag| Value::from(tag_pattern(tag))),
    );

    let offset = match order {
        Order::Newest(Some(after)) => {
            values.push(after.into());
            None
        }
        Order::Inbox(Some(after)) => {
            values.extend([after.rank.into(), after.due.into(), after.id.into()]);
            None
        }
        Order::Newest(None) | Order::Inbox(None) => Some(page.offset),
    };
    values.push((page.limit + 1).into());
    values.extend(offset.map(Value::from));
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::TicketStatus;
    use crate::domain::ticket::{Category, Priority};

    /// Every filter a kept list can have, with `n` varying the values.
    fn filters(n: u8) -> Vec<TicketFilter> {
        let mut all = Vec::new();
        for bits in 0..(1u8 << 5) {
            for assignee in [
                None,
                Some(Assignee::Nobody),
                Some(Assignee::Operator(Uuid::now_v7())),
            ] {
                let on = |i: u8| bits & (1 << i) != 0;
                all.push(TicketFilter {
                    tenant_id: on(0).then(Uuid::now_v7),
                    status: on(1).then_some(if n == 0 {
                        TicketStatus::Open
                    } else {
                        TicketStatus::Resolved
                    }),
                    category: on(2).then_some(if n == 0 {
                        Category::Bug
                    } else {
                        Category::Billing
                    }),
                    priority: on(3).then_some(if n == 0 {
                        Priority::High
                    } else {
                        Priority::Low
                    }),
                    tag: on(4).then(|| format!("vip_{n}%")),
                    assignee,
                    ..TicketFilter::default()
                });
            }
        }
        all
    }

    #[test]
    fn every_shape_is_written_as_the_builder_builds_it() {
        let cursors = |n: i16| {
            [
                Order::Newest(None),
                Order::Newest(Some(Uuid::now_v7())),
                Order::Inbox(None),
                Order::Inbox(Some(InboxCursor {
                    rank: n,
                    due: Some(Utc::now()),
                    id: Uuid::now_v7(),
                })),
                Order::Inbox(Some(InboxCursor {
                    rank: n + 1,
                    due: None,
                    id: Uuid::now_v7(),
                })),
            ]
        };
        let mut shapes = std::collections::HashSet::new();
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            // Twice, with other values: the SQL of a shape is built by its first call.
            for n in 0..2u8 {
                let page = Page {
                    limit: 20 + u64::from(n),
                    offset: 40 * u64::from(n),
                };
                for filter in filters(n) {
                    for order in cursors(i16::from(n)) {
                        let written = statement(backend, &filter, order, page)
                            .expect("a backend the module writes for");
                        let built = built(backend, &filter, order, page);
                        let context = format!("{backend:?} {filter:?} {order:?}");
                        assert_eq!(written.sql, built.sql, "{context}");
                        assert_eq!(written.values, built.values, "{context}");
                        shapes.insert(shape(backend, &filter, order));
                    }
                }
            }
        }
        assert_eq!(shapes.len(), SHAPES, "every shape has its own SQL");
        assert!(
            statement(
                DatabaseBackend::MySql,
                &filters(0)[0],
                Order::Newest(None),
                Page {
                    limit: 1,
                    offset: 0
                }
            )
            .is_none()
        );
    }
}
