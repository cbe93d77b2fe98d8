//! Tenant webhooks: endpoints, the events they receive, and their deliveries.
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod view;
