//! The SLA alert job: at 80 % of a ticket's first-response window and at its due time
//! (docs/EVENTS.md). The job carries the ticket id and the alert only; whether the alert
//! still applies (the ticket unanswered, not resolved, closed or merged) and the event it
//! emits are decided when it runs, by the application, which owns the event feed and the
//! tenant's serialization. A run that fails is scheduled again through the outbox, so an
//! alert survives a database hiccup as it survives a restart.
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data};
use chrono::Utc;
use futures_util::future::BoxFuture;

use crate::deps::{Deps, backoff};
use crate::jobs::{Job, SlaJob};
use crate::outbox;

/// Runs failed before an alert is given up (logged).
pub const SLA_ATTEMPTS: u32 = 10;
const RETRY_BASE: Duration = Duration::from_secs(2);

/// Decides and fires one SLA alert; implemented by the application.
pub trait SlaAlerts: Send + Sync {
    fn fire(&self, job: SlaJob) -> BoxFuture<'static, Result<(), String>>;
}

pub type SlaHandler = Arc<dyn SlaAlerts>;

pub async fn job(job: SlaJob, deps: Data<Deps>) -> Result<(), BoxDynError> {
    let Err(error) = deps.sla.fire(job).await else {
        return Ok(());
    };
    let failures = job.failures + 1;
    if failures >= SLA_ATTEMPTS {
        tracing::error!(ticket_id = %job.ticket_id, alert = job.alert.as_str(), %error, "SLA alert given up");
        return Ok(());
    }
    tracing::warn!(ticket_id = %job.ticket_id, alert = job.alert.as_str(), %error, "SLA alert failed; retrying");
    let now = Utc::now();
    let delay = chrono::Duration::from_std(backoff(RETRY_BASE, failures as i32))
        .unwrap_or(chrono::Duration::seconds(60));
    let again = Job::Sla(SlaJob { failures, ..job });
    outbox::enqueue(&deps.db, again, now + delay, now).await?;
    deps.nudge.nudge();
    Ok(())
}
