//! The `Idempotency-Key` middleware for every `POST` under `/v1`: replays a stored response
//! with `Idempotent-Replayed: true`, refuses a reused key with another request and a key
//! whose first request is still running. It runs after authentication, which has already
//! refused a key outside its scope, so only a key allowed on the route claims or replays;
//! records are the calling API key's own (`crate::idempotency`).
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use chrono::Utc;

use crate::app::AppState;
use crate::auth::Principal;
use crate::caps;
use crate::domain::validate::IdempotencyKey;
use crate::http::auth::middleware::bearer_token;
use crate::http::error::ApiError;
use crate::http::json::read_body;
use crate::idempotency::{self, Caller, Claim};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

fn reject(req: ServiceRequest, err: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(err.error_response())
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let applies = req.method() == Method::POST && req.path().starts_with("/v1/");
    let raw_key = req.headers().get(IDEMPOTENCY_KEY).cloned();
    let caller = match (
        &raw_key,
        req.extensions().get::<Principal>(),
        bearer_token(req.headers()),
    ) {
        (Some(_), Some(Principal::Tenant(t)), Some(token)) if applies => {
            Some(Caller::new(t.tenant_id, t.key_id, token))
        }
        _ => None,
    };
    let (Some(raw_key), Some(caller), true) = (raw_key, caller, applies) else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let key = match raw_key
        .to_str()
        .map_err(|_| ())
        .and_then(|k| IdempotencyKey::parse(k).map_err(|_| ()))
    {
        Ok(k) => k.into_inner(),
        Err(()) => {
            let err = ApiError::validation(
                "Idempotency-Key",
                "`Idempotency-Key` must be 1–255 printable ASCII characters",
            );
            return Ok(reject(req, err));
        }
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(reject(req, ApiError::internal("application state missing")));
    };

    // The body is read here to fingerprint the request, then handed on unchanged.
    let body = match read_body(req.take_payload()).await {
        Ok(body) => body,
        Err(err) => return Ok(reject(req, err)),
    };
    let fingerprint = idempotency::fingerprint(req.method().as_str(), req.path(), &body);
    req.set_payload(Payload::from(body));

    match idempotency::claim(&state.db, &caller, &key, &fingerprint, Utc::now()).await {
        Err(e) => return Ok(reject(req, stored_error(e))),
        Ok(Claim::Mismatch) => {
            let err = ApiError::conflict(
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request",
            );
            return Ok(reject(req, err));
        }
        Ok(Claim::InProgress) => {
            let err = ApiError::conflict(
                "idempotency_in_progress",
                "A request with this Idempotency-Key is still running; retry shortly",
            );
            return Ok(reject(req, err));
        }
        Ok(Claim::CapReached(cap)) => {
            return Ok(reject(req, caps::Error::Reached(cap).into()));
        }
        Ok(Claim::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let res = HttpResponse::build(status)
                .insert_header((CONTENT_TYPE, "application/json"))
                .insert_header((REPLAYED, HeaderValue::from_static("true")))
                .body(body);
            return Ok(req.into_response(res));
        }
        Ok(Claim::Fresh) => {}
    }

    let res = match next.call(req).await {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => {
            if let Err(db) = idempotency::release(&state.db, &caller, &key).await {
                tracing::warn!(error = %db, "could not release an idempotency key");
            }
            return Err(e);
        }
    };
    let (http_req, http_res) = res.into_parts();
    let status = http_res.status();
    let (head, body) = http_res.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(b) => b,
        Err(_) => {
            idempotency::release(&state.db, &caller, &key).await.ok();
            return Ok(ServiceResponse::new(
                http_req,
                ApiError::internal("response body unreadable").error_response(),
            ));
        }
    };
    let outcome = if status.is_server_error() {
        idempotency::release(&state.db, &caller, &key)
            .await
            .map_err(idempotency::Error::from)
    } else {
        idempotency::complete(&state.db, &caller, &key, status.as_u16(), &bytes).await
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "could not record an idempotent response");
    }
    Ok(ServiceResponse::new(
        http_req,
        head.set_body(BoxBody::new(bytes)),
    ))
}

fn stored_error(e: idempotency::Error) -> ApiError {
    match e {
        idempotency::Error::Db(db) => db.into(),
        other => ApiError::internal(other),
    }
}
