//! Publishable keys in browsers and the tenant Support tab: the origins a publishable key
//! may be used from, and the single-use links that open a tenant's Support tab.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("api_keys")
                    // Space-separated origins; NULL means any origin.
                    .add_column(text_null("allowed_origins"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("portal_links")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    // SHA-256 hex of the link's token; the token itself is never stored.
                    .col(string_len("token_hash", 64).unique_key())
                    .col(text_null("return_url"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_portal_links_tenant")
                            .from("portal_links", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_portal_links_expires_at")
                    .table("portal_links")
                    .col("expires_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("portal_links").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("api_keys")
                    .drop_column("allowed_origins")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
