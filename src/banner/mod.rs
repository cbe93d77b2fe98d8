//! The system-status banner: one database row, cached in memory for at most `TTL`, so every
//! node shows a change within a second.
use std::sync::RwLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entities::system_status;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait};
use serde::Serialize;

pub const TTL: Duration = Duration::from_millis(500);
const ROW_ID: i32 = 1;

pub use entities::values::Level;

/// The system-status banner.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Banner {
    pub status: Level,
    pub message: String,
    /// `null` until an operator first sets the banner.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for Banner {
    fn default() -> Self {
        Self {
            status: Level::Operational,
            message: "All systems operational".into(),
            updated_at: None,
        }
    }
}

#[derive(Default)]
pub struct BannerCache {
    cached: RwLock<Option<(Instant, Banner)>>,
}

impl BannerCache {
    pub async fn get(&self, db: &DatabaseConnection) -> Result<Banner, DbErr> {
        if let Ok(guard) = self.cached.read()
            && let Some((at, banner)) = guard.as_ref()
            && at.elapsed() < TTL
        {
            return Ok(banner.clone());
        }
        let banner = system_status::Entity::find_by_id(ROW_ID)
            .one(db)
            .await?
            .map(|row| Banner {
                status: row.status,
                message: row.message,
                updated_at: Some(row.updated_at),
            })
            .unwrap_or_default();
        if let Ok(mut guard) = self.cached.write() {
            *guard = Some((Instant::now(), banner.clone()));
        }
        Ok(banner)
    }

    pub async fn set(
        &self,
        db: &DatabaseConnection,
        level: Level,
        message: String,
    ) -> Result<Banner, DbErr> {
        let now = Utc::now();
        system_status::Entity::insert(system_status::ActiveModel {
            id: Set(ROW_ID),
            status: Set(level),
            message: Set(message.clone()),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(system_status::Column::Id)
                .update_columns([
                    system_status::Column::Status,
                    system_status::Column::Message,
                    system_status::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        let banner = Banner {
            status: level,
            message,
            updated_at: Some(now),
        };
        if let Ok(mut guard) = self.cached.write() {
            *guard = Some((Instant::now(), banner.clone()));
        }
        Ok(banner)
    }
}

/// Longest banner message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// What publishing a banner can refuse.
#[derive(Debug, thiserror::Error)]
pub enum BannerError {
    #[error(transparent)]
    Field(#[from] crate::domain::FieldError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl BannerCache {
    /// Parses and stores a banner as an operator sent it (`/admin/support/status` and the
    /// console's banner page send the same fields).
    pub async fn publish(
        &self,
        db: &DatabaseConnection,
        status: Option<&str>,
        message: Option<&str>,
    ) -> Result<Banner, BannerError> {
        use crate::domain::FieldError;
        let level = status.and_then(Level::parse).ok_or_else(|| {
            FieldError::new(
                "status",
                "`status` must be one of operational, degraded, outage",
            )
        })?;
        let message = message.unwrap_or_default().trim().to_string();
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(FieldError::new(
                "message",
                format!("`message` must be at most {MAX_MESSAGE_CHARS} characters"),
            )
            .into());
        }
        Ok(self.set(db, level, message).await?)
    }
}
