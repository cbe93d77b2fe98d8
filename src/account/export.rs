//! `GET /v1/account/export`: everything a tenant owns, as one JSON document written
//! incrementally. Every array section pages through its table by keyset in batches of
//! [`BATCH`] rows, so memory stays bounded however many tickets a tenant has.
//!
//! ```json
//! {"object": "account_export", "exported_at": "…", "tenant": {…},
//!  "tickets": [{…ticket, "messages": [public only], "events": [public only]}],
//!  "numbers": […], "agents": […], "ledger": […], "webhooks": [no secrets], "notifications": […]}
//! ```
//!
//! To export another table, add one line to [`SECTIONS`]: `table::<its::Entity>` once the
//! entity implements [`Exported`], or a function of its own like [`ticket_items`].
//! The export is not one snapshot: rows are read batch by batch, so a row written while the
//! export runs may or may not appear, but no row appears twice.
use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use entities::{
    agents, ledger_entries, messages, notifications, numbers, tenants, ticket_events, tickets,
    webhook_endpoints,
};
use futures_util::stream::{self, LocalBoxStream, StreamExt, TryStreamExt};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::billing::ledger::LedgerEntryOut;
use crate::notifications::NotificationOut;
use crate::numbers::view::{AgentOut, NumberOut};
use crate::tenants::TenantOut;
use crate::tickets::view::{EventOut, TicketOut, TicketWithEvents};
use crate::webhooks::view::EndpointOut;

/// Rows read per query.
pub const BATCH: u64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("database error during export: {0}")]
    Db(#[from] DbErr),
    #[error("could not serialize an export item: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the tenant no longer exists")]
    NoTenant,
}

/// Whose data, read from where, as of when (`now` fixes SLA `breached` flags).
#[derive(Clone)]
pub struct Scope {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
    pub now: DateTime<Utc>,
}

/// A stream of serialized JSON values (one per item) or chunks of the document.
pub type Chunks = LocalBoxStream<'static, Result<Bytes, ExportError>>;

/// One array of the document: its key and its items.
pub struct Section {
    pub name: &'static str,
    pub items: fn(Scope) -> Chunks,
}

impl Section {
    pub const fn new(name: &'static str, items: fn(Scope) -> Chunks) -> Self {
        Self { name, items }
    }
}

/// The document's arrays, in order.
pub const SECTIONS: &[Section] = &[
    Section::new("tickets", ticket_items),
    Section::new("numbers", table::<numbers::Entity>),
    Section::new("agents", table::<agents::Entity>),
    Section::new("ledger", table::<ledger_entries::Entity>),
    Section::new("webhooks", table::<webhook_endpoints::Entity>),
    Section::new("notifications", table::<notifications::Entity>),
];

/// A table exported row by row: scoped by its tenant column, paged by a unique key.
pub trait Exported: EntityTrait {
    /// How the API shows a row.
    type Out: Serialize + From<Self::Model> + 'static;
    const TENANT: Self::Column;
    const KEY: Self::Column;
    fn key(row: &Self::Model) -> sea_orm::Value;
}

impl Exported for numbers::Entity {
    type Out = NumberOut;
    const TENANT: numbers::Column = numbers::Column::TenantId;
    const KEY: numbers::Column = numbers::Column::Number;
    fn key(row: &numbers::Model) -> sea_orm::Value {
        row.number.clone().into()
    }
}

impl Exported for agents::Entity {
    type Out = AgentOut;
    const TENANT: agents::Column = agents::Column::TenantId;
    const KEY: agents::Column = agents::Column::Id;
    fn key(row: &agents::Model) -> sea_orm::Value {
        row.id.into()
    }
}

/// Endpoints without their signing secrets.
impl Exported for webhook_endpoints::Entity {
    type Out = EndpointOut;
    const TENANT: webhook_endpoints::Column = webhook_endpoints::Column::TenantId;
    const KEY: webhook_endpoints::Column = webhook_endpoints::Column::Id;
    fn key(row: &webhook_endpoints::Model) -> sea_orm::Value {
        row.id.into()
    }
}

impl Exported for notifications::Entity {
    type Out = NotificationOut;
    const TENANT: notifications::Column = notifications::Column::TenantId;
    const KEY: notifications::Column = notifications::Column::Id;
    fn key(row: &notifications::Model) -> sea_orm::Value {
        row.id.into()
    }
}

impl Exported for ledger_entries::Entity {
    type Out = LedgerEntryOut;
    const TENANT: ledger_entries::Column = ledger_entries::Column::TenantId;
    const KEY: ledger_entries::Column = ledger_entries::Column::Id;
    fn key(row: &ledger_entries::Model) -> sea_orm::Value {
        row.id.into()
    }
}

/// The whole document. The tenant profile is read before the first byte is sent, so a
/// failure there is still an ordinary error response; a failure later ends the stream early
/// (the chunked body is never terminated, so the client sees an incomplete download).
pub async fn document(scope: Scope) -> Result<Chunks, ExportError> {
    let tenant = tenants::Entity::find_by_id(scope.tenant_id)
        .one(&scope.db)
        .await?
        .ok_or(ExportError::NoTenant)?;
    let head = json!({
        "object": "account_export",
        "exported_at": scope.now,
        "tenant": TenantOut::from(tenant),
    });
    let mut head = serde_json::to_vec(&head)?;
    head.pop(); // the closing `}`: the sections follow
    let sections = stream::iter(SECTIONS).flat_map(move |section| array(section, scope.clone()));
    Ok(stream::once(async move { Ok(Bytes::from(head)) })
        .chain(sections)
        .chain(stream::once(async { Ok(Bytes::from_static(b"}")) }))
        .boxed_local())
}

/// `,"name":[item,item,…]`
fn array(section: &Section, scope: Scope) -> Chunks {
    let open = Bytes::from(format!(",\"{}\":[", section.name));
    let mut first = true;
    let items = (section.items)(scope).map_ok(move |item| {
        if std::mem::take(&mut first) {
            item
        } else {
            Bytes::from([b",".as_slice(), &item].concat())
        }
    });
    stream::once(async move { Ok(open) })
        .chain(items)
        .chain(stream::once(async { Ok(Bytes::from_static(b"]")) }))
        .boxed_local()
}

fn to_bytes<T: Serialize>(value: &T) -> Result<Bytes, ExportError> {
    Ok(Bytes::from(serde_json::to_vec(value)?))
}

/// The tenant's rows of `E` in batches, ascending by the unique column `key`: each batch is
/// one query that continues after the last key seen.
fn batches<E>(
    scope: Scope,
    tenant: E::Column,
    key: E::Column,
    key_of: fn(&E::Model) -> sea_orm::Value,
) -> LocalBoxStream<'static, Result<Vec<E::Model>, ExportError>>
where
    E: EntityTrait,
{
    // State: `None` when finished, else the key to continue after (`None` at the start).
    let start: Option<Option<sea_orm::Value>> = Some(None);
    stream::unfold(start, move |state| {
        let scope = scope.clone();
        async move {
            let after = state?;
            let mut query = E::find().filter(tenant.eq(scope.tenant_id));
            if let Some(after) = after {
                query = query.filter(key.gt(after));
            }
            let rows = match query.order_by_asc(key).limit(BATCH).all(&scope.db).await {
                Ok(rows) => rows,
                Err(e) => return Some((Err(e.into()), None)),
            };
            if rows.is_empty() {
                return None;
            }
            let next = match rows.last() {
                Some(last) if rows.len() as u64 == BATCH => Some(Some(key_of(last))),
                _ => None,
            };
            Some((Ok(rows), next))
        }
    })
    .boxed_local()
}

/// A section that is one table's rows, each shown as its API object.
pub fn table<E: Exported>(scope: Scope) -> Chunks {
    batches::<E>(scope, E::TENANT, E::KEY, E::key)
        .map_ok(|rows| stream::iter(rows.into_iter().map(|row| to_bytes(&E::Out::from(row)))))
        .try_flatten()
        .boxed_local()
}

fn ticket_items(scope: Scope) -> Chunks {
    let enrich_scope = scope.clone();
    batches::<tickets::Entity>(scope, tickets::Column::TenantId, tickets::Column::Id, |t| {
        t.id.into()
    })
    .and_then(move |rows| with_threads(enrich_scope.clone(), rows))
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
    .boxed_local()
}

/// Loads the public messages and events of one batch of tickets (two queries) and
/// serializes the tickets.
async fn with_threads(scope: Scope, rows: Vec<tickets::Model>) -> Result<Vec<Bytes>, ExportError> {
    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    let mut messages_by_ticket: HashMap<Uuid, Vec<messages::Model>> = HashMap::new();
    for m in messages::Entity::find()
        .filter(messages::Column::TenantId.eq(scope.tenant_id))
        .filter(messages::Column::TicketId.is_in(ids.clone()))
        .filter(messages::Column::Internal.eq(false))
        .order_by_asc(messages::Column::Id)
        .all(&scope.db)
        .await?
    {
        messages_by_ticket.entry(m.ticket_id).or_default().push(m);
    }
    let mut events_by_ticket: HashMap<Uuid, Vec<EventOut>> = HashMap::new();
    for e in ticket_events::Entity::find()
        .filter(ticket_events::Column::TenantId.eq(scope.tenant_id))
        .filter(ticket_events::Column::TicketId.is_in(ids))
        .filter(ticket_events::Column::Public.eq(true))
        .order_by_asc(ticket_events::Column::Id)
        .all(&scope.db)
        .await?
    {
        events_by_ticket
            .entry(e.ticket_id)
            .or_default()
            .push(e.into());
    }
    rows.into_iter()
        .map(|t| {
            let messages = messages_by_ticket.remove(&t.id).unwrap_or_default();
            let events = events_by_ticket.remove(&t.id).unwrap_or_default();
            to_bytes(&TicketWithEvents {
                ticket: TicketOut::with_messages(t, messages, scope.now),
                events,
                messages_truncated: false,
                events_truncated: false,
            })
        })
        .collect()
}
