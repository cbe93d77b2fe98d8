//! The event feed: one ordered table of every event tenants and operators can follow, and
//! the position up to which it has been trimmed.
//!
//! `seq` is the feed position. SQLite: `INTEGER PRIMARY KEY AUTOINCREMENT`, so a position is
//! never reused even after the newest rows are trimmed. PostgreSQL: `bigserial`; writers take
//! a transaction-scoped advisory lock before inserting so positions become visible in order
//! (docs/ARCHITECTURE.md, "The event feed"), and a statement trigger sends `NOTIFY
//! helpline_feed`, which PostgreSQL delivers at commit, to wake every node's feed reader.
use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut seq = ColumnDef::new("seq");
        if backend == DatabaseBackend::Sqlite {
            seq.integer();
        } else {
            seq.big_integer();
        }
        seq.not_null().auto_increment().primary_key();
        manager
            .create_table(
                Table::create()
                    .table("feed_events")
                    .col(seq)
                    .col(uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(string("kind"))
                    // Operators only (internal notes, assignment).
                    .col(boolean("internal"))
                    // The exact JSON a webhook receiver gets.
                    .col(json("payload"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("feed_events", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_feed_events_tenant")
                    .table("feed_events")
                    .col("tenant_id")
                    .col("seq")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_feed_events_created")
                    .table("feed_events")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("feed_state")
                    .col(integer("id").primary_key())
                    // Every position up to this one has been trimmed.
                    .col(big_integer("trimmed_through"))
                    .to_owned(),
            )
            .await?;
        if backend == DatabaseBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(
                "CREATE FUNCTION helpline_feed_notify() RETURNS trigger AS $$
                 BEGIN PERFORM pg_notify('helpline_feed', ''); RETURN NULL; END;
                 $$ LANGUAGE plpgsql",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER feed_events_notify AFTER INSERT ON feed_events
                 FOR EACH STATEMENT EXECUTE FUNCTION helpline_feed_notify()",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared("DROP TRIGGER IF EXISTS feed_events_notify ON feed_events")
                .await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS helpline_feed_notify()")
                .await?;
        }
        for table in ["feed_state", "feed_events"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
