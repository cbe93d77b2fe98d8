//! The one error type at the HTTP edge: every error leaves as
//! `{"error": "...", "code": "...", "detail": ...}` with its status.
use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use sea_orm::DbErr;
use serde::Serialize;

use crate::billing::ledger::ApplyError;
use crate::domain::FieldError;
use crate::feed::FeedError;
use crate::macros::MacroError;
use crate::numbers::NumberError;
use crate::portal::PortalError;
use crate::ratelimit::Verdict;
use crate::tenants::registry::TenantBusy;
use crate::tickets::error::TicketError;

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
        if crate::db::is_connection_error(&e) {
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

// One mapping per feature: the feature's refusal in its own words → status, code, message.

impl From<crate::queues::QueueError> for ApiError {
    fn from(e: crate::queues::QueueError) -> Self {
        match e {
            crate::queues::QueueError::NotFound => ApiError::not_found(),
            crate::queues::QueueError::Db(e) => e.into(),
        }
    }
}

impl From<MacroError> for ApiError {
    fn from(e: MacroError) -> Self {
        match e {
            MacroError::NotFound => ApiError::not_found(),
            MacroError::Db(e) => e.into(),
        }
    }
}

impl From<TicketError> for ApiError {
    fn from(e: TicketError) -> Self {
        match e {
            TicketError::NotFound => ApiError::not_found(),
            TicketError::InsufficientCredits => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_credits",
                "Insufficient credits to open a ticket",
            )
            .with_detail("tenant_balance_exhausted"),
            TicketError::Closed => ApiError::conflict(
                "ticket_closed",
                "A closed ticket is final — open a new ticket instead",
            ),
            TicketError::Merged { into } => ApiError::conflict(
                "ticket_closed",
                "This ticket was merged into another; continue there",
            )
            .with_detail(crate::domain::ids::TicketId::from_uuid(into).to_string()),
            TicketError::InvalidMerge(why) => ApiError::validation("into", why),
            TicketError::InvalidTransition { from, to } => ApiError::bad_request(
                "invalid_transition",
                format!("Cannot change status from {from} to {to}"),
            )
            .with_detail("status"),
            TicketError::ConcurrentUpdate => ApiError::conflict(
                "concurrent_update",
                "The ticket is being changed concurrently; retry",
            ),
            TicketError::PreconditionFailed { current } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "The ticket changed since that version; reload it and try again",
            )
            .with_detail(current.to_string())
            .with_header(actix_web::http::header::ETAG, format!("\"{current}\"")),
            TicketError::UnknownMacro => {
                ApiError::validation("macro_id", "`macro_id` names no macro")
            }
            TicketError::Field(e) => e.into(),
            TicketError::UnknownAssignee => {
                ApiError::validation("assignee_id", "`assignee_id` is not an active operator")
            }
            TicketError::NotBountyEligible => ApiError::conflict(
                "not_bounty_eligible",
                "Only tickets in the `bug` category earn a bounty",
            ),
            TicketError::BountyAlreadyAwarded => ApiError::conflict(
                "bounty_already_awarded",
                "This ticket's bounty was already awarded",
            ),
            TicketError::TenantBusy => TenantBusy.into(),
            TicketError::Corrupt(cause) => ApiError::internal(cause),
            TicketError::Db(e) => e.into(),
        }
    }
}

impl From<TenantBusy> for ApiError {
    fn from(_: TenantBusy) -> Self {
        ApiError::unavailable("The tenant is busy; retry shortly")
    }
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Db(e) => e.into(),
            // Only credits reach the edge this way, and a credit never lowers the balance.
            ApplyError::InsufficientBalance => ApiError::internal("credit refused"),
        }
    }
}

impl From<crate::tenants::manage::TenantError> for ApiError {
    fn from(e: crate::tenants::manage::TenantError) -> Self {
        use crate::tenants::manage::TenantError;
        match e {
            TenantError::NotFound => ApiError::not_found(),
            TenantError::Field(e) => e.into(),
            TenantError::Busy(e) => e.into(),
            TenantError::Ledger(e) => e.into(),
            TenantError::Db(e) => e.into(),
        }
    }
}

impl From<crate::webhooks::WebhookError> for ApiError {
    fn from(e: crate::webhooks::WebhookError) -> Self {
        use crate::webhooks::WebhookError;
        match e {
            WebhookError::NotFound => ApiError::not_found(),
            WebhookError::NoReceiver => ApiError::internal(e),
            WebhookError::Db(e) => e.into(),
        }
    }
}

impl From<crate::banner::BannerError> for ApiError {
    fn from(e: crate::banner::BannerError) -> Self {
        match e {
            crate::banner::BannerError::Field(e) => e.into(),
            crate::banner::BannerError::Db(e) => e.into(),
        }
    }
}

impl From<NumberError> for ApiError {
    fn from(e: NumberError) -> Self {
        let no_such = |what: &str, field: &str| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("No such {what}"),
            )
            .with_detail(field)
        };
        match e {
            NumberError::NoSuchAgent => no_such("agent", "agent_id"),
            NumberError::NoSuchNumber => no_such("number", "number"),
            NumberError::NumberTaken => ApiError::conflict(
                "number_taken",
                "This number is registered to another account",
            )
            .with_detail("number"),
            NumberError::ConcurrentUpdate => ApiError::conflict(
                "concurrent_update",
                "The number is being registered concurrently; retry",
            ),
            NumberError::Capped(e) => e.into(),
            NumberError::Db(e) => e.into(),
        }
    }
}

impl From<FeedError> for ApiError {
    fn from(e: FeedError) -> Self {
        match e {
            FeedError::TooManyStreams(limit) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                "Too many open event streams: close one before opening another",
            )
            .with_detail(format!("at most {limit} per tenant")),
            FeedError::PositionExpired => ApiError::new(
                StatusCode::GONE,
                "position_expired",
                "Events after this position are no longer kept: re-read your lists, then page from the start",
            )
            .with_detail("after"),
            FeedError::Db(e) => e.into(),
        }
    }
}

impl From<PortalError> for ApiError {
    fn from(e: PortalError) -> Self {
        match e {
            PortalError::UnknownLink => ApiError::new(
                StatusCode::NOT_FOUND,
                "portal_link_unknown",
                "This Support link is not valid; ask for a new one",
            ),
            PortalError::LinkUsed { .. } => ApiError::new(
                StatusCode::GONE,
                "portal_link_used",
                "This Support link was already used; ask for a new one",
            ),
            PortalError::LinkExpired { .. } => ApiError::new(
                StatusCode::GONE,
                "portal_link_expired",
                "This Support link has expired (links last 5 minutes); ask for a new one",
            ),
            PortalError::Db(e) => e.into(),
        }
    }
}

/// The `429` for a refused rate-limit verdict (`src/ratelimit/` decides).
pub fn rate_limited(v: &Verdict) -> ApiError {
    let err = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests; retry after the Retry-After header's seconds",
    )
    .with_detail(v.kind.as_str())
    .with_header(actix_web::http::header::RETRY_AFTER, v.retry_after());
    v.headers().into_iter().fold(err, |err, (name, value)| {
        err.with_header(HeaderName::from_static(name), value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::LimitKind;

    fn verdict(remaining: u32, retry: Option<u64>) -> Verdict {
        Verdict {
            kind: LimitKind::Tenant,
            limit: 5,
            remaining,
            reset_secs: 1,
            retry_after_secs: retry,
        }
    }

    #[test]
    fn refusals_are_429_with_whole_seconds() {
        let err = rate_limited(&verdict(0, Some(3)));
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.code, "rate_limited");
        assert_eq!(err.detail.as_deref(), Some("tenant"));
        let header = |name: &str| {
            err.headers
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .and_then(|(_, v)| v.to_str().ok())
                .map(str::to_string)
        };
        assert_eq!(header("retry-after").as_deref(), Some("3"));
        assert_eq!(header("ratelimit-limit").as_deref(), Some("5"));
        assert_eq!(header("ratelimit-remaining").as_deref(), Some("0"));
        assert_eq!(header("ratelimit-reset").as_deref(), Some("1"));
    }
}
