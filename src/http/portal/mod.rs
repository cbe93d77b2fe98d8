//! The tenant Support tab's edge: `POST /v1/portal/sessions` (the link a platform hands its
//! user) in `sessions.rs`; the tab's pages, forms and live events in `pages.rs`.
pub mod pages;
pub mod sessions;
