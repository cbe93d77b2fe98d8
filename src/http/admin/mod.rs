//! Operator routes: everything under `/admin`.
pub mod banner;
pub mod erasure;
pub mod events;
pub mod queues;
pub mod tenants;
pub mod tickets;
