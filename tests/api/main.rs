//! Integration tests over real HTTP, on SQLite and on PostgreSQL.
mod account;
mod agents;
mod auth;
mod billing;
mod cli;
mod errors;
mod fakes;
mod helpers;
mod idor;
mod jobs;
mod numbers;
mod openapi;
mod ops;
mod ratelimit;
mod readme;
mod tenants;
mod tickets;
