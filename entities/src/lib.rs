//! sea-orm entities, one module per table.
pub mod agents;
pub mod api_keys;
pub mod idempotency_keys;
pub mod ledger_entries;
pub mod messages;
pub mod numbers;
pub mod staff;
pub mod tenants;
pub mod ticket_events;
pub mod tickets;
