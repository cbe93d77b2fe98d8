//! Idempotency records belong to the API key that made them: the key id joins the primary
//! key, and the stored response is sealed with a key only the caller's token derives.
//!
//! The table only caches outcomes for 24 h, so it is recreated rather than converted: the
//! old rows (keyed by tenant alone, responses in plaintext) are exactly what must go.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("idempotency_keys").to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(uuid("api_key_id"))
                    .col(string_len("key", 255))
                    .col(uuid("tenant_id"))
                    // SHA-256 of method, path and body
                    .col(string("request_hash"))
                    // in_progress | done
                    .col(string("state"))
                    .col(integer_null("response_status"))
                    // base64 of nonce + AES-256-GCM ciphertext
                    .col(text_null("response_sealed"))
                    .col(timestamp_with_time_zone("created_at"))
                    // The process holding an in-progress claim (`workers::lease`).
                    .col(uuid_null("lease_owner"))
                    .primary_key(Index::create().col("api_key_id").col("key"))
                    .to_owned(),
            )
            .await?;
        // New index names: SQLite refuses the old ones here although the drop removed them.
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_records_created")
                    .table("idempotency_keys")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_records_tenant")
                    .table("idempotency_keys")
                    .col("tenant_id")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_records_lease_owner")
                    .table("idempotency_keys")
                    .col("lease_owner")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("idempotency_keys").to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(uuid("tenant_id"))
                    .col(string_len("key", 255))
                    .col(string("request_hash"))
                    .col(string("state"))
                    .col(integer_null("response_status"))
                    .col(text_null("response_body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(uuid_null("lease_owner"))
                    .primary_key(Index::create().col("tenant_id").col("key"))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_idempotency_created", "created_at"),
            ("idx_idempotency_keys_lease_owner", "lease_owner"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("idempotency_keys")
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
