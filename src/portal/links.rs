//! Portal links: a random token, stored only as its SHA-256, valid [`LINK_TTL`], opened at
//! most once. Opening is one conditional `UPDATE … WHERE used_at IS NULL AND expires_at > now`,
//! so of two concurrent opens exactly one wins, on any number of nodes.
use chrono::{DateTime, Utc};
use entities::portal_links;
use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};
use uuid::Uuid;

use super::PortalError;
use crate::auth::keys::hash_token;
use crate::domain::web::ReturnUrl;
use crate::sessions::{self, NewSession, SessionError, SessionPrincipal};

/// How long a link may wait before it is opened.
pub const LINK_TTL: chrono::Duration = chrono::Duration::minutes(5);
/// Random characters in a link's token (about 256 bits).
const TOKEN_LEN: usize = 43;
/// The path a link opens, under the public URL.
pub const START_PATH: &str = "/portal/start";
/// Opened or expired links are deleted this long after they expired.
const KEPT_AFTER_EXPIRY: chrono::Duration = chrono::Duration::days(1);

/// A link just issued: its token is shown once, in the URL.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl IssuedLink {
    /// The URL that opens the Support tab, on `public_url`.
    pub fn url(&self, public_url: &str) -> String {
        format!("{public_url}{START_PATH}?token={}", self.token)
    }
}

/// A link just opened: whose Support tab it opens, and where its "back" link leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedLink {
    pub tenant_id: Uuid,
    pub return_url: Option<String>,
}

/// Issues a link to the tenant's Support tab, valid for [`LINK_TTL`] from `now`.
pub async fn issue(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    return_url: Option<ReturnUrl>,
    now: DateTime<Utc>,
) -> Result<IssuedLink, DbErr> {
    let token: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(TOKEN_LEN)
        .map(char::from)
        .collect();
    let expires_at = now + LINK_TTL;
    portal_links::Entity::insert(portal_links::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        token_hash: Set(hash_token(&token)),
        return_url: Set(return_url.map(ReturnUrl::into_inner)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    })
    .exec(db)
    .await?;
    Ok(IssuedLink { token, expires_at })
}

/// Opens a link: marks it used if it is unused and unexpired, in `conn` (pass the
/// transaction that creates the session, so a failed session leaves the link unused).
pub async fn open<C: ConnectionTrait>(
    conn: &C,
    token: &str,
    now: DateTime<Utc>,
) -> Result<OpenedLink, PortalError> {
    let hash = hash_token(token);
    let claimed = portal_links::Entity::update_many()
        .col_expr(portal_links::Column::UsedAt, Expr::value(now))
        .filter(portal_links::Column::TokenHash.eq(&hash))
        .filter(portal_links::Column::UsedAt.is_null())
        .filter(portal_links::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?;
    let link = portal_links::Entity::find()
        .filter(portal_links::Column::TokenHash.eq(&hash))
        .one(conn)
        .await?
        .ok_or(PortalError::UnknownLink)?;
    if claimed.rows_affected == 1 {
        return Ok(OpenedLink {
            tenant_id: link.tenant_id,
            return_url: link.return_url,
        });
    }
    // Already used wins over expired: a used link was fine when it was opened.
    let tenant_id = link.tenant_id;
    Err(if link.used_at.is_some() {
        PortalError::LinkUsed { tenant_id }
    } else {
        PortalError::LinkExpired { tenant_id }
    })
}

/// Opens the link (once) and a browser session for its tenant, in one transaction: a
/// refused link creates no session.
pub async fn sign_in(
    db: &DatabaseConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(OpenedLink, NewSession), PortalError> {
    let txn = crate::db::begin_write(db).await?;
    let opened = open(&txn, token, now).await?;
    let created = sessions::create(&txn, SessionPrincipal::Tenant(opened.tenant_id), now)
        .await
        .map_err(|SessionError::Db(e)| PortalError::Db(e))?;
    txn.commit().await?;
    Ok((opened, created))
}

/// Deletes links that expired more than a day ago (used or not).
pub async fn purge_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let gone = portal_links::Entity::delete_many()
        .filter(portal_links::Column::ExpiresAt.lt(now - KEPT_AFTER_EXPIRY))
        .exec(db)
        .await?;
    Ok(gone.rows_affected)
}
