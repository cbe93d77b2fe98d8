//! Operator routes under `/admin`.
pub mod tenants;
