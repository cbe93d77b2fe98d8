//! `/v1/account/*`: the tenant's account as a whole (docs/API.md §9).
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use futures_util::TryStreamExt;

use crate::account::export::{self, ExportError, Scope};
use crate::app::AppState;
use crate::billing::ledger::LedgerEntryOut;
use crate::http::auth::SecretKey;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::notifications::NotificationOut;
use crate::numbers::view::{AgentOut, NumberOut};
use crate::tenants::TenantOut;
use crate::tickets::view::TicketWithEvents;
use crate::webhooks::view::EndpointOut;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/account/export").route(web::get().to(export_account)));
}

/// Everything the tenant owns. Describes the document [`export`] streams; never built.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct AccountExport {
    #[schema(example = "account_export")]
    object: String,
    exported_at: chrono::DateTime<Utc>,
    tenant: TenantOut,
    /// Each ticket with its public messages and public events.
    tickets: Vec<TicketWithEvents>,
    numbers: Vec<NumberOut>,
    agents: Vec<AgentOut>,
    ledger: Vec<LedgerEntryOut>,
    /// Webhook endpoints, without their signing secrets.
    webhooks: Vec<EndpointOut>,
    notifications: Vec<NotificationOut>,
}

/// Export the account
///
/// One JSON document with everything the tenant owns, streamed as a download
/// (`Content-Disposition: attachment`).
#[utoipa::path(
    get,
    path = "/v1/account/export",
    tag = "account",
    responses(
        (status = 200, description = "The export document", body = AccountExport),
        (status = 404, description = "`not_found`: the tenant no longer exists", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
/// Streams the export; see [`export`] for the document's shape.
async fn export_account(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
) -> ApiResult<HttpResponse> {
    let tenant_id = key.tenant_id;
    let scope = Scope {
        db: state.db.clone(),
        tenant_id,
        now: Utc::now(),
    };
    let body = export::document(scope).await.map_err(|e| match e {
        ExportError::Db(e) => ApiError::from(e),
        ExportError::NoTenant => ApiError::not_found(),
        other => ApiError::internal(other),
    })?;
    let body = body.inspect_err(move |e| {
        tracing::error!(error = %e, tenant = %tenant_id, "account export aborted");
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"helpline-export-{tenant_id}.json\""),
        ))
        .insert_header((CACHE_CONTROL, "no-store"))
        .streaming(body))
}
