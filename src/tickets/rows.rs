//! Ticket and message rows decoded by column position, straight from the driver's row: the
//! hot reads select every column of `tickets` (then, for one ticket, of `messages`) in the
//! entities' column order, so a row needs no lookup of each column by name, and the
//! vocabulary columns are read as borrowed text (docs/PERFORMANCE.md, "Cheaper reads in
//! the server"). Each value is decoded as sea-orm decodes it (`try_get::<Option<T>>`).
use chrono::{DateTime, Utc};
use entities::{messages, tickets};
use sea_orm::sqlx::{ColumnIndex, Decode, Row, Type};
use sea_orm::{DbErr, QueryResult};
use uuid::Uuid;

/// How many columns a `tickets` row has; a joined table's columns start here.
pub const TICKET_COLUMNS: usize = 33;

fn column_err(table: &str, index: usize, e: impl std::fmt::Display) -> DbErr {
    DbErr::Type(format!("{table} column {index}: {e}"))
}

/// A vocabulary column, parsed from the text it is stored as.
fn vocabulary<T>(
    table: &str,
    index: usize,
    raw: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, DbErr> {
    parse(raw).ok_or_else(|| column_err(table, index, format!("unknown value {raw:?}")))
}

/// The row's values, column by column from `at`.
struct Cursor<'r, R> {
    row: &'r R,
    table: &'static str,
    next: usize,
}

impl<'r, R> Cursor<'r, R>
where
    R: Row,
    usize: ColumnIndex<R>,
{
    fn get<T>(&mut self) -> Result<T, DbErr>
    where
        T: Decode<'r, R::Database> + Type<R::Database>,
    {
        let index = self.next;
        self.next += 1;
        self.row
            .try_get::<T, _>(index)
            .map_err(|e| column_err(self.table, index, e))
    }

    fn vocabulary<T>(&mut self, parse: fn(&str) -> Option<T>) -> Result<T, DbErr>
    where
        &'r str: Decode<'r, R::Database> + Type<R::Database>,
    {
        let index = self.next;
        let raw: &str = self.get()?;
        vocabulary(self.table, index, raw, parse)
    }
}

fn ticket<'r, R>(row: &'r R, at: usize) -> Result<tickets::Model, DbErr>
where
    R: Row,
    usize: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    i16: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    use entities::values::{
        BountyStatus, Category, ChargeStatus, Priority, TicketEmailStatus, TicketStatus,
    };
    let mut c = Cursor {
        row,
        table: "tickets",
        next: at,
    };
    // The order of `tickets::Column` (checked by `columns_are_in_entity_order`).
    Ok(tickets::Model {
        id: c.get()?,
        tenant_id: c.get()?,
        subject: c.get()?,
        category: c.vocabulary(Category::parse)?,
        priority: c.vocabulary(Priority::parse)?,
        priority_rank: c.get()?,
        status: c.vocabulary(TicketStatus::parse)?,
        description: c.get()?,
        call_id: c.get()?,
        source_session_id: c.get()?,
        contact_email: c.get()?,
        plan_tier: c.get()?,
        sla_tier: c.get()?,
        sla_first_response_target: c.get()?,
        sla_priority_queue: c.get()?,
        first_response_due_at: c.get()?,
        first_response_at: c.get()?,
        charge_cents: c.get()?,
        charge_status: c.vocabulary(ChargeStatus::parse)?,
        charge_entry_id: c.get()?,
        bounty_status: c.vocabulary(BountyStatus::parse)?,
        bounty_cents: c.get()?,
        email_status: c.vocabulary(TicketEmailStatus::parse)?,
        email_reason: c.get()?,
        message_count: c.get()?,
        created_at: c.get()?,
        updated_at: c.get()?,
        resolved_at: c.get()?,
        closed_at: c.get()?,
        version: c.get()?,
        assignee_id: c.get()?,
        tags: c.get()?,
        merged_into: c.get()?,
    })
}

/// A `messages` row from `at`, or `None` when its id is NULL (an outer join found none).
fn message<'r, R>(row: &'r R, at: usize) -> Result<Option<messages::Model>, DbErr>
where
    R: Row,
    usize: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    use entities::values::MessageAuthor;
    let mut c = Cursor {
        row,
        table: "messages",
        next: at,
    };
    let Some(id) = c.get::<Option<Uuid>>()? else {
        return Ok(None);
    };
    // The order of `messages::Column` (checked by `columns_are_in_entity_order`).
    Ok(Some(messages::Model {
        id,
        ticket_id: c.get()?,
        tenant_id: c.get()?,
        author: c.vocabulary(MessageAuthor::parse)?,
        author_name: c.get()?,
        body: c.get()?,
        internal: c.get()?,
        created_at: c.get()?,
        merged_from: c.get()?,
    }))
}

fn unsupported() -> DbErr {
    DbErr::Type("rows of this backend are not decoded by position".into())
}

/// The ticket whose columns start at `at` (0 for `tickets::Entity::find()`).
pub fn ticket_at(row: &QueryResult, at: usize) -> Result<tickets::Model, DbErr> {
    if let Some(pg) = row.try_as_pg_row() {
        return ticket(pg, at);
    }
    if let Some(sqlite) = row.try_as_sqlite_row() {
        return ticket(sqlite, at);
    }
    Err(unsupported())
}

/// The tickets of rows that start with a ticket's columns (a page of `tickets::Entity::find()`).
pub fn tickets(rows: &[QueryResult]) -> Result<Vec<tickets::Model>, DbErr> {
    rows.iter().map(|row| ticket_at(row, 0)).collect()
}

/// The message whose columns start at `at`; `None` when its id is NULL.
pub fn message_at(row: &QueryResult, at: usize) -> Result<Option<messages::Model>, DbErr> {
    if let Some(pg) = row.try_as_pg_row() {
        return message(pg, at);
    }
    if let Some(sqlite) = row.try_as_sqlite_row() {
        return message(sqlite, at);
    }
    Err(unsupported())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{IdenStatic, Iterable};

    #[test]
    fn columns_are_in_entity_order() {
        let ticket: Vec<&str> = tickets::Column::iter().map(|c| c.as_str()).collect();
        assert_eq!(
            ticket,
            [
                "id",
                "tenant_id",
                "subject",
                "category",
                "priority",
                "priority_rank",
                "status",
                "description",
                "call_id",
                "source_session_id",
                "contact_email",
                "plan_tier",
                "sla_tier",
                "sla_first_response_target",
                "sla_priority_queue",
                "first_response_due_at",
                "first_response_at",
                "charge_cents",
                "charge_status",
                "charge_entry_id",
                "bounty_status",
                "bounty_cents",
                "email_status",
                "email_reason",
                "message_count",
                "created_at",
                "updated_at",
                "resolved_at",
                "closed_at",
                "version",
                "assignee_id",
                "tags",
                "merged_into",
            ]
        );
        assert_eq!(ticket.len(), TICKET_COLUMNS);
        let message: Vec<&str> = messages::Column::iter().map(|c| c.as_str()).collect();
        assert_eq!(
            message,
            [
                "id",
                "ticket_id",
                "tenant_id",
                "author",
                "author_name",
                "body",
                "internal",
                "created_at",
                "merged_from",
            ]
        );
    }
}
