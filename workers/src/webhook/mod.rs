//! The webhook job: one delivery attempt of one event to one endpoint (or the ops webhook),
//! signed per Standard Webhooks. Failures are retried on `HELPLINE_WEBHOOK_RETRY_SCHEDULE`
//! (a longer `Retry-After` wins); `410 Gone` disables the endpoint; after the last attempt
//! the delivery is `failed`. `webhook-id` is the event id on every attempt.
//!
//! The database work of the handlers running at the same time is shared: their deliveries
//! are claimed together (`claim`) and their successes recorded together (`record`).
mod attempt;
mod claim;
mod record;

use apalis::prelude::{BoxDynError, Data};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::batch::Batcher;
use crate::deps::Deps;
use crate::jobs::WebhookJob;
use attempt::{Outcome, Target};
use claim::Claimed;

/// Deliveries claimed, or successes recorded, in one statement at most.
const BATCH: usize = 128;

pub async fn job(job: WebhookJob, deps: Data<Deps>) -> Result<(), BoxDynError> {
    run(&deps, job.delivery_id).await.map_err(Into::into)
}

/// The public id of an event: `evt_` + its UUID.
pub fn event_id(id: Uuid) -> String {
    format!("evt_{}", id.simple())
}

/// The batches the webhook handlers of one process share.
#[derive(Clone, Debug)]
pub struct Batches {
    claims: Batcher<Uuid, Option<Claimed>>,
    successes: Batcher<record::Success, ()>,
}

impl Batches {
    /// Starts the batch tasks; call inside a tokio runtime.
    pub fn spawn(db: &DatabaseConnection) -> Self {
        let claim_db = db.clone();
        let record_db = db.clone();
        Self {
            claims: Batcher::spawn(BATCH, move |ids| claim::claim(claim_db.clone(), ids)),
            successes: Batcher::spawn(BATCH, move |successes| {
                record::successes(record_db.clone(), successes)
            }),
        }
    }
}

pub async fn run(deps: &Deps, delivery_id: Uuid) -> Result<(), DbErr> {
    let Some(claimed) = deps.webhooks.claims.submit(delivery_id).await? else {
        return Ok(());
    };
    let outcome = match target(deps, &claimed) {
        Err(reason) => Outcome::Fail {
            status: None,
            error: reason,
        },
        Ok(target) => match &claimed.event {
            None => Outcome::Fail {
                status: None,
                error: "the event no longer exists".into(),
            },
            Some(event) => attempt::attempt(deps, &target, event).await,
        },
    };
    record::record(deps, &claimed.delivery, outcome).await
}

/// Where this delivery goes, or why it cannot go anywhere.
fn target(deps: &Deps, claimed: &Claimed) -> Result<Target, String> {
    if claimed.delivery.endpoint_id.is_none() {
        return match &deps.settings.ops_webhook {
            Some(ops) => Ok(Target {
                url: ops.url.clone(),
                secret: ops.secret.clone(),
            }),
            None => Err("the ops webhook is no longer configured".into()),
        };
    }
    match &claimed.endpoint {
        None => Err("the endpoint was deleted".into()),
        Some(e) if !e.enabled => Err("the endpoint is disabled".into()),
        Some(e) => Ok(Target {
            url: e.url.clone(),
            secret: e.secret.clone(),
        }),
    }
}
