//! `POST /v1/portal/sessions`: a single-use link to the tenant's Support tab.
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::domain::web::ReturnUrl;
use crate::http::auth::SecretKey;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::json::OptionalJsonBody;
use crate::portal::links;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/portal/sessions").route(web::post().to(create_portal_session)));
}

/// What the Support tab's link should carry. The body may be left out entirely.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"return_url": "https://console.acme.example/settings"}))]
struct PortalSessionIn {
    /// Where the tab's "back" link leads: an absolute `https` URL (`http` only on
    /// `localhost`, `127.0.0.1` or `[::1]`), at most 2,048 characters.
    #[schema(format = "uri", max_length = 2048)]
    return_url: Option<String>,
}

/// A link that opens the tenant's Support tab.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "object": "portal_session",
    "url": "https://support.example.com/portal/start?token=Xq3b9ZkLr2T8vWc1NdYh5GmPa7sJe4Uf6KoRi0BnQlC",
    "expires_at": "2026-12-01T17:05:00Z",
    "return_url": "https://console.acme.example/settings"
}))]
struct PortalSessionOut {
    #[schema(example = "portal_session")]
    object: &'static str,
    /// Open it once, within 5 minutes: it signs the browser into the tenant's Support tab
    /// and stops working. Redirect the user to it, or load it in an iframe.
    #[schema(format = "uri")]
    url: String,
    expires_at: DateTime<Utc>,
    #[schema(format = "uri")]
    return_url: Option<String>,
}

/// Create a Support-tab link
///
/// A single-use link to the tenant's Support tab (`/portal`), valid for 5 minutes, built on
/// `HELPLINE_PUBLIC_URL`. The tenant's platform creates it server-side with its secret key
/// when its user opens "Support", then redirects the user to `url` or loads it in an iframe
/// (the tab may be framed by the origins listed in the tenant's publishable keys'
/// `allowed_origins`). Opening it signs that browser into the tab with a session cookie for
/// this tenant; a second opening, or one after 5 minutes, shows an error page instead. The
/// link's token is stored only as a hash.
#[utoipa::path(
    post,
    path = "/v1/portal/sessions",
    tag = "portal",
    request_body(content = Option<PortalSessionIn>, description = "Optional: the link's `return_url`"),
    responses(
        (status = 201, description = "The link, shown once", body = PortalSessionOut),
        (status = 400, description = "`validation_failed` (detail `return_url`): not an https URL (http only on localhost)", body = ErrorBody),
    ),
    security(("secret_key" = [])),
)]
async fn create_portal_session(
    state: web::Data<AppState>,
    SecretKey(key): SecretKey,
    OptionalJsonBody(body): OptionalJsonBody<PortalSessionIn>,
) -> ApiResult<HttpResponse> {
    let return_url = body
        .return_url
        .as_deref()
        .map(|u| ReturnUrl::parse(u, "return_url"))
        .transpose()?;
    let shown_return_url = return_url.as_ref().map(|u| u.as_str().to_string());
    let link = links::issue(&state.db, key.tenant_id, return_url, Utc::now()).await?;
    Ok(HttpResponse::Created().json(PortalSessionOut {
        object: "portal_session",
        url: link.url(state.public_url()),
        expires_at: link.expires_at,
        return_url: shown_return_url,
    }))
}
