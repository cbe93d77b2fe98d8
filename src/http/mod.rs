//! HTTP resources, one module each; every module exposes `routes`.
pub mod admin;
pub mod billing;
pub mod context;
pub mod idempotency;
pub mod json;
pub mod keys;
pub mod notifications;
pub mod ops;
pub mod query;
pub mod status;
pub mod tickets;
