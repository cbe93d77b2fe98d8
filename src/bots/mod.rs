//! Bots: tokens (`hl_bot_…`) for automated repliers such as a triage bot. A bot reads
//! tickets and posts replies, whose `author` is `triage_bot`; it never answers as an
//! operator (no first response, no status change). The token is shown once and stored as
//! its SHA-256, like every other token (`crate::auth::keys`).
use chrono::{DateTime, Utc};
use entities::bots;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::keys::{self, MintedToken};
use crate::domain::ids::BotId;
use crate::domain::validate::Name;

/// Creates a bot; the token is in the answer only.
pub async fn create<C: ConnectionTrait>(
    conn: &C,
    name: Name,
    now: DateTime<Utc>,
) -> Result<(bots::Model, MintedToken), DbErr> {
    let token = keys::mint_bot_token();
    let bot = bots::Entity::insert(bots::ActiveModel {
        id: Set(BotId::new().uuid()),
        name: Set(name.into_inner()),
        prefix: Set(token.prefix.clone()),
        token_hash: Set(token.hash.clone()),
        created_at: Set(crate::db::as_stored(now)),
        revoked_at: Set(None),
    })
    .exec_with_returning(conn)
    .await?;
    Ok((bot, token))
}

/// Bots whose token is not revoked, newest first.
pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<bots::Model>, DbErr> {
    bots::Entity::find()
        .filter(bots::Column::RevokedAt.is_null())
        .order_by_desc(bots::Column::Id)
        .all(conn)
        .await
}

/// Revokes a bot's token; `None` if there is no such (active) bot.
pub async fn revoke<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<bots::Model>, DbErr> {
    let revoked = bots::Entity::update_many()
        .col_expr(
            bots::Column::RevokedAt,
            Expr::value(crate::db::as_stored(now)),
        )
        .filter(bots::Column::Id.eq(id))
        .filter(bots::Column::RevokedAt.is_null())
        .exec_with_returning(conn)
        .await?;
    Ok(revoked.into_iter().next())
}

/// A bot as the API shows it (never its token).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BotOut {
    #[schema(example = "bot_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "bot")]
    pub object: &'static str,
    /// The `author_name` of its messages.
    #[schema(example = "triage_bot")]
    pub name: String,
    /// The token's first characters, to tell tokens apart.
    #[schema(example = "hl_bot_Ab3dE6gH")]
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// Set once revoked: the token stops working within seconds.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<bots::Model> for BotOut {
    fn from(b: bots::Model) -> Self {
        Self {
            id: BotId::from_uuid(b.id).to_string(),
            object: "bot",
            name: b.name,
            prefix: b.prefix,
            created_at: b.created_at,
            revoked_at: b.revoked_at,
        }
    }
}
