//! Who is calling: API keys, staff and bot tokens, the cached lookup that resolves a bearer
//! token, and the principal it resolves to. The HTTP side (`src/http/auth/`) reads the
//! header and enforces each route's scope.
pub mod cache;
pub mod keys;

use uuid::Uuid;

pub use keys::KeyKind;

#[derive(Debug, Clone)]
pub struct TenantPrincipal {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub kind: KeyKind,
    pub prefix: String,
    pub key_hash: String,
    /// The tenant's effective rate limit when the key was loaded.
    pub limits: crate::ratelimit::RateSpec,
    /// A publishable key's origin restriction; `None`: any origin (and always for secret keys).
    pub allowed_origins: Option<std::sync::Arc<crate::domain::web::AllowedOrigins>>,
}

impl TenantPrincipal {
    /// Whether a browser request from `origin` may use this key: a secret key is never
    /// judged by origin (it gets no CORS at all), a publishable key by its list if it has one.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
            .as_ref()
            .is_none_or(|list| list.permits(origin))
    }
}

#[derive(Debug, Clone)]
pub struct StaffPrincipal {
    /// `None` for the bootstrap `HELPLINE_ADMIN_TOKEN`.
    pub id: Option<Uuid>,
    pub name: String,
}

/// An automated replier (`hl_bot_…`): reads tickets and posts replies, nothing else.
#[derive(Debug, Clone)]
pub struct BotPrincipal {
    pub id: Uuid,
    pub name: String,
    pub token_hash: String,
}

#[derive(Debug, Clone)]
pub enum Principal {
    Tenant(TenantPrincipal),
    Staff(StaffPrincipal),
    Bot(BotPrincipal),
}

/// The only operations (method, route pattern) a bot token may call; every other route
/// answers `403` before the idempotency layer or a handler runs.
pub const BOT_OPERATIONS: &[(&str, &str)] = &[
    ("GET", "/admin/support/tickets"),
    ("GET", "/admin/support/tickets/{id}"),
    ("POST", "/admin/support/tickets/{id}/reply"),
];

/// Whether a bot may call this route. No route (`None`) answers `404` anyway.
pub fn bot_may_call(method: &str, pattern: Option<&str>) -> bool {
    pattern.is_none_or(|pattern| {
        BOT_OPERATIONS
            .iter()
            .any(|(m, p)| *m == method && *p == pattern)
    })
}

/// The only operations (method, route pattern) a publishable key may call; every other
/// route needs the secret key. The authentication middleware refuses the rest before the
/// idempotency layer runs, so a publishable key can neither claim nor replay a record on a
/// secret-key route. `tests/api/openapi.rs` checks this list against the document.
pub const PUBLISHABLE_OPERATIONS: &[(&str, &str)] = &[
    ("POST", "/v1/support/tickets"),
    ("GET", "/v1/support/status"),
];

/// Whether a publishable key may call this `/v1` route. No route (`None`) answers `404`
/// anyway, and `/admin` refuses every tenant key itself.
pub fn publishable_may_call(method: &str, pattern: Option<&str>) -> bool {
    pattern.is_none_or(|pattern| {
        !pattern.starts_with("/v1/")
            || PUBLISHABLE_OPERATIONS
                .iter()
                .any(|(m, p)| *m == method && *p == pattern)
    })
}
