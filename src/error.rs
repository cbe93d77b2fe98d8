//! The one error type at the HTTP edge: every error leaves as
//! `{"error": "...", "code": "...", "detail": ...}` with its status.
use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use sea_orm::DbErr;
use serde::Serialize;

use crate::domain::FieldError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: Cow<'static, str>,
    pub detail: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Every error response: a human message, a stable machine code, and optional context
/// (for `validation_failed` and `unknown_field`, the field).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "error": "`subject` must be at least 3 characters",
    "code": "validation_failed",
    "detail": "subject"
}))]
pub struct ErrorBody<'a> {
    /// What went wrong, for people.
    pub error: &'a str,
    /// What went wrong, for programs: e.g. `validation_failed`, `invalid_json`,
    /// `unknown_field`, `unauthorized`, `insufficient_scope`, `not_found`, `rate_limited`.
    pub code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub detail: Option<&'a str>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: impl ToString) -> Self {
        if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
            self.headers.push((name, value));
        }
        self
    }

    /// `400 validation_failed`; `detail` names the field.
    pub fn validation(field: &str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", message).with_detail(field)
    }

    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource")
    }

    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized(message: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message).with_header(
            actix_web::http::header::WWW_AUTHENTICATE,
            "Bearer realm=\"helpline\"",
        )
    }

    pub fn forbidden(code: &'static str, message: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn unavailable(message: &'static str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            .with_header(actix_web::http::header::RETRY_AFTER, 1)
    }

    /// Logs the cause; the client sees a bare 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        let mut response = response.json(ErrorBody {
            error: &self.message,
            code: &self.code,
            detail: self.detail.as_deref(),
        });
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            let kind = self.detail.clone().unwrap_or_default();
            response
                .extensions_mut()
                .insert(crate::metrics::RateLimited(kind));
        }
        response
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::validation(e.field, e.message)
    }
}

impl From<crate::caps::Error> for ApiError {
    fn from(e: crate::caps::Error) -> Self {
        let message = format!("Limit reached: {e}");
        match e {
            crate::caps::Error::Reached(cap) => {
                ApiError::conflict("limit_reached", message).with_detail(cap.what)
            }
            crate::caps::Error::Db(db) => db.into(),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> Self {
        if is_connection_error(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return ApiError::unavailable("The database is unavailable; retry shortly");
        }
        if matches!(e, DbErr::RecordNotUpdated | DbErr::RecordNotFound(_)) {
            // The row went away between our read and our write (a concurrent delete).
            return ApiError::not_found();
        }
        if is_unstorable_text(&e) {
            // Free text with a NUL that no domain type refused first: the client's input,
            // not our failure (PostgreSQL cannot store NUL in text; SQLite can).
            return ApiError::validation("body", "Text must not contain NUL characters");
        }
        ApiError::internal(e)
    }
}

/// PostgreSQL refused a character in text (SQLSTATE 22021 `character_not_in_repertoire`,
/// which is what a NUL gets, or 22P05 `untranslatable_character`).
fn is_unstorable_text(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let (DbErr::Query(RuntimeErr::SqlxError(err)) | DbErr::Exec(RuntimeErr::SqlxError(err))) = e
    else {
        return false;
    };
    match err.as_ref() {
        sea_orm::sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("22021" | "22P05"))
        }
        _ => false,
    }
}

/// A lost or refused database connection is a 503 the client may retry, not a 500.
pub fn is_connection_error(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        other => {
            let text = other.to_string();
            text.contains("Connection refused")
                || text.contains("database is locked")
                || text.contains("connection closed")
                || text.contains("pool timed out")
                || text.contains("broken pipe")
        }
    }
}

/// True when the error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
