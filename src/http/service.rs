//! Liveness, readiness, and the API's own description: `/openapi.json` and `/docs`.
use actix_web::http::header::{CACHE_CONTROL, ContentType};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::http::openapi;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)))
        .service(web::resource("/openapi.json").route(web::get().to(openapi_json)))
        .service(web::resource("/docs").route(web::get().to(docs)));
}

/// The process is up.
#[derive(Serialize, ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness
///
/// The process is up (no dependency is checked).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Up", body = Health)),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Whether this node can serve.
#[derive(Serialize, ToSchema)]
struct Readiness {
    /// `ready` or `unavailable`.
    #[schema(example = "ready")]
    status: &'static str,
    /// `ok` or `unreachable`.
    #[schema(example = "ok")]
    database: &'static str,
    /// `ok` or `unreachable`.
    #[schema(example = "ok")]
    queue: &'static str,
    /// `redis` or `sqlite`.
    #[schema(example = "redis")]
    queue_backend: &'static str,
}

/// Readiness
///
/// `503` while the database or the queue backend cannot be reached.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "The database or the queue cannot be reached", body = Readiness,
         example = json!({"status": "unavailable", "database": "unreachable", "queue": "ok", "queue_backend": "redis"})),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = state.db.ping().await;
    let queue = state.jobs.transport.ping().await;
    if let Err(e) = &database {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    let ready = database.is_ok() && queue;
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        database: if database.is_ok() {
            "ok"
        } else {
            "unreachable"
        },
        queue: if queue { "ok" } else { "unreachable" },
        queue_backend: state.jobs.transport.kind(),
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// This document
///
/// The OpenAPI 3.1 description of every route, generated from the code.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json",
               body = Object)),
)]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(openapi::json())
}

/// API reference
///
/// This document rendered as one self-contained HTML page (no scripts, nothing fetched).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    responses((status = 200, description = "The API reference", content_type = "text/html",
               body = String)),
)]
async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(openapi::html())
}
