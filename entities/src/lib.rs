//! sea-orm entities, one module per table.
pub mod api_keys;
pub mod emails;
pub mod erasure_requests;
pub mod idempotency_keys;
pub mod ledger_entries;
pub mod messages;
pub mod notification_preferences;
pub mod notifications;
pub mod outbox;
pub mod staff;
pub mod system_status;
pub mod tenants;
pub mod ticket_events;
pub mod tickets;
pub mod webhook_deliveries;
pub mod webhook_endpoints;
pub mod webhook_events;
