//! The collision guard at the edge: a ticket's `version` leaves as `ETag: "<version>"` and
//! comes back as `If-Match: "<version>"`.
use actix_web::http::header::{ETAG, IF_MATCH};
use actix_web::{HttpRequest, HttpResponseBuilder};

use crate::http::error::{ApiError, ApiResult};

/// The version `If-Match` names; `None` without the header (or with `*`): nothing is checked.
/// A weak tag (`W/"3"`) matches like a strong one: versions have no byte-level meaning.
pub fn if_match(req: &HttpRequest) -> ApiResult<Option<i64>> {
    let Some(raw) = req.headers().get(IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::validation(
            "If-Match",
            "`If-Match` must be one ticket version as the `ETag` gave it, e.g. \"3\"",
        )
    };
    let text = raw.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(invalid)
}

/// Adds `ETag: "<version>"`.
pub fn etag(builder: &mut HttpResponseBuilder, version: i64) -> &mut HttpResponseBuilder {
    builder.insert_header((ETAG, format!("\"{version}\"")))
}
