//! Support tickets: mutations (run by the tenant's actor), reads, and their API shapes.
pub mod ops;
pub mod query;
pub mod view;
