//! HTTP resources, one module each; every module exposes `routes`.
pub mod account;
pub mod admin;
pub mod agents;
pub mod billing;
pub mod context;
pub mod erasure;
pub mod idempotency;
pub mod json;
pub mod keys;
pub mod notifications;
pub mod numbers;
pub mod openapi;
pub mod ops;
pub mod query;
pub mod status;
pub mod tickets;
pub mod webhooks;
