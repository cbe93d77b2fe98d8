//! Integration tests over real HTTP, on SQLite and on PostgreSQL.
mod auth;
mod billing;
mod cli;
mod errors;
mod helpers;
mod tenants;
mod tickets;
