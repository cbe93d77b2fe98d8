//! The operator workflow on tickets: a `version` that grows with every change (the
//! collision guard's `If-Match`), the operator a ticket is assigned to, its internal tags,
//! the ticket a merged one went into, the ticket a copied message came from, and the
//! operators' canned replies (macros).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one column at a time.
        for column in [
            big_integer("version").default(1).to_owned(),
            uuid_null("assignee_id").to_owned(),
            // `,tag1,tag2,` (or empty): a tag filter is one LIKE on both backends.
            string("tags").default("").to_owned(),
            uuid_null("merged_into").to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("tickets")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("messages")
                    .add_column(uuid_null("merged_from"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("macros")
                    .col(uuid("id").primary_key())
                    .col(string("name"))
                    .col(text("body"))
                    .col(string_null("status"))
                    .col(string("tags").default(""))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tickets_assignee_id")
                    .table("tickets")
                    .col("assignee_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("macros").to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tickets_assignee_id")
                    .table("tickets")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("messages")
                    .drop_column("merged_from")
                    .to_owned(),
            )
            .await?;
        for column in ["merged_into", "tags", "assignee_id", "version"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("tickets")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
