//! The tenant's account as a whole: its keys, the data export and erasure (docs/API.md §9).
pub mod erasure;
pub mod export;
pub mod keys;
