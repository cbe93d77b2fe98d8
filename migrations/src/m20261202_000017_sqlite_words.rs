//! SQLite keeps a tenant's words too (docs/ARCHITECTURE.md, "A search reads one page"): the
//! FTS5 index is not per tenant, so a common word's matches were every tenant's, built on
//! every search (10,000 at a million tickets over 1,000 tenants, of which the searching
//! tenant's were a fifth). `ticket_words` is PostgreSQL's table: one row per (tenant, word,
//! ticket), with whether the word is in the public document, so a tenant's search counts and
//! pages from its own rows in ticket-id order and stops after what it needs.
//!
//! SQL cannot split text into words, so the triggers let FTS5 do it: the documents go into a
//! contentless FTS5 table, `ticket_words_scratch`, whose vocabulary (`ticket_words_terms`)
//! is then the ticket's words, and which is emptied again in the same trigger (SQLite has one
//! writer, so one scratch table serves every write). Its tokenizer folds case only, as
//! PostgreSQL's `simple` configuration does (the search's words are lower-cased the same
//! way). A trigger `BEFORE` a change removes the words of the documents as they are, one
//! `AFTER` it writes the words of the documents as they became, so these triggers do not
//! depend on the order SQLite fires them in beside `ticket_search`'s.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::m20261201_000010_scale::{SQLITE_INTERNAL_DOC, SQLITE_PUBLIC_DOC};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Fills the scratch table with the documents of the ticket `ticket` names.
fn tokenize(ticket: &str) -> String {
    format!(
        "INSERT INTO ticket_words_scratch (rowid, public, internal)
           SELECT 1, {SQLITE_PUBLIC_DOC}, {SQLITE_INTERNAL_DOC} FROM tickets t WHERE t.id = {ticket};"
    )
}

const EMPTY_SCRATCH: &str =
    "INSERT INTO ticket_words_scratch (ticket_words_scratch) VALUES ('delete-all');";

/// Removes the words of `ticket`'s documents as they are now.
fn forget(tenant: &str, ticket: &str) -> String {
    format!(
        "{} DELETE FROM ticket_words WHERE tenant_id = {tenant} AND ticket_id = {ticket}
           AND word IN (SELECT term FROM ticket_words_terms); {EMPTY_SCRATCH}",
        tokenize(ticket)
    )
}

/// Writes the words of `ticket`'s documents as they are now.
fn remember(tenant: &str, ticket: &str) -> String {
    format!(
        "{} INSERT OR REPLACE INTO ticket_words (tenant_id, word, ticket_id, public)
           SELECT {tenant}, term, {ticket}, max(col = 'public') FROM ticket_words_terms
           GROUP BY term; {EMPTY_SCRATCH}",
        tokenize(ticket)
    )
}

/// The `WHEN` of a ticket change that changes its documents or their tenant.
const TICKET_CHANGED: &str =
    "OLD.subject IS NOT NEW.subject OR OLD.description IS NOT NEW.description
     OR OLD.tenant_id IS NOT NEW.tenant_id";
/// The `WHEN` of a new message that changes its ticket's documents (`message_search_insert`'s:
/// a ticket's first message repeats its description).
const MESSAGE_ADDS: &str = "NEW.internal = 1 OR NEW.merged_from IS NOT NULL
     OR NEW.body IS NOT (SELECT description FROM tickets WHERE id = NEW.ticket_id)";
const MESSAGE_CHANGED: &str = "OLD.body IS NOT NEW.body OR OLD.internal IS NOT NEW.internal";

fn sqlite() -> Vec<String> {
    let owner = "(SELECT tenant_id FROM tickets WHERE id = NEW.ticket_id)";
    vec![
        "CREATE TABLE ticket_words (
            tenant_id BLOB NOT NULL,
            word TEXT NOT NULL,
            ticket_id BLOB NOT NULL,
            public INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, word, ticket_id)) WITHOUT ROWID"
            .into(),
        "CREATE VIRTUAL TABLE ticket_words_scratch USING fts5(public, internal, content = '',
           tokenize = 'unicode61 remove_diacritics 0')"
            .into(),
        "CREATE VIRTUAL TABLE ticket_words_terms USING fts5vocab(ticket_words_scratch, 'col')"
            .into(),
        // A new ticket has no messages yet: its documents are its subject and description.
        format!(
            "CREATE TRIGGER ticket_words_insert AFTER INSERT ON tickets BEGIN
               INSERT INTO ticket_words_scratch (rowid, public, internal)
                 VALUES (1, NEW.subject || ' ' || NEW.description, '');
               INSERT INTO ticket_words (tenant_id, word, ticket_id, public)
                 SELECT NEW.tenant_id, term, NEW.id, 1 FROM ticket_words_terms GROUP BY term;
               {EMPTY_SCRATCH}
             END"
        ),
        format!(
            "CREATE TRIGGER ticket_words_before_update BEFORE UPDATE OF subject, description, tenant_id
             ON tickets WHEN {TICKET_CHANGED} BEGIN {} END",
            forget("OLD.tenant_id", "OLD.id")
        ),
        format!(
            "CREATE TRIGGER ticket_words_after_update AFTER UPDATE OF subject, description, tenant_id
             ON tickets WHEN {TICKET_CHANGED} BEGIN {} END",
            remember("NEW.tenant_id", "NEW.id")
        ),
        format!(
            "CREATE TRIGGER ticket_words_delete BEFORE DELETE ON tickets BEGIN {} END",
            forget("OLD.tenant_id", "OLD.id")
        ),
        format!(
            "CREATE TRIGGER message_words_before_insert BEFORE INSERT ON messages
             WHEN {MESSAGE_ADDS} BEGIN {} END",
            forget(owner, "NEW.ticket_id")
        ),
        format!(
            "CREATE TRIGGER message_words_after_insert AFTER INSERT ON messages
             WHEN {MESSAGE_ADDS} BEGIN {} END",
            remember(owner, "NEW.ticket_id")
        ),
        format!(
            "CREATE TRIGGER message_words_before_update BEFORE UPDATE OF body, internal ON messages
             WHEN {MESSAGE_CHANGED} BEGIN {} END",
            forget(owner, "NEW.ticket_id")
        ),
        format!(
            "CREATE TRIGGER message_words_after_update AFTER UPDATE OF body, internal ON messages
             WHEN {MESSAGE_CHANGED} BEGIN {} END",
            remember(owner, "NEW.ticket_id")
        ),
    ]
}

/// The words of the tickets that exist already: every ticket's documents into the scratch
/// table at once (by the ticket's rowid), read back a word per document.
fn backfill() -> Vec<String> {
    vec![
        "CREATE VIRTUAL TABLE ticket_words_backfill USING fts5vocab(ticket_words_scratch, 'instance')"
            .into(),
        format!(
            "INSERT INTO ticket_words_scratch (rowid, public, internal)
             SELECT t.rowid, {SQLITE_PUBLIC_DOC}, {SQLITE_INTERNAL_DOC} FROM tickets t"
        ),
        "INSERT INTO ticket_words (tenant_id, word, ticket_id, public)
         SELECT t.tenant_id, v.term, t.id, max(v.col = 'public')
         FROM ticket_words_backfill v JOIN tickets t ON t.rowid = v.doc
         GROUP BY t.id, v.term"
            .into(),
        EMPTY_SCRATCH.into(),
        "DROP TABLE ticket_words_backfill".into(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in sqlite().into_iter().chain(backfill()) {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in [
            "DROP TRIGGER IF EXISTS ticket_words_insert",
            "DROP TRIGGER IF EXISTS ticket_words_before_update",
            "DROP TRIGGER IF EXISTS ticket_words_after_update",
            "DROP TRIGGER IF EXISTS ticket_words_delete",
            "DROP TRIGGER IF EXISTS message_words_before_insert",
            "DROP TRIGGER IF EXISTS message_words_after_insert",
            "DROP TRIGGER IF EXISTS message_words_before_update",
            "DROP TRIGGER IF EXISTS message_words_after_update",
            "DROP TABLE IF EXISTS ticket_words_terms",
            "DROP TABLE IF EXISTS ticket_words_scratch",
            "DROP TABLE IF EXISTS ticket_words",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
