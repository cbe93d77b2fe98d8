//! What every job handler needs: the database, an HTTP client and the settings.
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::outbox::Nudge;
use crate::sla::SlaHandler;
use crate::{billing, webhook};

#[derive(Debug, Clone)]
pub struct JobSettings {
    pub resend_api_key: Option<String>,
    pub resend_base_url: String,
    pub email_from: String,
    /// Delay before the first email retry; doubled for each further attempt.
    pub email_backoff: Duration,
    pub webhook_retry_schedule: Vec<Duration>,
    pub allow_private_targets: bool,
    pub ops_webhook: Option<OpsWebhook>,
    pub billing_url: Option<String>,
    /// Delay before the first billing retry; doubled for each further attempt.
    pub billing_backoff: Duration,
}

#[derive(Debug, Clone)]
pub struct OpsWebhook {
    pub url: String,
    pub secret: String,
}

#[derive(Clone)]
pub struct Deps {
    pub db: DatabaseConnection,
    pub http: reqwest::Client,
    /// Tenants' webhook targets: resolved once per connection and checked (`ssrf`).
    pub webhook_http: reqwest::Client,
    pub settings: Arc<JobSettings>,
    /// Wakes the outbox relay after a retry was scheduled.
    pub nudge: Nudge,
    pub webhooks: webhook::Batches,
    pub settlements: billing::Settlements,
    /// Fires SLA alerts (the application's event feed and tenant serialization).
    pub sla: SlaHandler,
}

/// Email delivery attempts before an email is `failed`.
pub const EMAIL_ATTEMPTS: i32 = 5;
/// Billing report attempts before an entry is left for an operator.
pub const BILLING_ATTEMPTS: i32 = 10;
/// Webhook requests give up after this long.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

impl Deps {
    /// Starts the batch tasks the handlers share; call inside a tokio runtime.
    pub fn new(
        db: DatabaseConnection,
        settings: JobSettings,
        nudge: Nudge,
        sla: SlaHandler,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Helpline/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let webhook_http = crate::ssrf::webhook_client(
            Arc::new(crate::ssrf::SystemLookup),
            settings.allow_private_targets,
            WEBHOOK_TIMEOUT,
        )?;
        Ok(Self {
            webhooks: webhook::Batches::spawn(&db),
            settlements: billing::settlements(&db),
            db,
            http,
            webhook_http,
            settings: Arc::new(settings),
            nudge,
            sla,
        })
    }
}

/// `base × 2^(attempt-1)`, capped at an hour.
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    base.saturating_mul(1u32 << exp)
        .min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_secs(2);
        assert_eq!(backoff(base, 1), Duration::from_secs(2));
        assert_eq!(backoff(base, 2), Duration::from_secs(4));
        assert_eq!(backoff(base, 4), Duration::from_secs(16));
        assert_eq!(backoff(base, 40), Duration::from_secs(3600));
    }
}
