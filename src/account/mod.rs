//! The tenant's account as a whole: the data export (docs/API.md §9).
pub mod erasure;
pub mod export;
