//! Query-string parsing shared by list endpoints: pagination and typed filters.
use std::collections::HashMap;
use std::str::FromStr;

use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;
/// The largest `offset` the databases can bind (a signed 64-bit integer).
pub const MAX_OFFSET: u64 = i64::MAX as u64;

/// The raw query string as a map; a repeated key keeps its last value.
pub struct QueryMap(HashMap<String, String>);

impl QueryMap {
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .map(|pairs| Self(pairs.into_iter().collect()))
            .map_err(|_| ApiError::bad_request("invalid_query", "The query string is malformed"))
    }

    /// A non-empty value, or `None`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Parses a value with `FromStr`; a bad value is `400 validation_failed` naming the parameter.
    pub fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        self.get(key)
            .map(|raw| {
                raw.parse::<T>().map_err(|_| {
                    ApiError::validation(key, format!("`{key}` has an invalid value `{raw}`"))
                })
            })
            .transpose()
    }

    pub fn page(&self) -> Result<Page, ApiError> {
        let number = |key: &str, default: u64| -> Result<u64, ApiError> {
            match self.get(key) {
                None => Ok(default),
                Some(raw) => raw.parse::<u64>().map_err(|_| {
                    ApiError::validation(key, format!("`{key}` must be a whole number, 0 or more"))
                }),
            }
        };
        let offset = number("offset", 0)?;
        if offset > MAX_OFFSET {
            return Err(ApiError::validation(
                "offset",
                format!("`offset` must be at most {MAX_OFFSET}"),
            ));
        }
        Ok(Page {
            limit: number("limit", DEFAULT_LIMIT)?.min(MAX_LIMIT),
            offset,
        })
    }
}

/// `limit` and `offset` as every list accepts them (the OpenAPI description of [`Page`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size: default 50; more than 200 is clamped to 200.
    #[param(minimum = 0, default = 50)]
    pub limit: Option<u64>,
    /// Rows to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64, default = 0)]
    pub offset: Option<u64>,
}

/// `cursor`, for the lists that page by keyset (tickets, ledger).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CursorParams {
    /// Opaque: the `next_cursor` of the previous page. When given, `offset` is ignored and a
    /// walk sees every row exactly once even while new rows are inserted.
    pub cursor: Option<String>,
}

/// `limit` (default 50, clamped to 200) and `offset` (default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u64,
    pub offset: u64,
}

/// An opaque keyset cursor: the last id seen (ids are UUIDv7, so they sort by creation).
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode_cursor(raw: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::validation("cursor", "`cursor` is not a cursor this API returned"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).ok(), Some(id));
        for bad in ["", "abc", "!!!!", "AAAA"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
    use actix_web::test::TestRequest;

    fn page(query: &str) -> Result<Page, ApiError> {
        let req = TestRequest::with_uri(&format!("/x?{query}")).to_http_request();
        QueryMap::from_request(&req)?.page()
    }

    #[test]
    fn pagination_bounds() {
        assert_eq!(
            page("").ok(),
            Some(Page {
                limit: 50,
                offset: 0
            })
        );
        assert_eq!(
            page("limit=10&offset=5").ok(),
            Some(Page {
                limit: 10,
                offset: 5
            })
        );
        assert_eq!(
            page("limit=1000").ok(),
            Some(Page {
                limit: 200,
                offset: 0
            })
        );
        assert_eq!(
            page("limit=0").ok(),
            Some(Page {
                limit: 0,
                offset: 0
            })
        );
        assert_eq!(
            page("offset=9223372036854775807").ok(),
            Some(Page {
                limit: 50,
                offset: 9_223_372_036_854_775_807
            })
        );
        for bad in [
            "limit=-1",
            "limit=ten",
            "offset=-5",
            "offset=1.5",
            "offset=9223372036854775808",
        ] {
            let err = page(bad).expect_err(bad);
            assert_eq!(err.code, "validation_failed");
        }
    }
}
