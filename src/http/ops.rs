//! Liveness and readiness.
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::app::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `503` while the database or the queue backend cannot be reached.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = state.db.ping().await;
    let queue = state.jobs.transport.ping().await;
    if let Err(e) = &database {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    let body = json!({
        "status": if database.is_ok() && queue { "ready" } else { "unavailable" },
        "database": if database.is_ok() { "ok" } else { "unreachable" },
        "queue": if queue { "ok" } else { "unreachable" },
        "queue_backend": state.jobs.transport.kind(),
    });
    if database.is_ok() && queue {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
