//! Operator routes under `/admin`.
pub mod queues;
pub mod tenants;
pub mod tickets;
