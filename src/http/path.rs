//! Ids in the path. A malformed id answers `404`, exactly like an unknown one: a client
//! cannot tell "no such object" from "not an id" (nor another tenant's object from either).
use std::str::FromStr;

use crate::http::error::{ApiError, ApiResult};

/// Parses a path segment into an id type (`TicketId`, `WebhookId`, a tenant's `Uuid`, …).
pub fn path_id<T: FromStr>(raw: &str) -> ApiResult<T> {
    raw.parse().map_err(|_| ApiError::not_found())
}
