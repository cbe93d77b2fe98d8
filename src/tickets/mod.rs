//! Support tickets: mutations (run by the tenant's actor), reads, and their API shapes.
pub mod counts;
pub mod error;
pub mod merge;
pub mod ops;
pub mod query;
pub mod rows;
pub mod view;
