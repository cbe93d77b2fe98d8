//! The tenant's Support tab (`/portal`): the single-use links a tenant's platform creates
//! with its secret key (`POST /v1/portal/sessions`) and that open the tab in a browser.
//! The pages themselves call the same ticket, billing, notification and banner features as
//! the `/v1` API.
pub mod links;
pub mod views;

use sea_orm::DbErr;
use uuid::Uuid;

/// What opening a portal link can refuse.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PortalError {
    /// No link has this token (mistyped, or from another deployment).
    #[error("no such portal link")]
    UnknownLink,
    /// The link was opened before: a link opens once.
    #[error("the portal link was already used")]
    LinkUsed { tenant_id: Uuid },
    /// The link is older than its 5 minutes.
    #[error("the portal link has expired")]
    LinkExpired { tenant_id: Uuid },
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl PortalError {
    /// The tenant whose link was refused, when the link is known.
    pub fn tenant_id(&self) -> Option<Uuid> {
        match self {
            Self::LinkUsed { tenant_id } | Self::LinkExpired { tenant_id } => Some(*tenant_id),
            Self::UnknownLink | Self::Db(_) => None,
        }
    }
}
