//! Outermost middleware: request id, the body-size guard, JSON for the router's own 404/405,
//! and one structured log line per request.
use std::rc::Rc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, X_CONTENT_TYPE_OPTIONS,
};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, ResponseError};

use crate::auth::Principal;
use crate::http::error::ApiError;
use crate::http::json::{MAX_BODY_BYTES, payload_too_large};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    let ok = !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| value.to_string())
}

fn declared_length(req: &ServiceRequest) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A request's route pattern once [`route_pattern`] has found it (`None`: no route).
#[derive(Debug, Clone)]
struct MatchedPattern(Option<Rc<str>>);

/// The route pattern a request matched, found at most once per request. Routing records
/// it; a request answered before routing (refused by authentication or a rate limit) has
/// its path matched against every route's pattern, which CORS, the scope checks and the
/// metrics would otherwise each do again.
pub fn route_pattern(req: &HttpRequest) -> Option<Rc<str>> {
    if let Some(found) = req.extensions().get::<MatchedPattern>() {
        return found.0.clone();
    }
    let found: Option<Rc<str>> = req.match_pattern().map(Rc::from);
    req.extensions_mut().insert(MatchedPattern(found.clone()));
    found
}

/// When the request reached the first middleware (handlers time their stages from it).
#[derive(Debug, Clone, Copy)]
pub struct RequestStarted(pub Instant);

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let request_id =
        incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    req.extensions_mut().insert(RequestStarted(started));

    let mut res = if declared_length(&req).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        req.into_response(payload_too_large().error_response())
    } else {
        next.call(req).await?.map_into_boxed_body()
    };
    if res.status() == StatusCode::METHOD_NOT_ALLOWED && !res.headers().contains_key(CONTENT_TYPE) {
        let err = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This route does not accept that method",
        );
        res = res.into_response(err.error_response());
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let headers = res.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Answers are per caller and some carry a secret shown once: no cache keeps them, unless
    // the route chose otherwise (the public document and its page).
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }

    let route = route_pattern(res.request());
    let route = route.as_deref().unwrap_or("unmatched");
    if let Some(state) = res
        .request()
        .app_data::<actix_web::web::Data<crate::app::AppState>>()
    {
        state.metrics.observe_request(
            route,
            res.request().method().as_str(),
            res.status().as_u16(),
            started.elapsed(),
        );
        if let Some(limited) = res
            .response()
            .extensions()
            .get::<crate::metrics::RateLimited>()
        {
            state.metrics.observe_rejection(&limited.0);
        }
    }
    // The log line's fields cost formatting on every request: only when it is written.
    if !tracing::enabled!(target: "helpline::http", tracing::Level::INFO) {
        return Ok(res);
    }
    let tenant = match res.request().extensions().get::<Principal>() {
        Some(Principal::Tenant(t)) => t.tenant_id.to_string(),
        Some(Principal::Staff(s)) => format!("staff:{}", s.name),
        Some(Principal::Bot(b)) => format!("bot:{}", b.name),
        None => String::new(),
    };
    tracing::info!(
        target: "helpline::http",
        method = %res.request().method(),
        route = %route,
        status = res.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        tenant = %tenant,
        request_id = %request_id,
        "request"
    );
    Ok(res)
}
