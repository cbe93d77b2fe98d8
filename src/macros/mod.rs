//! The operators' canned replies (macros): a name, a body with variables, and optionally the
//! status and tags a reply with it sets. Shared by all operators, across tenants.
use chrono::{DateTime, Utc};
use entities::macros;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::ids::MacroId;
use crate::domain::status::TicketStatus;
use crate::domain::tags::Tags;
use crate::domain::validate::Name;

#[derive(Debug, thiserror::Error)]
pub enum MacroError {
    #[error("no such macro")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A macro's fields, each already checked (the body's variables by `domain::template`).
#[derive(Debug, Clone, Default)]
pub struct MacroFields {
    pub name: Option<Name>,
    pub body: Option<String>,
    /// `Some(None)` clears it.
    pub status: Option<Option<TicketStatus>>,
    pub tags: Option<Tags>,
}

/// A macro as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MacroOut {
    #[schema(example = "mac_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "macro")]
    pub object: &'static str,
    #[schema(example = "Ask for logs")]
    pub name: String,
    #[schema(
        example = "Hi {{tenant.name}}, could you send the logs for {{ticket.id}}? — {{operator.name}}"
    )]
    pub body: String,
    pub status: Option<TicketStatus>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<macros::Model> for MacroOut {
    fn from(m: macros::Model) -> Self {
        Self {
            id: MacroId::from_uuid(m.id).to_string(),
            object: "macro",
            tags: Tags::from_stored(&m.tags),
            name: m.name,
            body: m.body,
            status: m.status,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Creates a macro; `name` and `body` must be set.
pub async fn create<C: ConnectionTrait>(
    conn: &C,
    name: Name,
    body: String,
    status: Option<TicketStatus>,
    tags: Tags,
    now: DateTime<Utc>,
) -> Result<macros::Model, DbErr> {
    macros::ActiveModel {
        id: Set(MacroId::new().uuid()),
        name: Set(name.into_inner()),
        body: Set(body),
        status: Set(status),
        tags: Set(tags.to_stored()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await
}

/// Every macro, by name.
pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<macros::Model>, DbErr> {
    macros::Entity::find()
        .order_by_asc(macros::Column::Name)
        .order_by_asc(macros::Column::Id)
        .all(conn)
        .await
}

pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<macros::Model, MacroError> {
    macros::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(MacroError::NotFound)
}

/// Changes the fields given.
pub async fn update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    fields: MacroFields,
    now: DateTime<Utc>,
) -> Result<macros::Model, MacroError> {
    let mut row = find(conn, id).await?.into_active_model();
    if let Some(name) = fields.name {
        row.name = Set(name.into_inner());
    }
    if let Some(body) = fields.body {
        row.body = Set(body);
    }
    if let Some(status) = fields.status {
        row.status = Set(status);
    }
    if let Some(tags) = fields.tags {
        row.tags = Set(tags.to_stored());
    }
    row.updated_at = Set(now);
    Ok(row.update(conn).await?)
}

pub async fn delete<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), MacroError> {
    let done = macros::Entity::delete_by_id(id).exec(conn).await?;
    if done.rows_affected == 0 {
        return Err(MacroError::NotFound);
    }
    Ok(())
}
