//! SQLite: `ticket_search_rows` no longer keeps the ticket's tenant. Migration 000015 added
//! it (with an index and two triggers) so a tenant's search could walk its rows newest first;
//! since 000017 a tenant's search walks `ticket_words` instead, and nothing reads the column,
//! so every created ticket paid for an index and a trigger it did not use. PostgreSQL: nothing.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Moves a ticket's full-text row to its new tenant (the FTS5 `tenant` column).
const SEARCH_TENANT_TRIGGER: &str =
    "CREATE TRIGGER ticket_search_tenant AFTER UPDATE OF tenant_id ON tickets
     WHEN OLD.tenant_id IS NOT NEW.tenant_id BEGIN
       UPDATE ticket_search SET tenant = 't' || lower(hex(NEW.tenant_id))
       WHERE rowid = (SELECT rowid FROM ticket_search_rows WHERE ticket_id = NEW.id);
     END";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One connection and all or nothing: the trigger is dropped and created again under its
    /// own name, and another pooled connection would still see the old one.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in [
            "DROP TRIGGER IF EXISTS ticket_search_rows_tenant",
            "DROP TRIGGER IF EXISTS ticket_search_tenant",
            SEARCH_TENANT_TRIGGER,
            "DROP INDEX IF EXISTS idx_ticket_search_rows_tenant",
            "ALTER TABLE ticket_search_rows DROP COLUMN tenant_id",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in [
            "ALTER TABLE ticket_search_rows ADD COLUMN tenant_id BLOB",
            "UPDATE ticket_search_rows SET tenant_id =
               (SELECT t.tenant_id FROM tickets t WHERE t.id = ticket_search_rows.ticket_id)",
            "CREATE INDEX idx_ticket_search_rows_tenant ON ticket_search_rows (tenant_id, ticket_id)",
            "CREATE TRIGGER ticket_search_rows_tenant AFTER INSERT ON ticket_search_rows
             WHEN NEW.tenant_id IS NULL BEGIN
               UPDATE ticket_search_rows SET tenant_id =
                 (SELECT t.tenant_id FROM tickets t WHERE t.id = NEW.ticket_id)
               WHERE rowid = NEW.rowid;
             END",
            "DROP TRIGGER IF EXISTS ticket_search_tenant",
            "CREATE TRIGGER ticket_search_tenant AFTER UPDATE OF tenant_id ON tickets
             WHEN OLD.tenant_id IS NOT NEW.tenant_id BEGIN
               UPDATE ticket_search_rows SET tenant_id = NEW.tenant_id WHERE ticket_id = NEW.id;
               UPDATE ticket_search SET tenant = 't' || lower(hex(NEW.tenant_id))
               WHERE rowid = (SELECT rowid FROM ticket_search_rows WHERE ticket_id = NEW.id);
             END",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
