//! The JSON body extractor: content type, size limit, and errors that name the field.
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The whole body must arrive within this long of the handler asking for it: a client
/// trickling bytes would otherwise hold a connection and a worker for as long as it likes
/// (actix-web times out only the request head).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads a whole request body: at most [`MAX_BODY_BYTES`], within [`BODY_TIMEOUT`].
pub async fn read_body(mut payload: Payload) -> Result<bytes::Bytes, ApiError> {
    let read = async {
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| {
                ApiError::bad_request("invalid_body", "Could not read the request body")
            })?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(payload_too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    actix_web::rt::time::timeout(BODY_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body did not arrive within 10 seconds",
            ))
        })
}

pub struct JsonBody<T>(pub T);

/// The answer `builder.json(value)` gives (body and `Content-Type`), written by
/// `json_writer`: the hot reads (ticket lists, one ticket).
pub fn written(
    builder: &mut actix_web::HttpResponseBuilder,
    value: &impl crate::json_writer::WriteJson,
) -> actix_web::HttpResponse {
    builder
        .content_type(actix_web::http::header::ContentType::json())
        .body(crate::json_writer::to_vec(value))
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Request body is larger than 64 KiB",
    )
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Request bodies must be JSON (Content-Type: application/json)",
    )
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json_content_type(req);
        let payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(unsupported_media_type());
            }
            let body = read_body(payload).await?;
            parse_json(&body).map(JsonBody)
        })
    }
}

/// A JSON body whose every field is optional, so the body itself may be left out: a request
/// without a body (no `Content-Type`, nothing sent) reads as `T::default()`; anything sent
/// is read exactly as [`JsonBody`] reads it.
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_empty = !req.headers().contains_key(CONTENT_TYPE)
            && req
                .headers()
                .get(actix_web::http::header::CONTENT_LENGTH)
                .is_none_or(|v| v.as_bytes() == b"0");
        if declared_empty {
            let payload = payload.take();
            return Box::pin(async move {
                let body = read_body(payload).await?;
                if body.is_empty() {
                    Ok(OptionalJsonBody(T::default()))
                } else {
                    Err(unsupported_media_type())
                }
            });
        }
        let json = JsonBody::<T>::from_request(req, payload);
        Box::pin(async move { json.await.map(|JsonBody(v)| OptionalJsonBody(v)) })
    }
}

/// Parses a body into `T`, classifying failures as the API reports them.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let value =
        serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| classify(e, is_object))?;
    de.end().map_err(|_| {
        ApiError::bad_request("invalid_json", "Request body is not valid JSON")
            .with_detail("trailing characters after the JSON value")
    })?;
    Ok(value)
}

fn classify(err: serde_path_to_error::Error<serde_json::Error>, is_object: bool) -> ApiError {
    let path = err.path().to_string();
    let inner = err.inner();
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return ApiError::bad_request("invalid_json", "Request body is not valid JSON")
            .with_detail(format!("line {} column {}", inner.line(), inner.column()));
    }
    if !is_object {
        return ApiError::validation("body", "The request body must be a JSON object");
    }
    let message = inner.to_string();
    if let Some(field) = backticked_after(&message, "unknown field `") {
        // The path already ends at the unknown key.
        let field = if path == "." { field } else { path };
        return ApiError::bad_request("unknown_field", format!("Unknown field `{field}`"))
            .with_detail(field);
    }
    if let Some(field) = backticked_after(&message, "missing field `") {
        let field = join_path(&path, &field);
        return ApiError::validation(&field, format!("`{field}` is required"));
    }
    let field = if path == "." {
        "body".to_string()
    } else {
        path
    };
    let reason = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    ApiError::validation(&field, format!("`{field}`: {reason}"))
}

fn backticked_after(message: &str, marker: &str) -> Option<String> {
    let rest = &message[message.find(marker)? + marker.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

fn join_path(parent: &str, field: &str) -> String {
    if parent == "." || parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// For `#[serde(default, deserialize_with = "present")]`: tells a field sent as `null`
/// (`Some(None)`) from one left out (`None`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
        count: Option<u32>,
    }

    fn code_and_detail(body: &str) -> (String, Option<String>) {
        let err = parse_json::<Probe>(body.as_bytes()).expect_err(body);
        (err.code.to_string(), err.detail)
    }

    #[test]
    fn classifies_failures() {
        assert_eq!(code_and_detail("{").0, "invalid_json");
        assert_eq!(code_and_detail("").0, "invalid_json");
        assert_eq!(code_and_detail(r#"{"name":"a"} x"#).0, "invalid_json");
        assert_eq!(
            code_and_detail(r#"{"name":"a","extra":1}"#),
            ("unknown_field".into(), Some("extra".into()))
        );
        assert_eq!(
            code_and_detail(r#"{"count":1}"#),
            ("validation_failed".into(), Some("name".into()))
        );
        assert_eq!(
            code_and_detail(r#"{"name":"a","count":"x"}"#),
            ("validation_failed".into(), Some("count".into()))
        );
        assert_eq!(
            code_and_detail("[1]"),
            ("validation_failed".into(), Some("body".into()))
        );
    }

    #[test]
    fn invalid_utf8_is_invalid_json() {
        let err = parse_json::<Probe>(b"{\"name\":\"\xff\"}").expect_err("bad utf-8");
        assert_eq!(err.code, "invalid_json");
    }
}
