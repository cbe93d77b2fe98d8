//! The tenant Support tab's edge: `POST /v1/portal/sessions` (the link a platform hands its
//! user) in `sessions.rs`.
pub mod sessions;
