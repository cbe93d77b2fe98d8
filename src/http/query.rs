//! Query-string parsing shared by list endpoints: pagination and typed filters.
use std::collections::HashMap;
use std::str::FromStr;

use actix_web::HttpRequest;

use crate::http::error::ApiError;
use crate::pagination::{
    DEFAULT_LIMIT, MAX_DEEP_OFFSET, MAX_LIMIT, MAX_OFFSET, Page, decode_cursor,
};

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

    /// The `cursor` parameter of a keyset list.
    pub fn cursor(&self) -> Result<Option<uuid::Uuid>, ApiError> {
        Ok(self.get("cursor").map(decode_cursor).transpose()?)
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

impl QueryMap {
    /// The page of a list that also pages by `cursor`: an `offset` past
    /// [`MAX_DEEP_OFFSET`] is `400 use_cursor` (detail `cursor`).
    pub fn keyset_page(&self) -> Result<Page, ApiError> {
        let page = self.page()?;
        if page.offset > MAX_DEEP_OFFSET && self.get("cursor").is_none() {
            return Err(ApiError::bad_request(
                "use_cursor",
                format!(
                    "`offset` goes up to {MAX_DEEP_OFFSET}; walk further with `cursor` (each page's `next_cursor`)"
                ),
            )
            .with_detail("cursor"));
        }
        Ok(page)
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

#[cfg(test)]
mod tests {
    use super::*;

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
