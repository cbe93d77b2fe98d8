//! sea-orm entities, one module per table.
pub mod api_keys;
pub mod idempotency_keys;
pub mod ledger_entries;
pub mod messages;
pub mod notification_preferences;
pub mod notifications;
pub mod staff;
pub mod system_status;
pub mod tenants;
pub mod ticket_events;
pub mod tickets;
