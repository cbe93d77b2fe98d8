//! Triggers that do nothing when nothing they keep changed (PostgreSQL; SQLite's are row
//! triggers with column lists already):
//! - the counts' `UPDATE` trigger is a statement trigger (it needs transition tables, which
//!   PostgreSQL refuses with a column list), so it fired for every `UPDATE` of a ticket — a
//!   settlement, an SLA stamp, a search document — and ran its whole statement; now it first
//!   looks for a row whose counted columns changed;
//! - a ticket's first message repeats its description and is not appended to the search
//!   document; its trigger still sent an `UPDATE` that matched no row, which fired the
//!   counts trigger for nothing. Now it sends none.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::m20261201_000010_scale::{UPDATED_ROWS, apply_counts};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COUNTED_CHANGE: &str = "SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE (o.tenant_id, o.status, o.category, o.priority, o.assignee_id, o.tags)
           IS DISTINCT FROM (n.tenant_id, n.status, n.category, n.priority, n.assignee_id, n.tags)";

fn counts_update(guarded: bool) -> String {
    let guard = if guarded {
        format!("IF NOT EXISTS ({COUNTED_CHANGE}) THEN RETURN NULL; END IF;")
    } else {
        String::new()
    };
    format!(
        "CREATE OR REPLACE FUNCTION helpline_ticket_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN {guard} {} RETURN NULL; END $$",
        apply_counts(UPDATED_ROWS)
    )
}

const MESSAGE_SEARCH_INSERT: &str = "CREATE OR REPLACE FUNCTION helpline_message_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.internal THEN
         UPDATE tickets SET search_internal = search_internal || to_tsvector('simple', NEW.body)
         WHERE id = NEW.ticket_id;
       ELSIF NEW.merged_from IS NOT NULL OR NOT EXISTS (
           SELECT 1 FROM tickets WHERE id = NEW.ticket_id AND description = NEW.body) THEN
         UPDATE tickets SET search_public = search_public || to_tsvector('simple', NEW.body)
         WHERE id = NEW.ticket_id;
       END IF;
       RETURN NULL;
     END $$";

async fn run(manager: &SchemaManager<'_>, statements: [String; 2]) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, [counts_update(true), MESSAGE_SEARCH_INSERT.into()]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            [
                counts_update(false),
                format!(
                    "CREATE OR REPLACE FUNCTION helpline_message_search_insert() {}",
                    crate::m20261201_000010_scale::MESSAGE_SEARCH_INSERT
                ),
            ],
        )
        .await
    }
}
