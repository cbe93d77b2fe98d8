//! Browser sessions of the operator console and the tenant Support tab: the token is kept
//! only as its SHA-256 hash, with the CSRF secret its forms echo and the last time it was
//! used (sessions expire after a stretch of idleness).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("web_sessions")
                    .col(uuid("id").primary_key())
                    .col(string("token_hash").unique_key())
                    // operator | tenant
                    .col(string("principal_kind"))
                    // The operator's staff id or the tenant's id.
                    .col(uuid("principal_id"))
                    .col(string("csrf_secret"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_web_sessions_last_seen_at")
                    .table("web_sessions")
                    .col("last_seen_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("web_sessions").to_owned())
            .await
    }
}
