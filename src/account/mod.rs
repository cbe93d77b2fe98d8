//! The tenant's account as a whole: the data export (SPEC §9).
pub mod export;
