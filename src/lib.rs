//! Helpline: a multi-tenant support-desk service. See `README.md` and `docs/`.
pub mod account;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod ledger;
pub mod notifications;
pub mod numbers;
pub mod ratelimit;
pub mod status_banner;
pub mod tenants;
pub mod tickets;
