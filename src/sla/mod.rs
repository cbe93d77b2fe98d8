//! SLA alerts (docs/EVENTS.md): `support.sla_warning` at 80 % of a ticket's first-response
//! window and `support.sla_breached` at its due time. Both are scheduled when the ticket is
//! created, as outbox rows whose `available_at` is the alert's time, so they survive
//! restarts; when one runs, it fires only if the ticket is still unanswered and not
//! resolved, closed or merged. An `sla_alerts` row per ticket and alert, written in the
//! transaction that emits the event, makes each fire at most once even when two workers run
//! the same job.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::values::TicketEventKind;
use entities::{sla_alerts, ticket_events, tickets};
use futures_util::future::BoxFuture;
use sea_orm::QuerySelect;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};
use serde_json::json;
use uuid::Uuid;
use workers::jobs::{Job, SlaAlert, SlaJob};
use workers::outbox;
use workers::sla::SlaAlerts;

use crate::config::Config;
use crate::domain::ids::TicketId;
use crate::domain::plan::Plan;
use crate::domain::sla::first_response_warning;
use crate::domain::status::TicketStatus;
use crate::tenants::actor::FireSla;
use crate::tenants::registry::{Registry, TenantBusy};
use crate::tickets::ops::{Author, event};
use crate::tickets::view::TicketOut;
use crate::webhooks::events::{self, Audience};

#[derive(Debug, thiserror::Error)]
pub enum SlaError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Busy(#[from] TenantBusy),
}

fn event_type(alert: SlaAlert) -> &'static str {
    match alert {
        SlaAlert::Warning => events::SLA_WARNING,
        SlaAlert::Breached => events::SLA_BREACHED,
    }
}

/// Schedules the warning and the breach of each new ticket that has a first-response due
/// time, inside the transaction that creates them.
pub async fn schedule<'a, C: ConnectionTrait>(
    conn: &C,
    config: &Config,
    created: impl IntoIterator<Item = &'a tickets::Model>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let jobs = created.into_iter().flat_map(|ticket| {
        let due = ticket.first_response_due_at;
        let warning = due.and_then(|_| {
            let plan = Plan::from_stored(&ticket.plan_tier);
            first_response_warning(
                plan,
                ticket.priority,
                ticket.created_at,
                &config.business_hours,
            )
        });
        let job = |alert| {
            Job::Sla(SlaJob {
                ticket_id: ticket.id,
                alert,
                failures: 0,
            })
        };
        [
            warning.map(|at| (job(SlaAlert::Warning), at)),
            due.map(|at| (job(SlaAlert::Breached), at)),
        ]
        .into_iter()
        .flatten()
    });
    outbox::enqueue_many(conn, jobs, now).await
}

/// Whether a ticket's first-response clock still runs.
fn unanswered(ticket: &tickets::Model) -> bool {
    let open = !matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed);
    open && ticket.first_response_at.is_none()
        && ticket.merged_into.is_none()
        && ticket.first_response_due_at.is_some()
}

/// Fires `job`'s alert if it still applies, and a breach's warning first if that has not
/// fired (a server down over both times sends them in order). Returns the alerts fired.
pub async fn fire(
    db: &DatabaseConnection,
    config: &Config,
    job: SlaJob,
    now: DateTime<Utc>,
) -> Result<Vec<SlaAlert>, DbErr> {
    let now = crate::db::as_stored(now);
    let txn = crate::db::begin_write(db).await?;
    // The row lock orders this check with a reply being written on another node.
    let Some(ticket) = tickets::Entity::find_by_id(job.ticket_id)
        .lock_exclusive()
        .one(&txn)
        .await?
    else {
        return Ok(Vec::new());
    };
    if !unanswered(&ticket) {
        return Ok(Vec::new());
    }
    let alerts = match job.alert {
        SlaAlert::Warning => vec![SlaAlert::Warning],
        SlaAlert::Breached => vec![SlaAlert::Warning, SlaAlert::Breached],
    };
    let mut fired = Vec::new();
    for alert in alerts {
        let marked = sla_alerts::Entity::insert(sla_alerts::ActiveModel {
            ticket_id: Set(ticket.id),
            kind: Set(alert),
            tenant_id: Set(ticket.tenant_id),
            fired_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([sla_alerts::Column::TicketId, sla_alerts::Column::Kind])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if marked == 0 {
            continue;
        }
        let data = json!({
            "ticket_id": TicketId::from_uuid(ticket.id).to_string(),
            "first_response_due_at": ticket.first_response_due_at,
            "ticket": TicketOut::summary(ticket.clone(), now),
        });
        events::emit(
            &txn,
            config,
            ticket.tenant_id,
            event_type(alert),
            data,
            Audience::Subscribers,
            now,
        )
        .await?;
        let kind = match alert {
            SlaAlert::Warning => TicketEventKind::SlaWarning,
            SlaAlert::Breached => TicketEventKind::SlaBreached,
        };
        let timeline = json!({"first_response_due_at": ticket.first_response_due_at});
        ticket_events::Entity::insert(event(&ticket, kind, &Author::System, timeline, false, now))
            .exec_without_returning(&txn)
            .await?;
        fired.push(alert);
    }
    txn.commit().await?;
    Ok(fired)
}

/// The job queue's way in: each alert runs in its tenant's actor, one at a time with the
/// tenant's other ticket changes on this node.
pub struct Alerts {
    db: DatabaseConnection,
    tenants: Arc<Registry>,
}

impl Alerts {
    pub fn new(db: DatabaseConnection, tenants: Arc<Registry>) -> Arc<Self> {
        Arc::new(Self { db, tenants })
    }

    async fn run(&self, job: SlaJob) -> Result<(), SlaError> {
        let tenant: Option<Uuid> = tickets::Entity::find_by_id(job.ticket_id)
            .select_only()
            .column(tickets::Column::TenantId)
            .into_tuple()
            .one(&self.db)
            .await?;
        let Some(tenant_id) = tenant else {
            return Ok(());
        };
        self.tenants.send(tenant_id, FireSla(job)).await??;
        Ok(())
    }
}

impl SlaAlerts for Alerts {
    fn fire(&self, job: SlaJob) -> BoxFuture<'static, Result<(), String>> {
        let this = Self {
            db: self.db.clone(),
            tenants: self.tenants.clone(),
        };
        Box::pin(async move { this.run(job).await.map_err(|e| e.to_string()) })
    }
}
