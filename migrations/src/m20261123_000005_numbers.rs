//! Agents and bring-your-own-carrier numbers (SPEC §8).
//!
//! `numbers.number` is the primary key, so one number belongs to at most one tenant across
//! the whole service: the database, not a read-then-write check, decides a registration race.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("agents")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(string("name"))
                    .col(text_null("description"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("agents", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_agents_tenant")
                    .table("agents")
                    .col("tenant_id")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("numbers")
                    // E.164: `+` and at most 15 digits.
                    .col(string_len("number", 16).primary_key())
                    .col(uuid("tenant_id"))
                    .col(uuid_null("agent_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("numbers", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // Deleting an agent detaches its numbers explicitly; this is the safety net.
                    .foreign_key(
                        ForeignKey::create()
                            .from("numbers", "agent_id")
                            .to("agents", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_numbers_tenant")
                    .table("numbers")
                    .col("tenant_id")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_numbers_agent")
                    .table("numbers")
                    .col("agent_id")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["numbers", "agents"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
