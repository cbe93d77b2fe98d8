//! SQLite: `ticket_search_rows` no longer keeps the ticket's tenant. Migration 000015 added
//! it (with an index and two triggers) so a tenant's search could walk its rows newest first;
//! since 000017 a tenant's search walks `ticket_words` instead, and nothing reads the column,
//! so every created ticket paid for an index and a trigger it did not use. PostgreSQL: nothing.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::m20261202_000015_search_postings;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Runs `statements` in order on SQLite; PostgreSQL has nothing to change.
async fn on_sqlite(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() == DatabaseBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One connection and all or nothing: the trigger is dropped and created again under its
    /// own name, and another pooled connection would still see the old one.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_sqlite(
            manager,
            &[
                "DROP TRIGGER IF EXISTS ticket_search_rows_tenant",
                "DROP TRIGGER IF EXISTS ticket_search_tenant",
                // Moves a ticket's full-text row to its new tenant (the FTS5 `tenant` column).
                "CREATE TRIGGER ticket_search_tenant AFTER UPDATE OF tenant_id ON tickets
                 WHEN OLD.tenant_id IS NOT NEW.tenant_id BEGIN
                   UPDATE ticket_search SET tenant = 't' || lower(hex(NEW.tenant_id))
                   WHERE rowid = (SELECT rowid FROM ticket_search_rows WHERE ticket_id = NEW.id);
                 END",
                "DROP INDEX IF EXISTS idx_ticket_search_rows_tenant",
                "ALTER TABLE ticket_search_rows DROP COLUMN tenant_id",
            ],
        )
        .await
    }

    /// Back to 000015's column, index and triggers.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut statements = vec!["DROP TRIGGER IF EXISTS ticket_search_tenant"];
        statements.extend(m20261202_000015_search_postings::sqlite());
        on_sqlite(manager, &statements).await
    }
}
