//! Integration tests over real HTTP, on SQLite and on PostgreSQL.
mod account;
mod agents;
mod auth;
mod billing;
mod bots;
mod caps;
mod cli;
mod errors;
mod fakes;
mod feed;
mod helpers;
mod idempotency;
mod idor;
mod jobs;
mod numbers;
mod openapi;
mod ops;
mod ratelimit;
mod readme;
mod scale;
mod sla;
mod sse;
#[path = "../support/mod.rs"]
mod support;
mod tenants;
mod tickets;
mod workflow;
