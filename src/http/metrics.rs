//! `GET /metrics`: Prometheus text exposition, behind the staff token (ops scrape with an
//! operator token; see the README's "Operating it").
use actix_web::{HttpResponse, web};
use chrono::Utc;
use workers::jobs::Queue;

use crate::app::AppState;
use crate::http::auth::Staff;
use crate::http::error::ApiResult;
use crate::metrics::{counter, gauge, pool_gauge};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(metrics)));
}

/// Prometheus metrics
///
/// Prometheus text exposition: requests by route template and status, latency histograms,
/// rate-limit rejections, live tenant actors, jobs per queue and state, outbox lag and
/// database pool usage. Requires an operator token.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)),
    security(("staff_token" = [])),
)]
pub(crate) async fn metrics(state: web::Data<AppState>, _: Staff) -> ApiResult<HttpResponse> {
    let mut out = String::with_capacity(8 * 1024);
    state.metrics.render_http(&mut out);
    crate::metrics::render_create_stages(&mut out);
    gauge(
        &mut out,
        "helpline_tenant_actors_live",
        "Tenant actors running in this process.",
        &[(String::new(), state.tenants.live() as f64)],
    );
    let (batches, creates) = state.tenants.create_batches();
    counter(
        &mut out,
        "helpline_ticket_create_batches_total",
        "Transactions that opened tickets (the creates waiting in a tenant's actor share one).",
        &[(String::new(), batches as f64)],
    );
    counter(
        &mut out,
        "helpline_ticket_creates_batched_total",
        "Ticket creates run in those transactions (÷ batches = mean batch size).",
        &[(String::new(), creates as f64)],
    );

    if let Some(heap) = crate::memory::heap_in_use_bytes() {
        gauge(
            &mut out,
            "helpline_heap_in_use_bytes",
            "Heap the allocator has handed out and not had back (jemalloc's stats.allocated).",
            &[(String::new(), heap as f64)],
        );
    }

    let (tenant_streams, operator_streams) = state.feed.open_streams();
    gauge(
        &mut out,
        "helpline_feed_streams_open",
        "Event-feed streams open on this node.",
        &[
            ("kind=\"tenant\"".into(), tenant_streams as f64),
            ("kind=\"operator\"".into(), operator_streams as f64),
        ],
    );

    let now = Utc::now();
    let mut depths = Vec::new();
    for queue in Queue::ALL {
        let s = crate::queues::stats(&state.db, &state.jobs.transport, queue, now).await?;
        for (name, value) in [
            ("pending", s.pending),
            ("scheduled", s.scheduled),
            ("running", s.running),
            ("done", s.done),
            ("failed", s.failed),
            ("dead", s.dead),
        ] {
            depths.push((
                format!("queue=\"{}\",state=\"{name}\"", queue.as_str()),
                value as f64,
            ));
        }
    }
    gauge(
        &mut out,
        "helpline_queue_jobs",
        "Jobs per queue and state (cluster-wide).",
        &depths,
    );

    let lag = workers::outbox::oldest_unsent_age(&state.db, now)
        .await?
        .map_or(0.0, |age| age.num_milliseconds() as f64 / 1000.0);
    gauge(
        &mut out,
        "helpline_outbox_lag_seconds",
        "Age of the oldest due outbox row not yet moved to its queue.",
        &[(String::new(), lag)],
    );

    let (size, idle) = crate::db::pool_usage(&state.db);
    pool_gauge(
        &mut out,
        "helpline_db_pool_connections",
        "Database pool connections of this process.",
        size as usize,
        idle,
    );
    let (open, idle) = state.reads.usage();
    pool_gauge(
        &mut out,
        "helpline_db_read_connections",
        "Connections of this process's read pool (the hot single-statement reads).",
        open,
        idle,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}
