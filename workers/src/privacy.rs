//! The privacy job: erases a tenant's personal data (docs/API.md §9). Contact emails, subjects,
//! descriptions, message bodies and notification texts become `"[erased]"`; stored webhook
//! payloads and emails holding them are deleted. Ids, timestamps, categories, statuses and the
//! ledger stay. Running it twice is harmless.
use apalis::prelude::{BoxDynError, Data};
use chrono::Utc;
use entities::values::{DeliveryStatus, ErasureStatus, TicketEventKind};
use entities::{
    emails, erasure_requests as requests, feed_events, idempotency_keys, messages, notifications,
    ticket_events, tickets, webhook_deliveries as deliveries, webhook_events as events,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::deps::Deps;
use crate::jobs::PrivacyJob;

pub const ERASED: &str = "[erased]";
/// Tickets handled per transaction, so a large tenant does not hold one huge transaction.
const BATCH: u64 = 500;

pub async fn job(job: PrivacyJob, deps: Data<Deps>) -> Result<(), BoxDynError> {
    run(&deps, job.tenant_id).await.map_err(Into::into)
}

pub async fn run(deps: &Deps, tenant_id: Uuid) -> Result<(), DbErr> {
    let db = &deps.db;
    let Some(request) = requests::Entity::find_by_id(tenant_id).one(db).await? else {
        return Ok(());
    };
    if request.status == ErasureStatus::Done {
        return Ok(());
    }
    requests::Entity::update_many()
        .col_expr(
            requests::Column::Status,
            Expr::value(ErasureStatus::Running),
        )
        .filter(requests::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;

    // Tickets, their messages and an `erased` event each, in batches by id.
    let mut after: Option<Uuid> = None;
    loop {
        let mut page = tickets::Entity::find()
            .select_only()
            .column(tickets::Column::Id)
            .filter(tickets::Column::TenantId.eq(tenant_id))
            .order_by_asc(tickets::Column::Id)
            .limit(BATCH);
        if let Some(last) = after {
            page = page.filter(tickets::Column::Id.gt(last));
        }
        let ids: Vec<Uuid> = page.into_tuple().all(db).await?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        after = Some(last);
        let now = Utc::now();
        let txn = db.begin().await?;
        tickets::Entity::update_many()
            .col_expr(tickets::Column::Subject, Expr::value(ERASED))
            .col_expr(tickets::Column::Description, Expr::value(ERASED))
            .col_expr(tickets::Column::ContactEmail, Expr::value(ERASED))
            .col_expr(tickets::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                tickets::Column::Version,
                Expr::col(tickets::Column::Version).add(1),
            )
            .filter(tickets::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        messages::Entity::update_many()
            .col_expr(messages::Column::Body, Expr::value(ERASED))
            .filter(messages::Column::TicketId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        let erased_events = ids.iter().map(|ticket_id| ticket_events::ActiveModel {
            id: Set(Uuid::now_v7()),
            ticket_id: Set(*ticket_id),
            tenant_id: Set(tenant_id),
            kind: Set(TicketEventKind::Erased),
            actor: Set("system".into()),
            data: Set(Some(json!({"reason": "account erasure"}))),
            public: Set(true),
            created_at: Set(now),
        });
        ticket_events::Entity::insert_many(erased_events)
            .exec(&txn)
            .await?;
        txn.commit().await?;
    }

    let now = Utc::now();
    let txn = db.begin().await?;
    notifications::Entity::update_many()
        .col_expr(notifications::Column::Title, Expr::value(ERASED))
        .col_expr(notifications::Column::Body, Expr::value(ERASED))
        .filter(notifications::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    // Queued and past webhook payloads: the body is gone, pending attempts stop.
    events::Entity::update_many()
        .col_expr(
            events::Column::Payload,
            Expr::value(json!({"erased": true})),
        )
        .filter(events::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::Status,
            Expr::value(DeliveryStatus::Failed),
        )
        .col_expr(
            deliveries::Column::LastError,
            Expr::value("payload erased at the tenant's request"),
        )
        .filter(deliveries::Column::TenantId.eq(tenant_id))
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending))
        .exec(&txn)
        .await?;
    // The event feed repeats ticket subjects and message bodies; its events go.
    feed_events::Entity::delete_many()
        .filter(feed_events::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    emails::Entity::delete_many()
        .filter(emails::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    // Stored idempotent responses replay ticket bodies.
    idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    requests::Entity::update_many()
        .col_expr(requests::Column::Status, Expr::value(ErasureStatus::Done))
        .col_expr(requests::Column::CompletedAt, Expr::value(now))
        .filter(requests::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    txn.commit().await
}
