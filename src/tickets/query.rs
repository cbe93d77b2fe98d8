//! Ticket reads: they go straight to the database, never through the actor.
use chrono::{DateTime, Utc};
use entities::{messages, ticket_events, tickets};
use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, ExprTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::domain::status::TicketStatus;
use crate::domain::ticket::{Category, Priority};
use crate::pagination::{Listed, Page, keyset_page};

/// Filters shared by the tenant's list and the operator inbox.
#[derive(Debug, Default, Clone)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    pub q: Option<String>,
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

impl TicketFilter {
    fn apply(
        &self,
        mut query: Select<tickets::Entity>,
        now: DateTime<Utc>,
    ) -> Select<tickets::Entity> {
        if let Some(tenant_id) = self.tenant_id {
            query = query.filter(tickets::Column::TenantId.eq(tenant_id));
        }
        if let Some(status) = self.status {
            query = query.filter(tickets::Column::Status.eq(status.as_str()));
        }
        if let Some(category) = self.category {
            query = query.filter(tickets::Column::Category.eq(category.as_str()));
        }
        if let Some(priority) = self.priority {
            query = query.filter(tickets::Column::Priority.eq(priority.as_str()));
        }
        if let Some(text) = &self.q {
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            let like = |col: tickets::Column| {
                Expr::expr(Func::lower(Expr::col(col)))
                    .like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            query = query.filter(
                Condition::any()
                    .add(like(tickets::Column::Subject))
                    .add(like(tickets::Column::Description)),
            );
        }
        match self.assignee {
            Some(Assignee::Nobody) => query = query.filter(tickets::Column::AssigneeId.is_null()),
            Some(Assignee::Operator(id)) => {
                query = query.filter(tickets::Column::AssigneeId.eq(id));
            }
            None => {}
        }
        if let Some(tag) = &self.tag {
            // Tags may hold `_`, a LIKE wildcard: escaped like the text search.
            let pattern = format!("%,{},%", escape_like(tag));
            query = query
                .filter(Expr::col(tickets::Column::Tags).like(LikeExpr::new(pattern).escape('\\')));
        }
        if let Some(breached) = self.breached {
            // Spelled out both ways: `NOT (…)` over NULL columns would drop rows.
            let due = || Expr::col(tickets::Column::FirstResponseDueAt);
            let answered = || tickets::Column::FirstResponseAt.is_not_null();
            let unanswered = || tickets::Column::FirstResponseAt.is_null();
            let late = Condition::all()
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
                );
            let on_time = Condition::any()
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
                );
            query = query.filter(if breached { late } else { on_time });
        }
        query
    }
}

/// `s` with LIKE's wildcards and escape character escaped (for `ESCAPE '\\'`).
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Newest first. With `cursor`, continues after that row (offset is ignored); either way
/// `next_cursor` points past the last row returned when more remain.
pub async fn list(
    db: &DatabaseConnection,
    filter: &TicketFilter,
    page: Page,
    cursor: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Listed<tickets::Model>, DbErr> {
    let base = filter.apply(tickets::Entity::find(), now);
    let total = base.clone().count(db).await?;
    let mut query = base.order_by_desc(tickets::Column::Id);
    query = match cursor {
        Some(after) => query.filter(tickets::Column::Id.lt(after)),
        None => query.offset(page.offset),
    };
    let rows = query.limit(page.limit + 1).all(db).await?;
    let (rows, next_cursor) = keyset_page(rows, page, |t| t.id);
    Ok(Listed {
        rows,
        total,
        next_cursor,
    })
}

/// The operator inbox: priority-queue tickets first, then `urgent` > … > `low`, then the
/// earliest first-response due time, then the oldest.
pub async fn inbox(
    db: &DatabaseConnection,
    filter: &TicketFilter,
    page: Page,
    now: DateTime<Utc>,
) -> Result<Listed<tickets::Model>, DbErr> {
    let base = filter.apply(tickets::Entity::find(), now);
    let total = base.clone().count(db).await?;
    let rows = base
        .order_by_desc(tickets::Column::SlaPriorityQueue)
        .order_by_desc(tickets::Column::PriorityRank)
        .order_by_with_nulls(
            tickets::Column::FirstResponseDueAt,
            Order::Asc,
            sea_orm::sea_query::NullOrdering::Last,
        )
        .order_by_asc(tickets::Column::CreatedAt)
        .order_by_asc(tickets::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok(Listed {
        rows,
        total,
        next_cursor: None,
    })
}

fn thread_query(ticket_id: Uuid, include_internal: bool) -> Select<messages::Entity> {
    let query = messages::Entity::find().filter(messages::Column::TicketId.eq(ticket_id));
    if include_internal {
        query
    } else {
        query.filter(messages::Column::Internal.eq(false))
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
    db: &DatabaseConnection,
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

/// Every message of a ticket, oldest first.
pub async fn all_messages(
    db: &DatabaseConnection,
    ticket_id: Uuid,
    include_internal: bool,
) -> Result<Vec<messages::Model>, DbErr> {
    thread_query(ticket_id, include_internal)
        .order_by_asc(messages::Column::Id)
        .all(db)
        .await
}

/// One page of the public thread, oldest first.
pub async fn thread_page(
    db: &DatabaseConnection,
    ticket_id: Uuid,
    page: Page,
) -> Result<(Vec<messages::Model>, u64), DbErr> {
    let query = thread_query(ticket_id, false);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(messages::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
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
    db: &DatabaseConnection,
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
    db: &DatabaseConnection,
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
}
