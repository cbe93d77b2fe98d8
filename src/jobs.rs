//! Wiring the job system into a process: which queue backend, the outbox relay, the
//! workers, and a clean stop that lets running jobs finish.
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use workers::deps::{Deps, JobSettings, OpsWebhook};
use workers::outbox::{Nudge, Relay};
use workers::transport::{Concurrency, Transport};

use crate::config::Config;
use crate::tenants::registry::Registry;

pub struct Jobs {
    pub transport: Transport,
    pub nudge: Nudge,
    stop: watch::Sender<bool>,
}

pub fn settings(config: &Config) -> JobSettings {
    JobSettings {
        resend_api_key: config.resend_api_key.clone(),
        resend_base_url: config.resend_base_url.clone(),
        email_from: config.email_from.clone(),
        email_backoff: config.email_backoff,
        webhook_retry_schedule: config.webhook_retry_schedule.clone(),
        allow_private_targets: config.allow_private_targets,
        ops_webhook: config
            .ops_webhook_url
            .clone()
            .zip(config.ops_webhook_secret.clone())
            .map(|(url, secret)| OpsWebhook { url, secret }),
        billing_url: config.billing_url.clone(),
        billing_backoff: config.billing_backoff,
    }
}

impl Jobs {
    /// Redis when `REDIS_URL` is set, else the embedded SQLite queue.
    pub async fn connect(config: &Config) -> Result<Self, String> {
        let transport = match &config.redis_url {
            Some(url) => Transport::redis(url, &config.redis_prefix)
                .await
                .map_err(|e| format!("cannot reach REDIS_URL: {e}"))?,
            None => {
                crate::db::ensure_sqlite_dir(&config.queue_url).map_err(|e| e.to_string())?;
                Transport::sqlite(&config.queue_url, "")
                    .await
                    .map_err(|e| format!("cannot open the queue at HELPLINE_QUEUE_URL: {e}"))?
            }
        };
        Ok(Self {
            transport,
            nudge: Nudge::default(),
            stop: watch::channel(false).0,
        })
    }

    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// Starts the outbox relay and the workers of every queue; returns a handle that
    /// resolves once they have stopped (running jobs finished).
    pub fn start(
        &self,
        db: DatabaseConnection,
        config: &Config,
        tenants: Arc<Registry>,
    ) -> Result<tokio::task::JoinHandle<()>, String> {
        let relay = Relay {
            db: db.clone(),
            transport: self.transport.clone(),
            nudge: self.nudge.clone(),
            sweep_every: config.outbox_sweep,
            recovery_grace: chrono::Duration::from_std(config.recovery_grace)
                .unwrap_or(chrono::Duration::seconds(60)),
        };
        let relay_stop = self.stopped();
        let relay = tokio::spawn(relay.run(relay_stop));
        let alerts = crate::sla::Alerts::new(db.clone(), tenants);
        let deps = Deps::new(db, settings(config), self.nudge.clone(), alerts)
            .map_err(|e| e.to_string())?;
        let workers = self.transport.clone().run_workers(
            deps,
            Concurrency {
                webhook: config.webhook_concurrency,
                other: config.worker_concurrency,
            },
            self.stop.subscribe(),
        );
        Ok(tokio::spawn(async move {
            workers.await;
            let _ = relay.await;
        }))
    }

    /// Asks the relay and workers to stop; running jobs finish first.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for a started job system to wind down, at most `limit`.
    pub async fn join(handle: tokio::task::JoinHandle<()>, limit: Duration) {
        if tokio::time::timeout(limit, handle).await.is_err() {
            tracing::warn!("job workers did not stop in time");
        }
    }
}
