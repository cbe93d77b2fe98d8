//! Operator routes: everything under `/admin`.
pub mod banner;
pub mod bots;
pub mod erasure;
pub mod events;
pub mod macros;
pub mod queues;
pub mod staff;
pub mod tenants;
pub mod tickets;
