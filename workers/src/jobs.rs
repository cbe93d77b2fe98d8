//! The jobs on the five queues. A job carries ids only: what it works on is read from the
//! database when it runs, so an erased tenant's personal data never sits in a queue.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use entities::values::{Queue, SlaAlert};

/// Send one stored email (`emails` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailJob {
    pub email_id: Uuid,
}

/// Make one delivery attempt (`webhook_deliveries` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookJob {
    pub delivery_id: Uuid,
}

/// Settle one ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingJob {
    pub entry_id: Uuid,
}

/// Erase a tenant's personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyJob {
    pub tenant_id: Uuid,
}

/// Fire one SLA alert of a ticket, if it still applies when the job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaJob {
    pub ticket_id: Uuid,
    pub alert: SlaAlert,
    /// Runs that failed before this one (the job reschedules itself after a failure).
    #[serde(default)]
    pub failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Email(EmailJob),
    Webhook(WebhookJob),
    Billing(BillingJob),
    Privacy(PrivacyJob),
    Sla(SlaJob),
}

impl Job {
    pub fn queue(&self) -> Queue {
        match self {
            Job::Email(_) => Queue::Email,
            Job::Webhook(_) => Queue::Webhook,
            Job::Billing(_) => Queue::Billing,
            Job::Privacy(_) => Queue::Privacy,
            Job::Sla(_) => Queue::Sla,
        }
    }

    pub fn payload(&self) -> serde_json::Value {
        let value = match self {
            Job::Email(j) => serde_json::to_value(j),
            Job::Webhook(j) => serde_json::to_value(j),
            Job::Billing(j) => serde_json::to_value(j),
            Job::Privacy(j) => serde_json::to_value(j),
            Job::Sla(j) => serde_json::to_value(j),
        };
        value.unwrap_or(serde_json::Value::Null)
    }

    pub fn from_parts(queue: &str, payload: serde_json::Value) -> Option<Self> {
        Some(match Queue::parse(queue)? {
            Queue::Email => Job::Email(serde_json::from_value(payload).ok()?),
            Queue::Webhook => Job::Webhook(serde_json::from_value(payload).ok()?),
            Queue::Billing => Job::Billing(serde_json::from_value(payload).ok()?),
            Queue::Privacy => Job::Privacy(serde_json::from_value(payload).ok()?),
            Queue::Sla => Job::Sla(serde_json::from_value(payload).ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_their_outbox_form() {
        let id = Uuid::now_v7();
        for job in [
            Job::Email(EmailJob { email_id: id }),
            Job::Webhook(WebhookJob { delivery_id: id }),
            Job::Billing(BillingJob { entry_id: id }),
            Job::Privacy(PrivacyJob { tenant_id: id }),
            Job::Sla(SlaJob {
                ticket_id: id,
                alert: SlaAlert::Breached,
                failures: 2,
            }),
        ] {
            assert_eq!(
                Job::from_parts(job.queue().as_str(), job.payload()),
                Some(job)
            );
        }
        assert_eq!(Job::from_parts("nope", serde_json::json!({})), None);
        assert_eq!(Job::from_parts("email", serde_json::json!({"x": 1})), None);
    }
}
