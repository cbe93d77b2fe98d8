//! Merging a duplicate into another ticket of the same tenant: the source's public messages
//! are copied into the target's thread (original author and time kept, marked
//! `merged_from`), the source is closed with `merged_into`, both record a `merged` event, and
//! `support.ticket_merged` is emitted, all in one transaction. No fee is refunded.
use chrono::{DateTime, Utc};
use entities::values::TicketEventKind;
use entities::{messages, ticket_events, tickets};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ExprTrait, IntoActiveModel,
    QueryFilter, QueryOrder,
};
use serde_json::json;
use uuid::Uuid;

use crate::config::Config;
use crate::db::begin_write;
use crate::domain::ids::TicketId;
use crate::domain::status::TicketStatus;
use crate::tickets::error::TicketError;
use crate::tickets::ops::{
    Attempt, Author, check_version, event, find, retry_on_race, status_columns, status_webhook,
};
use crate::webhooks::events::{self, Audience};

#[derive(Debug, Clone)]
pub struct Merge {
    pub source: Uuid,
    pub into: Uuid,
    pub actor: Author,
    /// `If-Match` on the source.
    pub if_match: Option<i64>,
}

pub struct Merged {
    pub source: tickets::Model,
    pub target: tickets::Model,
    pub copied: usize,
}

/// A copy keeps its original's time, and gets a time-ordered id from that time, so the
/// target's thread (ordered by id) reads in the order the messages were written.
fn copy_id(original: &messages::Model) -> Uuid {
    let at = original.created_at;
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(at.timestamp()).unwrap_or(0),
        at.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}

pub async fn merge(
    db: &DatabaseConnection,
    config: &Config,
    tenant_id: Uuid,
    m: Merge,
    now: DateTime<Utc>,
) -> Result<Merged, TicketError> {
    if m.source == m.into {
        return Err(TicketError::InvalidMerge(
            "A ticket cannot be merged into itself",
        ));
    }
    retry_on_race(|| {
        let m = m.clone();
        async move {
            let txn = begin_write(db).await?;
            let source = find(&txn, m.source, Some(tenant_id)).await?;
            let target = match find(&txn, m.into, None).await {
                Ok(t) if t.tenant_id == tenant_id => t,
                Ok(_) | Err(TicketError::NotFound) => {
                    return Err(TicketError::InvalidMerge(
                        "`into` must be another ticket of the same tenant",
                    ));
                }
                Err(e) => return Err(e),
            };
            check_version(&source, m.if_match)?;
            let from = source.status;
            if from == TicketStatus::Closed {
                return Err(TicketError::Closed);
            }
            if let Some(into) = target.merged_into {
                return Err(TicketError::Merged { into });
            }
            if target.status == TicketStatus::Closed {
                return Err(TicketError::Closed);
            }
            let originals = messages::Entity::find()
                .filter(messages::Column::TicketId.eq(source.id))
                .filter(messages::Column::Internal.eq(false))
                .order_by_asc(messages::Column::Id)
                .all(&txn)
                .await?;
            let copied = originals.len();
            let closed = status_columns(tickets::Entity::update_many(), TicketStatus::Closed, now)
                .col_expr(tickets::Column::MergedInto, Expr::value(target.id))
                .col_expr(tickets::Column::UpdatedAt, Expr::value(now))
                .col_expr(
                    tickets::Column::Version,
                    Expr::col(tickets::Column::Version).add(1),
                )
                .filter(tickets::Column::Id.eq(source.id))
                .filter(tickets::Column::Version.eq(source.version))
                .exec(&txn)
                .await?;
            let grown = tickets::Entity::update_many()
                .col_expr(
                    tickets::Column::MessageCount,
                    Expr::col(tickets::Column::MessageCount)
                        .add(i32::try_from(copied).unwrap_or(i32::MAX)),
                )
                .col_expr(tickets::Column::UpdatedAt, Expr::value(now))
                .col_expr(
                    tickets::Column::Version,
                    Expr::col(tickets::Column::Version).add(1),
                )
                .filter(tickets::Column::Id.eq(target.id))
                .filter(tickets::Column::Version.eq(target.version))
                .exec(&txn)
                .await?;
            if closed.rows_affected != 1 || grown.rows_affected != 1 {
                return Ok(Attempt::Raced);
            }
            if !originals.is_empty() {
                let copies = originals.iter().map(|o| {
                    messages::Model {
                        id: copy_id(o),
                        ticket_id: target.id,
                        merged_from: Some(source.id),
                        ..o.clone()
                    }
                    .into_active_model()
                    .reset_all()
                });
                messages::Entity::insert_many(copies).exec(&txn).await?;
            }
            let (source_ref, target_ref) = (
                TicketId::from_uuid(source.id).to_string(),
                TicketId::from_uuid(target.id).to_string(),
            );
            let kept = [
                event(
                    &source,
                    TicketEventKind::Merged,
                    &m.actor,
                    json!({"into": target_ref, "messages_copied": copied}),
                    true,
                    now,
                ),
                event(
                    &source,
                    TicketEventKind::StatusChanged,
                    &m.actor,
                    json!({"from": from, "to": TicketStatus::Closed}),
                    true,
                    now,
                ),
                event(
                    &target,
                    TicketEventKind::Merged,
                    &m.actor,
                    json!({"from": source_ref, "messages_copied": copied}),
                    true,
                    now,
                ),
            ];
            ticket_events::Entity::insert_many(kept).exec(&txn).await?;
            let source_now = find(&txn, source.id, None).await?;
            let target_now = find(&txn, target.id, None).await?;
            status_webhook(
                &txn,
                config,
                &source_now,
                &m.actor,
                from,
                TicketStatus::Closed,
                now,
            )
            .await?;
            events::emit(
                &txn,
                config,
                tenant_id,
                events::TICKET_MERGED,
                json!({"ticket_id": source_ref, "into": target_ref, "messages_copied": copied}),
                Audience::Subscribers,
                now,
            )
            .await?;
            txn.commit().await?;
            Ok(Attempt::Done(Merged {
                source: source_now,
                target: target_now,
                copied,
            }))
        }
    })
    .await
}
