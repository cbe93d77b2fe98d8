//! How many idempotency records each tenant claimed per UTC day, so the daily cap is one
//! conditional upsert instead of a count over the records.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("idempotency_usage")
                    .col(uuid("tenant_id"))
                    .col(date("day"))
                    .col(big_integer("claimed"))
                    .primary_key(Index::create().col("tenant_id").col("day"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("idempotency_usage").to_owned())
            .await
    }
}
