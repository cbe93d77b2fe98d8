//! In-app notifications (docs/API.md §6): written in the same transaction as the change that
//! causes them, unless the tenant turned in-app notifications off.
pub mod feed;

use chrono::{DateTime, Utc};
use entities::values::NotificationKind;
use entities::{notification_preferences as prefs, notifications};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::domain::ids::{NotificationId, TicketId};
use crate::feed::{self as event_feed, Visibility};

/// What the tenant is told about, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preferences {
    pub in_app: bool,
    pub email_on_operator_reply: bool,
    pub email_on_status_change: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            in_app: true,
            email_on_operator_reply: true,
            email_on_status_change: true,
        }
    }
}

pub async fn preferences<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
) -> Result<Preferences, DbErr> {
    Ok(prefs::Entity::find_by_id(tenant_id)
        .one(conn)
        .await?
        .map(|p| Preferences {
            in_app: p.in_app,
            email_on_operator_reply: p.email_on_operator_reply,
            email_on_status_change: p.email_on_status_change,
        })
        .unwrap_or_default())
}

pub async fn save_preferences<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    p: Preferences,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;
    prefs::Entity::insert(prefs::ActiveModel {
        tenant_id: Set(tenant_id),
        in_app: Set(p.in_app),
        email_on_operator_reply: Set(p.email_on_operator_reply),
        email_on_status_change: Set(p.email_on_status_change),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(prefs::Column::TenantId)
            .update_columns([
                prefs::Column::InApp,
                prefs::Column::EmailOnOperatorReply,
                prefs::Column::EmailOnStatusChange,
                prefs::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// What happened, as the tenant reads it.
pub struct Notice {
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    pub ticket_id: Option<Uuid>,
}

/// Records a notice unless the tenant turned in-app notifications off.
pub async fn notify<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    notice: Notice,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if !preferences(conn, tenant_id).await?.in_app {
        return Ok(());
    }
    let row = notifications::Model {
        id: NotificationId::new().uuid(),
        tenant_id,
        kind: notice.kind,
        title: notice.title,
        body: notice.body,
        ticket_id: notice.ticket_id,
        read_at: None,
        created_at: now,
    };
    notifications::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(conn)
        .await?;
    // Event feed: the tenant's Support tab shows notifications live.
    let data = json!({"notification": NotificationOut::from(row)});
    event_feed::record_one(
        conn,
        tenant_id,
        event_feed::NOTIFICATION_CREATED,
        data,
        Visibility::Tenant,
        now,
    )
    .await
}

/// At most this many characters of a message are quoted in a notification.
const EXCERPT_CHARS: usize = 140;

pub fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// An in-app notification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationOut {
    #[schema(example = "ntf_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "notification")]
    pub object: &'static str,
    /// What happened, e.g. `operator_reply`, `status_changed`, `bounty_awarded`, `low_balance`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub body: String,
    pub ticket_id: Option<String>,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<notifications::Model> for NotificationOut {
    fn from(n: notifications::Model) -> Self {
        Self {
            id: NotificationId::from_uuid(n.id).to_string(),
            object: "notification",
            kind: n.kind.to_string(),
            title: n.title,
            body: n.body,
            ticket_id: n.ticket_id.map(|t| TicketId::from_uuid(t).to_string()),
            read_at: n.read_at,
            created_at: n.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_marked() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(200);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
