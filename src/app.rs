//! Shared state and the actix-web application, built the same way by `main` and by tests.
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use sea_orm::DatabaseConnection;

use crate::auth::cache::AuthCache;
use crate::banner::BannerCache;
use crate::config::Config;
use crate::feed::hub::FeedWake;
use crate::http;
use crate::http::error::ApiError;
use crate::jobs::Jobs;
use crate::ratelimit::{self, RateLimits};
use crate::tenants::registry::Registry;

pub struct AppState {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    /// Connections for the hot single-statement reads (lists, the inbox, one ticket).
    pub reads: crate::db::ReadPool,
    pub auth: AuthCache,
    pub limits: RateLimits,
    pub refusal_pacing: ratelimit::pacing::RefusalPacing,
    pub tenants: Arc<Registry>,
    pub banner: BannerCache,
    pub jobs: Jobs,
    pub metrics: crate::metrics::Metrics,
    /// This node's event-feed reader and its open streams.
    pub feed: Arc<crate::feed::hub::Hub>,
    /// The base of the links this service hands out: `HELPLINE_PUBLIC_URL`, else the address
    /// the server bound (set by [`http_server`]).
    public_url: std::sync::OnceLock<String>,
}

impl AppState {
    /// Connects the queue backend; the job workers are started separately (`Jobs::start`).
    pub async fn new(config: Config, db: DatabaseConnection) -> Result<Self, String> {
        let arbiters = std::thread::available_parallelism().map_or(2, |n| n.get());
        let config = Arc::new(config);
        let read_pool_size = crate::db::read_pool_size(&config.database_url, config.db_pool_size);
        let reads = crate::db::ReadPool::new(&config.database_url, read_pool_size, &db)
            .map_err(|e| format!("cannot set up the read pool: {e}"))?;
        let jobs = Jobs::connect(&config).await?;
        let feed_wake = FeedWake::default();
        let feed = crate::feed::hub::Hub::start(
            db.clone(),
            &config.database_url,
            config.streams_per_tenant,
            feed_wake.clone(),
        )
        .await
        .map_err(|e| format!("cannot start the event feed: {e}"))?;
        Ok(Self {
            auth: AuthCache::new(db.clone(), config.admin_token.as_deref()),
            limits: ratelimit::RateLimits::from_config(&config),
            refusal_pacing: ratelimit::pacing::RefusalPacing::new(config.refusal_pace),
            tenants: Registry::new(
                db.clone(),
                config.clone(),
                jobs.nudge.clone(),
                feed_wake,
                arbiters,
            ),
            config,
            db,
            reads,
            banner: BannerCache::default(),
            jobs,
            metrics: Default::default(),
            feed,
            public_url: std::sync::OnceLock::new(),
        })
    }

    /// The base of the links this service hands out, without a trailing slash.
    pub fn public_url(&self) -> &str {
        self.public_url.get_or_init(|| {
            self.config
                .public_url
                .clone()
                .unwrap_or_else(|| crate::config::local_url(self.config.listen))
        })
    }
}

/// Every route, under the middleware stack. Used by the server and by tests.
///
/// actix tries routes in the order they are registered, and each pattern with a `{param}`
/// it passes costs a regex match: the static service routes go first, then the API's
/// scopes (the ticket routes first in each), then the pages, whose many parameterised
/// routes an API request would otherwise try one by one.
pub fn configure(cfg: &mut web::ServiceConfig) {
    http::service::routes(cfg);
    http::metrics::routes(cfg);
    cfg.service(
        web::scope("/v1")
            .configure(http::tickets::routes)
            .configure(http::keys::routes)
            .configure(http::banner::routes)
            .configure(http::billing::routes)
            .configure(http::notifications::routes)
            .configure(http::agents::routes)
            .configure(http::numbers::routes)
            .configure(http::account::routes)
            .configure(http::webhooks::routes)
            .configure(http::erasure::routes)
            .configure(http::events::routes)
            .configure(http::portal::sessions::routes)
            .default_service(web::to(not_found)),
    );
    cfg.service(
        web::scope("/admin")
            .configure(http::admin::tickets::routes)
            .configure(http::admin::tenants::routes)
            .configure(http::admin::banner::routes)
            .configure(http::admin::queues::routes)
            .configure(http::admin::erasure::routes)
            .configure(http::admin::events::routes)
            .configure(http::admin::staff::routes)
            .configure(http::admin::macros::routes)
            .configure(http::admin::bots::routes)
            .default_service(web::to(not_found)),
    );
    http::web::assets::routes(cfg);
    http::web::console::routes(cfg);
    http::portal::pages::routes(cfg);
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "No such route",
    ))
}

/// Binds the HTTP server (not yet running). `listener` lets tests bind port 0.
pub fn http_server(
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
) -> std::io::Result<Server> {
    let public_url = match &state.config.public_url {
        Some(url) => url.clone(),
        None => crate::config::local_url(listener.local_addr()?),
    };
    // A second server on the same state keeps the first one's URL.
    let _ = state.public_url.set(public_url);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(http::idempotency::idempotency))
            .wrap(from_fn(http::auth::middleware::authenticate))
            .wrap(from_fn(http::cors::cors))
            .wrap(from_fn(http::context::request_context))
            .configure(configure)
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(30)
    // An event stream writes small frames while earlier ones may still be unacknowledged:
    // Nagle's algorithm would hold them until the client's delayed ACK (up to 40 ms).
    .tcp_nodelay(true)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Periodic housekeeping: drop idle limiter state, expired cached keys and idle read
/// connections.
pub fn spawn_housekeeping(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(10));
        let mut trim = crate::memory::TrimAfterShrink::default();
        for round in 0u64.. {
            tick.tick().await;
            state.limits.sweep();
            state.auth.sweep();
            state.reads.close_idle(crate::db::READ_IDLE_LIFETIME);
            if trim.shrank(state.tenants.live()) {
                crate::memory::release_free_memory();
            }
            // Database clean-ups are cheap but need not run often.
            if round % 30 != 0 {
                continue;
            }
            let idle = state.config.session_idle;
            if let Err(e) =
                crate::sessions::purge_expired(&state.db, idle, chrono::Utc::now()).await
            {
                tracing::warn!(error = %e, "could not purge expired browser sessions");
            }
            if let Err(e) = crate::idempotency::purge_expired(&state.db, chrono::Utc::now()).await {
                tracing::warn!(error = %e, "could not purge expired idempotency keys");
            }
            if let Err(e) = workers::outbox::purge_sent(&state.db, SENT_OUTBOX_KEPT).await {
                tracing::warn!(error = %e, "could not purge sent outbox rows");
            }
            if let Err(e) = crate::portal::links::purge_expired(&state.db, chrono::Utc::now()).await
            {
                tracing::warn!(error = %e, "could not purge expired portal links");
            }
            let retention = state.config.event_retention;
            if let Err(e) = crate::feed::store::trim(&state.db, retention, chrono::Utc::now()).await
            {
                tracing::warn!(error = %e, "could not trim the event feed");
            }
        }
    });
}

/// How long relayed outbox rows are kept (for inspection) before they are deleted.
const SENT_OUTBOX_KEPT: chrono::Duration = chrono::Duration::days(7);
