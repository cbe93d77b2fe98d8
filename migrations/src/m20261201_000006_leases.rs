//! Leases that know their owner: every process registers itself in `worker_instances` and
//! heartbeats there, and every claim (an email or webhook attempt, an outbox relay pass, an
//! idempotency claim) records the instance that holds it, so the claims of a process that
//! died are taken back as soon as it is known dead instead of when a fixed lease lapses.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows are claimed, each with an index on the new owner column: the
/// heartbeat renews, and the recovery of a dead instance takes back, the rows of one owner.
const CLAIMED: [&str; 4] = ["emails", "webhook_deliveries", "outbox", "idempotency_keys"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("worker_instances")
                    .col(uuid("id").primary_key())
                    .col(string("kind"))
                    .col(string_null("host"))
                    .col(big_integer_null("pid"))
                    .col(big_integer_null("process_started"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("heartbeat_at"))
                    .to_owned(),
            )
            .await?;
        for table in CLAIMED {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(uuid_null("lease_owner"))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_{table}_lease_owner"))
                        .table(table)
                        .col("lease_owner")
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in CLAIMED {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_{table}_lease_owner"))
                        .table(table)
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column("lease_owner")
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table("worker_instances").to_owned())
            .await
    }
}
