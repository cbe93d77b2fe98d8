//! Operator routes under `/admin`.
pub mod tenants;
pub mod tickets;
