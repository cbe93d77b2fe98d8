//! Operator routes under `/admin`.
pub mod events;
pub mod queues;
pub mod tenants;
pub mod tickets;
