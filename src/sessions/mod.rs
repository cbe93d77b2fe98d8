//! Browser sessions: the operator console's and the tenant Support tab's. A session is a
//! random token in a cookie; the database keeps only its SHA-256 hash, who it belongs to,
//! the CSRF secret its pages echo back, and when it was last used. A session unused for
//! the idle timeout is over (every use renews it); signing out deletes it.
use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::values::PrincipalKind;
use entities::web_sessions;
use rand::distr::{Alphanumeric, SampleString};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::auth::keys::hash_token;

/// Random characters in a session token and in a CSRF secret.
const SECRET_LEN: usize = 43;
/// A used session's `last_seen_at` is written at most this often (each page would
/// otherwise write a row).
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// Who a session acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPrincipal {
    /// An operator of the console, by staff id.
    Operator(Uuid),
    /// A tenant's Support tab, by tenant id.
    Tenant(Uuid),
}

impl SessionPrincipal {
    fn kind(self) -> PrincipalKind {
        match self {
            Self::Operator(_) => PrincipalKind::Operator,
            Self::Tenant(_) => PrincipalKind::Tenant,
        }
    }

    fn id(self) -> Uuid {
        match self {
            Self::Operator(id) | Self::Tenant(id) => id,
        }
    }

    fn from_row(kind: PrincipalKind, id: Uuid) -> Self {
        match kind {
            PrincipalKind::Operator => Self::Operator(id),
            PrincipalKind::Tenant => Self::Tenant(id),
        }
    }
}

/// A session just created: the token goes into the cookie and is never stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub session: Session,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Uuid,
    pub principal: SessionPrincipal,
    /// The operator's name, for an operator's session.
    pub operator_name: Option<String>,
    /// The synchronizer token every state-changing request must carry.
    pub csrf_token: String,
}

impl Session {
    /// Whether `sent` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        !sent.is_empty() && bool::from(sent.as_bytes().ct_eq(self.csrf_token.as_bytes()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn secret() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN)
}

fn idle_limit(idle: Duration) -> chrono::Duration {
    chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::hours(12))
}

/// Opens a session for `principal`.
pub async fn create<C: ConnectionTrait>(
    conn: &C,
    principal: SessionPrincipal,
    now: DateTime<Utc>,
) -> Result<NewSession, SessionError> {
    let token = secret();
    let row = web_sessions::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(hash_token(&token)),
        principal_kind: Set(principal.kind()),
        principal_id: Set(principal.id()),
        csrf_secret: Set(secret()),
        created_at: Set(now),
        last_seen_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok(NewSession {
        token,
        session: Session {
            id: row.id,
            principal,
            operator_name: None,
            csrf_token: row.csrf_secret,
        },
    })
}

/// The session this cookie token opens, renewing its idle time; `None` when unknown,
/// expired (then it is deleted), or its operator's token was revoked.
pub async fn authenticate<C: ConnectionTrait>(
    conn: &C,
    token: &str,
    idle: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Session>, SessionError> {
    let Some(row) = web_sessions::Entity::find()
        .filter(web_sessions::Column::TokenHash.eq(hash_token(token)))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    if row.last_seen_at + idle_limit(idle) <= now {
        web_sessions::Entity::delete_by_id(row.id)
            .exec(conn)
            .await?;
        return Ok(None);
    }
    let principal = SessionPrincipal::from_row(row.principal_kind, row.principal_id);
    let operator_name = match principal {
        SessionPrincipal::Operator(staff_id) => {
            match crate::staff::find_active(conn, staff_id).await? {
                Some(member) => Some(member.name),
                // The operator's token was revoked: so is every session it opened.
                None => {
                    web_sessions::Entity::delete_by_id(row.id)
                        .exec(conn)
                        .await?;
                    return Ok(None);
                }
            }
        }
        SessionPrincipal::Tenant(_) => None,
    };
    if now - row.last_seen_at >= TOUCH_EVERY {
        web_sessions::Entity::update_many()
            .col_expr(
                web_sessions::Column::LastSeenAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(web_sessions::Column::Id.eq(row.id))
            .exec(conn)
            .await?;
    }
    Ok(Some(Session {
        id: row.id,
        principal,
        operator_name,
        csrf_token: row.csrf_secret,
    }))
}

/// Ends a session (sign out).
pub async fn revoke<C: ConnectionTrait>(conn: &C, session_id: Uuid) -> Result<(), SessionError> {
    web_sessions::Entity::delete_by_id(session_id)
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes every session idle past the timeout; returns how many.
pub async fn purge_expired<C: ConnectionTrait>(
    conn: &C,
    idle: Duration,
    now: DateTime<Utc>,
) -> Result<u64, SessionError> {
    let cutoff = now - idle_limit(idle);
    let done = web_sessions::Entity::delete_many()
        .filter(web_sessions::Column::LastSeenAt.lte(cutoff))
        .exec(conn)
        .await?;
    Ok(done.rows_affected)
}
