//! A tenant's search reads its newest matches in id order from an index
//! (docs/ARCHITECTURE.md, "A search reads one page"):
//! - PostgreSQL: `ticket_words`, one row per (tenant, word, ticket) with whether the word is
//!   in the public document, kept from the tickets' `tsvector`s by triggers in the writing
//!   transaction. Its primary key is the tenant's words in ticket-id order, so a search's
//!   count and page are index-only walks that stop after what they need; a GIN index can
//!   only hand back every match at once.
//! - SQLite: `ticket_search_rows` keeps the ticket's tenant, with an index on
//!   `(tenant_id, ticket_id)` that a search's page walks newest first (covering: the FTS5
//!   rowid is the row's own), instead of probing the table once per ticket walked.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn postgres() -> Vec<&'static str> {
    vec![
        // `COLLATE "C"`: words are compared for equality and order only, byte by byte.
        "CREATE TABLE ticket_words (
            tenant_id uuid NOT NULL,
            word text COLLATE \"C\" NOT NULL,
            ticket_id uuid NOT NULL,
            public boolean NOT NULL,
            PRIMARY KEY (tenant_id, word, ticket_id) INCLUDE (public))
         WITH (autovacuum_vacuum_insert_scale_factor = 0.01)",
        // The words of a ticket's documents, each once, public when in the public one.
        "CREATE FUNCTION helpline_ticket_words(public_doc tsvector, internal_doc tsvector)
         RETURNS TABLE (word text, public boolean) LANGUAGE sql IMMUTABLE AS $$
           SELECT w, bool_or(p) FROM (
             SELECT unnest(tsvector_to_array(public_doc)) AS w, true AS p
             UNION ALL
             SELECT unnest(tsvector_to_array(internal_doc)), false) x
           GROUP BY w
         $$",
        "CREATE FUNCTION helpline_ticket_words_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           INSERT INTO ticket_words (tenant_id, word, ticket_id, public)
           SELECT n.tenant_id, w.word, n.id, w.public
           FROM new_rows n CROSS JOIN LATERAL helpline_ticket_words(n.search_public, n.search_internal) w;
           RETURN NULL;
         END $$",
        "CREATE TRIGGER ticket_words_insert AFTER INSERT ON tickets
         REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
         EXECUTE FUNCTION helpline_ticket_words_insert()",
        // A changed document (a message, an edit, erasure): words gone are deleted, words
        // new (or moved between public and internal) written.
        "CREATE FUNCTION helpline_ticket_words_update() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF OLD.tenant_id IS DISTINCT FROM NEW.tenant_id THEN
             DELETE FROM ticket_words WHERE tenant_id = OLD.tenant_id AND ticket_id = OLD.id
               AND word = ANY (tsvector_to_array(OLD.search_public || OLD.search_internal));
             INSERT INTO ticket_words (tenant_id, word, ticket_id, public)
             SELECT NEW.tenant_id, w.word, NEW.id, w.public
             FROM helpline_ticket_words(NEW.search_public, NEW.search_internal) w
             ON CONFLICT (tenant_id, word, ticket_id) DO UPDATE SET public = EXCLUDED.public;
             RETURN NULL;
           END IF;
           DELETE FROM ticket_words WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.id
             AND word IN (SELECT o.word FROM helpline_ticket_words(OLD.search_public, OLD.search_internal) o
                          EXCEPT
                          SELECT n.word FROM helpline_ticket_words(NEW.search_public, NEW.search_internal) n);
           INSERT INTO ticket_words (tenant_id, word, ticket_id, public)
           SELECT NEW.tenant_id, c.word, NEW.id, c.public FROM (
             SELECT n.word, n.public FROM helpline_ticket_words(NEW.search_public, NEW.search_internal) n
             EXCEPT
             SELECT o.word, o.public FROM helpline_ticket_words(OLD.search_public, OLD.search_internal) o) c
           ON CONFLICT (tenant_id, word, ticket_id) DO UPDATE SET public = EXCLUDED.public;
           RETURN NULL;
         END $$",
        "CREATE TRIGGER ticket_words_update AFTER UPDATE ON tickets
         FOR EACH ROW WHEN (OLD.search_public IS DISTINCT FROM NEW.search_public
                            OR OLD.search_internal IS DISTINCT FROM NEW.search_internal
                            OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
         EXECUTE FUNCTION helpline_ticket_words_update()",
        "CREATE FUNCTION helpline_ticket_words_delete() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           DELETE FROM ticket_words WHERE tenant_id = OLD.tenant_id AND ticket_id = OLD.id
             AND word = ANY (tsvector_to_array(OLD.search_public || OLD.search_internal));
           RETURN NULL;
         END $$",
        "CREATE TRIGGER ticket_words_delete AFTER DELETE ON tickets
         FOR EACH ROW EXECUTE FUNCTION helpline_ticket_words_delete()",
        // Tickets that exist already.
        "INSERT INTO ticket_words (tenant_id, word, ticket_id, public)
         SELECT t.tenant_id, w.word, t.id, w.public
         FROM tickets t CROSS JOIN LATERAL helpline_ticket_words(t.search_public, t.search_internal) w",
    ]
}

/// Also migration 000019's `down`, which puts these back.
pub(crate) fn sqlite() -> Vec<&'static str> {
    vec![
        "ALTER TABLE ticket_search_rows ADD COLUMN tenant_id BLOB",
        "UPDATE ticket_search_rows SET tenant_id =
           (SELECT t.tenant_id FROM tickets t WHERE t.id = ticket_search_rows.ticket_id)",
        "CREATE INDEX idx_ticket_search_rows_tenant ON ticket_search_rows (tenant_id, ticket_id)",
        // The row `ticket_search_insert` writes for a new ticket takes the ticket's tenant
        // (an `UPDATE` inside a trigger leaves that trigger's `last_insert_rowid()` alone).
        "CREATE TRIGGER ticket_search_rows_tenant AFTER INSERT ON ticket_search_rows
         WHEN NEW.tenant_id IS NULL BEGIN
           UPDATE ticket_search_rows SET tenant_id =
             (SELECT t.tenant_id FROM tickets t WHERE t.id = NEW.ticket_id)
           WHERE rowid = NEW.rowid;
         END",
        "CREATE TRIGGER ticket_search_tenant AFTER UPDATE OF tenant_id ON tickets
         WHEN OLD.tenant_id IS NOT NEW.tenant_id BEGIN
           UPDATE ticket_search_rows SET tenant_id = NEW.tenant_id WHERE ticket_id = NEW.id;
           UPDATE ticket_search SET tenant = 't' || lower(hex(NEW.tenant_id))
           WHERE rowid = (SELECT rowid FROM ticket_search_rows WHERE ticket_id = NEW.id);
         END",
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DatabaseBackend::Postgres => postgres(),
            _ => sqlite(),
        };
        let db = manager.get_connection();
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match manager.get_database_backend() {
            DatabaseBackend::Postgres => &[
                "DROP TRIGGER IF EXISTS ticket_words_insert ON tickets",
                "DROP TRIGGER IF EXISTS ticket_words_update ON tickets",
                "DROP TRIGGER IF EXISTS ticket_words_delete ON tickets",
                "DROP FUNCTION IF EXISTS helpline_ticket_words_insert()",
                "DROP FUNCTION IF EXISTS helpline_ticket_words_update()",
                "DROP FUNCTION IF EXISTS helpline_ticket_words_delete()",
                "DROP FUNCTION IF EXISTS helpline_ticket_words(tsvector, tsvector)",
                "DROP TABLE IF EXISTS ticket_words",
            ],
            _ => &[
                "DROP TRIGGER IF EXISTS ticket_search_tenant",
                "DROP TRIGGER IF EXISTS ticket_search_rows_tenant",
                "DROP INDEX IF EXISTS idx_ticket_search_rows_tenant",
                "ALTER TABLE ticket_search_rows DROP COLUMN tenant_id",
            ],
        };
        let db = manager.get_connection();
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
