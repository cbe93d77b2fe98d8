//! Tenants, their API keys, operators (staff) and the balance ledger.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tenants")
                    .col(uuid("id").primary_key())
                    .col(string("name"))
                    .col(string("email"))
                    .col(string("plan"))
                    // "plan" | "custom" | "unlimited"
                    .col(string("limits_mode"))
                    .col(integer_null("limit_rpm"))
                    .col(integer_null("limit_burst"))
                    .col(big_integer("balance_cents"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .check(Expr::col("balance_cents").gte(0))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    // "secret" | "publishable"
                    .col(string("kind"))
                    .col(string("prefix"))
                    .col(string_uniq("key_hash"))
                    .col(string_null("label"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("api_keys", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_tenant")
                    .table("api_keys")
                    .col("tenant_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("staff")
                    .col(uuid("id").primary_key())
                    .col(string("name"))
                    .col(string("prefix"))
                    .col(string_uniq("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("ledger_entries")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    // ticket_fee | bounty_credit | top_up | refund
                    .col(string("kind"))
                    .col(big_integer("amount_cents"))
                    .col(big_integer("balance_after_cents"))
                    .col(uuid_null("ticket_id"))
                    .col(string_null("note"))
                    // pending | settled | failed
                    .col(string("status"))
                    .col(integer("settle_attempts").default(0))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("settled_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("ledger_entries", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ledger_tenant_created")
                    .table("ledger_entries")
                    .col("tenant_id")
                    .col("created_at")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["ledger_entries", "staff", "api_keys", "tenants"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
