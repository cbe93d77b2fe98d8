//! Integration tests over real HTTP, on SQLite and on PostgreSQL.
mod auth;
mod cli;
mod errors;
mod helpers;
mod ratelimit;
mod tenants;
mod tickets;
