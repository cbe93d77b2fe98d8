//! SLA alerts and bots. `sla_alerts` holds one row per ticket and alert (`warning`,
//! `breached`) that fired: its primary key is what makes "once" hold when two workers run
//! the same scheduled job. `bots` are the tokens of automated repliers (`hl_bot_…`,
//! stored hashed like every other token).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sla_alerts")
                    .col(uuid("ticket_id"))
                    // warning | breached
                    .col(string("kind"))
                    .col(uuid("tenant_id"))
                    .col(timestamp_with_time_zone("fired_at"))
                    .primary_key(Index::create().col("ticket_id").col("kind"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("sla_alerts", "ticket_id")
                            .to("tickets", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("bots")
                    .col(uuid("id").primary_key())
                    .col(string("name"))
                    .col(string("prefix"))
                    .col(string_uniq("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("bots").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("sla_alerts").to_owned())
            .await
    }
}
