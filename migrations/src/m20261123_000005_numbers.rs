//! Agents and bring-your-own-carrier numbers (docs/API.md §8), and an index the account export
//! (docs/API.md §9) needs to page through the ledger.
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
                    // Ids are UUIDv7: id order is creation order, for the list and the export.
                    .name("idx_agents_tenant")
                    .table("agents")
                    .col("tenant_id")
                    .col("id")
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
        // The account export pages through numbers by (tenant, number).
        manager
            .create_index(
                Index::create()
                    .name("idx_numbers_tenant_number")
                    .table("numbers")
                    .col("tenant_id")
                    .col("number")
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
        // The account export pages through a tenant's ledger by id (keyset), which the
        // ledger's own (tenant_id, created_at, id) index cannot serve in order.
        manager
            .create_index(
                Index::create()
                    .name("idx_ledger_tenant_id")
                    .table("ledger_entries")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_ledger_tenant_id")
                    .table("ledger_entries")
                    .to_owned(),
            )
            .await?;
        for table in ["numbers", "agents"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
