//! sea-orm entities, one module per table.
pub mod api_keys;
pub mod ledger_entries;
pub mod staff;
pub mod tenants;
