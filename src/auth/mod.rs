//! Who is calling: API keys and staff tokens, the cached lookup that resolves a bearer
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
}

#[derive(Debug, Clone)]
pub struct StaffPrincipal {
    /// `None` for the bootstrap `HELPLINE_ADMIN_TOKEN`.
    pub id: Option<Uuid>,
    pub name: String,
}

#[derive(Debug, Clone)]
pub enum Principal {
    Tenant(TenantPrincipal),
    Staff(StaffPrincipal),
}
