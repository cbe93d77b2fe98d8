//! Tenant webhooks: endpoints, the events they receive, and their deliveries.
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod input;
pub mod view;

/// What a tenant's webhook calls can refuse.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No such endpoint (or delivery) of this tenant.
    #[error("no such webhook endpoint")]
    NotFound,
    /// A test event found no endpoint to go to (the endpoint went away meanwhile).
    #[error("the test event had no receiver")]
    NoReceiver,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}
