//! Ticket and message rows decoded by column position, straight from the driver's row: the
//! hot reads select every column of `tickets` (then, for one ticket, of `messages`) in the
//! entities' column order, so a row needs no lookup of each column by name, and the
//! vocabulary columns are read as borrowed text (docs/PERFORMANCE.md, "Cheaper reads in
//! the server"). Each value is decoded as sea-orm decodes it (`try_get::<Option<T>>`), except
//! PostgreSQL's timestamps ([`Stamp`]).
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use entities::values::{
    BountyStatus, Category, ChargeStatus, Priority, TicketEmailStatus, TicketStatus,
};
use entities::{messages, tickets};
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::error::BoxDynError;
use sea_orm::sqlx::postgres::{PgValueFormat, PgValueRef, Postgres};
use sea_orm::sqlx::sqlite::{Sqlite, SqliteValueRef};
use sea_orm::sqlx::{ColumnIndex, Database, Decode, Row, Type};
use sea_orm::{
    ColumnTrait, DbErr, EntityName, EntityTrait, IdenStatic, Iterable, QueryResult, QuerySelect,
    Select,
};
use uuid::Uuid;

/// How many columns a `tickets` row has; a joined table's columns start here.
pub const TICKET_COLUMNS: usize = 33;

/// `tickets::Entity::find()` with its columns written as one expression: the same SQL, in
/// the entity's column order, without building, cloning and quoting an expression per column
/// on every read (docs/PERFORMANCE.md, "Timestamps read and written in one step").
pub fn select_tickets() -> Select<tickets::Entity> {
    static COLUMNS: OnceLock<String> = OnceLock::new();
    static SELECT: OnceLock<Select<tickets::Entity>> = OnceLock::new();
    let select = SELECT.get_or_init(|| {
        let columns = COLUMNS.get_or_init(|| column_list(tickets::Entity, tickets::Column::iter()));
        tickets::Entity::find()
            .select_only()
            .expr(Expr::cust(columns.as_str()))
    });
    select.clone()
}

/// The columns of `messages` in the entity's order, as one expression (to follow a ticket's
/// in a joined row: [`message_at`]).
pub fn message_columns() -> Expr {
    static COLUMNS: OnceLock<String> = OnceLock::new();
    Expr::cust(
        COLUMNS
            .get_or_init(|| column_list(messages::Entity, messages::Column::iter()))
            .as_str(),
    )
}

/// `"table"."column", …` as sea-query quotes them on both backends.
fn column_list<C: ColumnTrait + IdenStatic>(
    table: impl EntityName,
    columns: impl Iterator<Item = C>,
) -> String {
    let table = table.table_name();
    columns
        .map(|c| format!("\"{table}\".\"{}\"", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

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

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01T00:00:00Z.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A timestamp column. PostgreSQL sends a `timestamptz` as microseconds since 2000-01-01,
/// which become a date and time in one conversion; sqlx's own decoding builds the year 2000
/// and adds a duration to it, for every value (docs/PERFORMANCE.md, "Timestamps read and
/// written in one step"). Any other form, and SQLite's text, go through sqlx's decoding.
struct Stamp(DateTime<Utc>);

/// Typed as the `DateTime<Utc>` it decodes to, on every backend.
impl<DB: Database> Type<DB> for Stamp
where
    DateTime<Utc>: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <DateTime<Utc> as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <DateTime<Utc> as Type<DB>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Stamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() != PgValueFormat::Binary {
            return <DateTime<Utc> as Decode<Postgres>>::decode(value).map(Stamp);
        }
        let bytes: [u8; 8] = value.as_bytes()?.try_into()?;
        i64::from_be_bytes(bytes)
            .checked_add(POSTGRES_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .map(Stamp)
            .ok_or_else(|| "timestamptz out of range".into())
    }
}

impl<'r> Decode<'r, Sqlite> for Stamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<Sqlite>>::decode(value).map(Stamp)
    }
}

/// The row's values, column by column from `at`. `checked`: each value's type is checked
/// against the Rust type before it is decoded (sqlx's `try_get`); unchecked only for rows of
/// a statement whose first row was decoded checked (see [`TicketRows`]).
struct Cursor<'r, R> {
    row: &'r R,
    table: &'static str,
    next: usize,
    checked: bool,
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
        let value = if self.checked {
            self.row.try_get::<T, _>(index)
        } else {
            self.row.try_get_unchecked::<T, _>(index)
        };
        value.map_err(|e| column_err(self.table, index, e))
    }

    fn timestamp(&mut self) -> Result<DateTime<Utc>, DbErr>
    where
        Stamp: Decode<'r, R::Database> + Type<R::Database>,
    {
        self.get::<Stamp>().map(|s| s.0)
    }

    fn opt_timestamp(&mut self) -> Result<Option<DateTime<Utc>>, DbErr>
    where
        Stamp: Decode<'r, R::Database> + Type<R::Database>,
    {
        self.get::<Option<Stamp>>().map(|s| s.map(|s| s.0))
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

/// A `tickets` row as the driver holds it: the text columns borrow the row's bytes, so
/// reading one allocates nothing. [`TicketRef::to_model`] makes the entity's owned model.
#[derive(Debug, Clone, Copy)]
pub struct TicketRef<'r> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subject: &'r str,
    pub category: Category,
    pub priority: Priority,
    pub priority_rank: i16,
    pub status: TicketStatus,
    pub description: &'r str,
    pub call_id: Option<&'r str>,
    pub source_session_id: Option<&'r str>,
    pub contact_email: &'r str,
    pub plan_tier: &'r str,
    pub sla_tier: &'r str,
    pub sla_first_response_target: &'r str,
    pub sla_priority_queue: bool,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub charge_cents: i64,
    pub charge_status: ChargeStatus,
    pub charge_entry_id: Option<Uuid>,
    pub bounty_status: BountyStatus,
    pub bounty_cents: i64,
    pub email_status: TicketEmailStatus,
    pub email_reason: Option<&'r str>,
    pub message_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub assignee_id: Option<Uuid>,
    pub tags: &'r str,
    pub merged_into: Option<Uuid>,
}

impl TicketRef<'_> {
    pub fn to_model(&self) -> tickets::Model {
        let owned = |s: Option<&str>| s.map(str::to_string);
        tickets::Model {
            id: self.id,
            tenant_id: self.tenant_id,
            subject: self.subject.to_string(),
            category: self.category,
            priority: self.priority,
            priority_rank: self.priority_rank,
            status: self.status,
            description: self.description.to_string(),
            call_id: owned(self.call_id),
            source_session_id: owned(self.source_session_id),
            contact_email: self.contact_email.to_string(),
            plan_tier: self.plan_tier.to_string(),
            sla_tier: self.sla_tier.to_string(),
            sla_first_response_target: self.sla_first_response_target.to_string(),
            sla_priority_queue: self.sla_priority_queue,
            first_response_due_at: self.first_response_due_at,
            first_response_at: self.first_response_at,
            charge_cents: self.charge_cents,
            charge_status: self.charge_status,
            charge_entry_id: self.charge_entry_id,
            bounty_status: self.bounty_status,
            bounty_cents: self.bounty_cents,
            email_status: self.email_status,
            email_reason: owned(self.email_reason),
            message_count: self.message_count,
            created_at: self.created_at,
            updated_at: self.updated_at,
            resolved_at: self.resolved_at,
            closed_at: self.closed_at,
            version: self.version,
            assignee_id: self.assignee_id,
            tags: self.tags.to_string(),
            merged_into: self.merged_into,
        }
    }
}

/// A model's fields borrowed, as a row of it would decode: a single ticket's answer is
/// written from it as a page's rows are.
impl<'r> From<&'r tickets::Model> for TicketRef<'r> {
    fn from(t: &'r tickets::Model) -> Self {
        Self {
            id: t.id,
            tenant_id: t.tenant_id,
            subject: &t.subject,
            category: t.category,
            priority: t.priority,
            priority_rank: t.priority_rank,
            status: t.status,
            description: &t.description,
            call_id: t.call_id.as_deref(),
            source_session_id: t.source_session_id.as_deref(),
            contact_email: &t.contact_email,
            plan_tier: &t.plan_tier,
            sla_tier: &t.sla_tier,
            sla_first_response_target: &t.sla_first_response_target,
            sla_priority_queue: t.sla_priority_queue,
            first_response_due_at: t.first_response_due_at,
            first_response_at: t.first_response_at,
            charge_cents: t.charge_cents,
            charge_status: t.charge_status,
            charge_entry_id: t.charge_entry_id,
            bounty_status: t.bounty_status,
            bounty_cents: t.bounty_cents,
            email_status: t.email_status,
            email_reason: t.email_reason.as_deref(),
            message_count: t.message_count,
            created_at: t.created_at,
            updated_at: t.updated_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            version: t.version,
            assignee_id: t.assignee_id,
            tags: &t.tags,
            merged_into: t.merged_into,
        }
    }
}

fn ticket<'r, R>(row: &'r R, at: usize, checked: bool) -> Result<TicketRef<'r>, DbErr>
where
    R: Row,
    usize: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    i16: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    Stamp: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut c = Cursor {
        row,
        table: "tickets",
        next: at,
        checked,
    };
    // The order of `tickets::Column` (checked by `columns_are_in_entity_order`).
    Ok(TicketRef {
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
        first_response_due_at: c.opt_timestamp()?,
        first_response_at: c.opt_timestamp()?,
        charge_cents: c.get()?,
        charge_status: c.vocabulary(ChargeStatus::parse)?,
        charge_entry_id: c.get()?,
        bounty_status: c.vocabulary(BountyStatus::parse)?,
        bounty_cents: c.get()?,
        email_status: c.vocabulary(TicketEmailStatus::parse)?,
        email_reason: c.get()?,
        message_count: c.get()?,
        created_at: c.timestamp()?,
        updated_at: c.timestamp()?,
        resolved_at: c.opt_timestamp()?,
        closed_at: c.opt_timestamp()?,
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
    Stamp: Decode<'r, R::Database> + Type<R::Database>,
{
    use entities::values::MessageAuthor;
    let mut c = Cursor {
        row,
        table: "messages",
        next: at,
        checked: true,
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
        created_at: c.timestamp()?,
        merged_from: c.get()?,
    }))
}

fn unsupported() -> DbErr {
    DbErr::Type("rows of this backend are not decoded by position".into())
}

fn ticket_ref(row: &QueryResult, at: usize, checked: bool) -> Result<TicketRef<'_>, DbErr> {
    if let Some(pg) = row.try_as_pg_row() {
        return ticket(pg, at, checked);
    }
    // SQLite types each value, not each column: every value is checked.
    if let Some(sqlite) = row.try_as_sqlite_row() {
        return ticket(sqlite, at, true);
    }
    Err(unsupported())
}

/// The ticket whose columns start at `at` (0 for `tickets::Entity::find()`).
pub fn ticket_at(row: &QueryResult, at: usize) -> Result<tickets::Model, DbErr> {
    ticket_ref(row, at, true).map(|t| t.to_model())
}

/// A row of a page of tickets (`tickets::Entity::find()`, the ticket's columns first), read in
/// place: [`TicketRow::ticket`] borrows its text.
#[derive(Debug)]
pub struct TicketRow {
    row: QueryResult,
}

impl TicketRow {
    /// The row's ticket. Its values are decoded without sqlx's check of each value's type
    /// ([`ticket_rows`] checked the statement's first row).
    pub fn ticket(&self) -> Result<TicketRef<'_>, DbErr> {
        ticket_ref(&self.row, 0, false)
    }
}

/// The rows of one statement that start with a ticket's columns. The first row is decoded
/// here with every value's type checked; the other rows of the statement have the same
/// column types (PostgreSQL describes a statement's columns once), so their values are
/// decoded without the check. SQLite types each value, so its values are always checked.
pub fn ticket_rows(rows: Vec<QueryResult>) -> Result<Vec<TicketRow>, DbErr> {
    if let Some(first) = rows.first() {
        ticket_ref(first, 0, true)?;
    }
    Ok(rows.into_iter().map(|row| TicketRow { row }).collect())
}

/// The entities' owned models of `rows`.
pub fn models(rows: &[TicketRow]) -> Result<Vec<tickets::Model>, DbErr> {
    rows.iter()
        .map(|row| Ok(row.ticket()?.to_model()))
        .collect()
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
    fn the_one_expression_of_columns_is_the_entitys_select() {
        use sea_orm::{DbBackend, QueryTrait};
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            assert_eq!(
                select_tickets().build(backend).to_string(),
                tickets::Entity::find().build(backend).to_string(),
            );
            let mut ours = sea_orm::sea_query::Query::select();
            ours.expr(message_columns()).from(messages::Entity);
            assert_eq!(
                backend.build(&ours).to_string(),
                messages::Entity::find().build(backend).to_string(),
            );
        }
    }

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
