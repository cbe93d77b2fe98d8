//! Reads at scale (docs/ARCHITECTURE.md, "Reads at scale"):
//! - kept counts: `ticket_counts` (per tenant) and `ticket_counts_all` (every tenant, in a
//!   few slots so tenants do not queue on one row), one row per (tag, status, category,
//!   priority, assignee), maintained by triggers on `tickets` in the writing transaction, so
//!   every write path (the API, the workers, a bulk `INSERT`) keeps them;
//! - the inbox's order as columns (`inbox_rank`, `inbox_due`) and indexes in that order;
//! - full-text search maintained by triggers on `tickets` and `messages`: a `tsvector` pair
//!   with GIN indexes on PostgreSQL, an FTS5 table on SQLite.
//!
//! The tag `''` row of a count is the ticket itself; a ticket with tags also counts once
//! under each tag. An unassigned ticket counts under the nil UUID.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How many rows of `ticket_counts_all` share one bucket (PostgreSQL; SQLite has one writer).
pub const COUNT_SLOTS: i32 = 4;

const NIL: &str = "00000000-0000-0000-0000-000000000000";

const COMMON: &[&str] = &[
    "CREATE TABLE ticket_counts (
        tenant_id uuid NOT NULL,
        tag text NOT NULL,
        status text NOT NULL,
        category text NOT NULL,
        priority text NOT NULL,
        assignee_id uuid NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (tenant_id, tag, status, category, priority, assignee_id))",
    "CREATE TABLE ticket_counts_all (
        tag text NOT NULL,
        status text NOT NULL,
        category text NOT NULL,
        priority text NOT NULL,
        assignee_id uuid NOT NULL,
        slot smallint NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (tag, status, category, priority, assignee_id, slot))",
    "DROP INDEX IF EXISTS idx_tickets_inbox",
];

const INDEXES: &[&str] = &[
    "CREATE INDEX idx_tickets_inbox_status ON tickets (status, inbox_rank, inbox_due, id)",
    "CREATE INDEX idx_tickets_inbox_all ON tickets (inbox_rank, inbox_due, id)",
    "CREATE INDEX idx_tickets_tenant_status ON tickets (tenant_id, status, id)",
    "CREATE INDEX idx_tickets_tenant_status_priority ON tickets (tenant_id, status, priority, id)",
];

/// The body of a counts trigger: `source` yields the changed rows with a delta each; they
/// are summed per bucket and applied in key order, so two writers never lock buckets
/// crosswise.
pub(crate) fn apply_counts(source: &str) -> String {
    format!(
        "WITH d AS ({source}),
         e AS (
           SELECT d.tenant_id, t.tag, d.status, d.category, d.priority,
                  COALESCE(d.assignee_id, '{NIL}'::uuid) AS assignee_id, d.delta
           FROM d CROSS JOIN LATERAL unnest(array_prepend('',
                string_to_array(trim(both ',' from d.tags), ','))) AS t(tag)
           WHERE t.tag IS NOT NULL),
         g AS (
           SELECT tenant_id, tag, status, category, priority, assignee_id, sum(delta) AS n
           FROM e GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(delta) <> 0),
         per_tenant AS (
           INSERT INTO ticket_counts AS c (tenant_id, tag, status, category, priority, assignee_id, n)
           SELECT * FROM g ORDER BY 1, 2, 3, 4, 5, 6
           ON CONFLICT (tenant_id, tag, status, category, priority, assignee_id)
           DO UPDATE SET n = c.n + EXCLUDED.n)
         INSERT INTO ticket_counts_all AS c (tag, status, category, priority, assignee_id, slot, n)
         SELECT tag, status, category, priority, assignee_id, slot, sum(n) FROM (
           SELECT tag, status, category, priority, assignee_id,
                  (abs(hashtext(tenant_id::text)) % {COUNT_SLOTS})::smallint AS slot, n
           FROM g) x
         GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
         ON CONFLICT (tag, status, category, priority, assignee_id, slot)
         DO UPDATE SET n = c.n + EXCLUDED.n;"
    )
}

/// The counted rows an `UPDATE` changed: each as it is now (+1) and as it was (-1).
pub(crate) const UPDATED_ROWS: &str = "SELECT n.tenant_id, n.status, n.category, n.priority, n.assignee_id, n.tags, 1::bigint AS delta
     FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE (o.tenant_id, o.status, o.category, o.priority, o.assignee_id, o.tags)
           IS DISTINCT FROM (n.tenant_id, n.status, n.category, n.priority, n.assignee_id, n.tags)
     UNION ALL
     SELECT o.tenant_id, o.status, o.category, o.priority, o.assignee_id, o.tags, -1::bigint
     FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE (o.tenant_id, o.status, o.category, o.priority, o.assignee_id, o.tags)
           IS DISTINCT FROM (n.tenant_id, n.status, n.category, n.priority, n.assignee_id, n.tags)";

/// The body of the function that appends a new message to its ticket's search document.
/// Migration 000018 replaces it and restores it on the way down.
pub(crate) const MESSAGE_SEARCH_INSERT: &str = "RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.internal THEN
         UPDATE tickets SET search_internal = search_internal || to_tsvector('simple', NEW.body)
         WHERE id = NEW.ticket_id;
       ELSE
         UPDATE tickets SET search_public = search_public || to_tsvector('simple', NEW.body)
         WHERE id = NEW.ticket_id AND NOT (NEW.merged_from IS NULL AND description = NEW.body);
       END IF;
       RETURN NULL;
     END $$";

fn postgres() -> Vec<String> {
    let mut sql: Vec<String> = COMMON.iter().map(|s| String::from(*s)).collect();
    sql.push(
        "ALTER TABLE tickets ADD COLUMN inbox_rank smallint GENERATED ALWAYS AS \
         ((CASE WHEN sla_priority_queue THEN 0 ELSE 4 END) + 3 - priority_rank) STORED"
            .into(),
    );
    sql.push(
        "ALTER TABLE tickets ADD COLUMN inbox_due timestamptz GENERATED ALWAYS AS \
         (COALESCE(first_response_due_at, 'infinity'::timestamptz)) STORED"
            .into(),
    );
    sql.extend(INDEXES.iter().map(|s| String::from(*s)));
    // Counts: statement triggers with transition tables (see `apply_counts`).
    let apply = apply_counts;
    let cols = "tenant_id, status, category, priority, assignee_id, tags";
    let inserted = format!("SELECT {cols}, 1::bigint AS delta FROM new_rows");
    let deleted = format!("SELECT {cols}, -1::bigint AS delta FROM old_rows");
    let updated = String::from(UPDATED_ROWS);
    for (name, source, event, referencing) in [
        ("insert", inserted, "INSERT", "NEW TABLE AS new_rows"),
        ("delete", deleted, "DELETE", "OLD TABLE AS old_rows"),
        (
            "update",
            updated,
            "UPDATE",
            "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        ),
    ] {
        sql.push(format!(
            "CREATE FUNCTION helpline_ticket_counts_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN {} RETURN NULL; END $$",
            apply(&source)
        ));
        sql.push(format!(
            "CREATE TRIGGER ticket_counts_{name} AFTER {event} ON tickets
             REFERENCING {referencing} FOR EACH STATEMENT
             EXECUTE FUNCTION helpline_ticket_counts_{name}()"
        ));
    }

    // Search: subject and description on the ticket; each later message appended (the
    // first message repeats the description and is skipped). Internal notes apart.
    sql.push("ALTER TABLE tickets ADD COLUMN search_public tsvector NOT NULL DEFAULT ''".into());
    sql.push("ALTER TABLE tickets ADD COLUMN search_internal tsvector NOT NULL DEFAULT ''".into());
    sql.push(
        "CREATE FUNCTION helpline_ticket_search_doc(t_id uuid, t_subject text, t_description text, want_internal boolean)
         RETURNS tsvector LANGUAGE sql STABLE AS $$
           SELECT CASE WHEN want_internal THEN ''::tsvector
                  ELSE to_tsvector('simple', t_subject || ' ' || t_description) END
              || COALESCE((SELECT to_tsvector('simple', string_agg(m.body, ' ' ORDER BY m.id))
                  FROM messages m WHERE m.ticket_id = t_id AND m.internal = want_internal
                  AND NOT (m.merged_from IS NULL AND m.body = t_description)), ''::tsvector)
         $$"
        .into(),
    );
    sql.push(
        "CREATE FUNCTION helpline_ticket_search_row() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF TG_OP = 'INSERT' THEN
             NEW.search_public := to_tsvector('simple', NEW.subject || ' ' || NEW.description);
             NEW.search_internal := '';
           ELSE
             NEW.search_public := helpline_ticket_search_doc(NEW.id, NEW.subject, NEW.description, false);
             NEW.search_internal := helpline_ticket_search_doc(NEW.id, NEW.subject, NEW.description, true);
           END IF;
           RETURN NEW;
         END $$"
            .into(),
    );
    sql.push(
        "CREATE TRIGGER ticket_search_insert BEFORE INSERT ON tickets
         FOR EACH ROW EXECUTE FUNCTION helpline_ticket_search_row()"
            .into(),
    );
    sql.push(
        "CREATE TRIGGER ticket_search_update BEFORE UPDATE OF subject, description ON tickets
         FOR EACH ROW WHEN (OLD.subject IS DISTINCT FROM NEW.subject
                            OR OLD.description IS DISTINCT FROM NEW.description)
         EXECUTE FUNCTION helpline_ticket_search_row()"
            .into(),
    );
    sql.push(format!(
        "CREATE FUNCTION helpline_message_search_insert() {MESSAGE_SEARCH_INSERT}"
    ));
    sql.push(
        "CREATE TRIGGER message_search_insert AFTER INSERT ON messages
         FOR EACH ROW EXECUTE FUNCTION helpline_message_search_insert()"
            .into(),
    );
    // A changed message (erasure) rebuilds its ticket's documents from scratch.
    sql.push(
        "CREATE FUNCTION helpline_message_search_update() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           UPDATE tickets t SET
             search_public = helpline_ticket_search_doc(t.id, t.subject, t.description, false),
             search_internal = helpline_ticket_search_doc(t.id, t.subject, t.description, true)
           WHERE t.id IN (SELECT n.ticket_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                          WHERE o.body IS DISTINCT FROM n.body OR o.internal IS DISTINCT FROM n.internal);
           RETURN NULL;
         END $$"
            .into(),
    );
    sql.push(
        "CREATE TRIGGER message_search_update AFTER UPDATE ON messages
         REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
         EXECUTE FUNCTION helpline_message_search_update()"
            .into(),
    );
    sql.push("CREATE INDEX idx_tickets_search_public ON tickets USING gin (search_public)".into());
    sql.push(
        "CREATE INDEX idx_tickets_search_all ON tickets USING gin ((search_public || search_internal))"
            .into(),
    );
    // Tickets that exist already.
    sql.push(
        "UPDATE tickets SET
           search_public = helpline_ticket_search_doc(id, subject, description, false),
           search_internal = helpline_ticket_search_doc(id, subject, description, true)"
            .into(),
    );
    sql.push(format!(
        "INSERT INTO ticket_counts (tenant_id, tag, status, category, priority, assignee_id, n)
         SELECT tickets.tenant_id, t.tag, status, category, priority,
                COALESCE(assignee_id, '{NIL}'::uuid), count(*)
         FROM tickets CROSS JOIN LATERAL unnest(array_prepend('',
              string_to_array(trim(both ',' from tags), ','))) AS t(tag)
         GROUP BY 1, 2, 3, 4, 5, 6"
    ));
    sql.push(format!(
        "INSERT INTO ticket_counts_all (tag, status, category, priority, assignee_id, slot, n)
         SELECT tag, status, category, priority, assignee_id,
                (abs(hashtext(tenant_id::text)) % {COUNT_SLOTS})::smallint, sum(n)
         FROM ticket_counts GROUP BY 1, 2, 3, 4, 5, 6"
    ));
    sql
}

/// SQLite: a JSON array of the tag `''` and every tag of `,a,b,` (tags are `[a-z0-9_-]`).
fn sqlite_tags(column: &str) -> String {
    format!(
        "json_each('[\"\"' || CASE WHEN trim({column}, ',') = '' THEN '' \
         ELSE ',\"' || replace(trim({column}, ','), ',', '\",\"') || '\"' END || ']')"
    )
}

fn sqlite_bump(row: &str, delta: i32) -> String {
    let tags = sqlite_tags(&format!("{row}.tags"));
    let nil = "X'00000000000000000000000000000000'";
    format!(
        "INSERT INTO ticket_counts (tenant_id, tag, status, category, priority, assignee_id, n)
           SELECT {row}.tenant_id, j.value, {row}.status, {row}.category, {row}.priority,
                  COALESCE({row}.assignee_id, {nil}), {delta} FROM {tags} j WHERE true
           ON CONFLICT (tenant_id, tag, status, category, priority, assignee_id)
           DO UPDATE SET n = n + excluded.n;
         INSERT INTO ticket_counts_all (tag, status, category, priority, assignee_id, slot, n)
           SELECT j.value, {row}.status, {row}.category, {row}.priority,
                  COALESCE({row}.assignee_id, {nil}), 0, {delta} FROM {tags} j WHERE true
           ON CONFLICT (tag, status, category, priority, assignee_id, slot)
           DO UPDATE SET n = n + excluded.n;"
    )
}

/// The public and internal documents of ticket `t` (a `tickets` alias in scope).
pub(crate) const SQLITE_PUBLIC_DOC: &str =
    "t.subject || ' ' || t.description || COALESCE((SELECT ' ' || group_concat(m.body, ' ')
     FROM messages m WHERE m.ticket_id = t.id AND m.internal = 0
     AND NOT (m.merged_from IS NULL AND m.body = t.description)), '')";
pub(crate) const SQLITE_INTERNAL_DOC: &str =
    "COALESCE((SELECT group_concat(m.body, ' ') FROM messages m
     WHERE m.ticket_id = t.id AND m.internal = 1), '')";

fn sqlite() -> Vec<String> {
    let mut sql: Vec<String> = COMMON.iter().map(|s| String::from(*s)).collect();
    sql.push(
        "ALTER TABLE tickets ADD COLUMN inbox_rank INTEGER GENERATED ALWAYS AS \
         ((CASE WHEN sla_priority_queue THEN 0 ELSE 4 END) + 3 - priority_rank) VIRTUAL"
            .into(),
    );
    // Timestamps are RFC 3339 text: any real one sorts before the year 9999.
    sql.push(
        "ALTER TABLE tickets ADD COLUMN inbox_due TEXT GENERATED ALWAYS AS \
         (COALESCE(first_response_due_at, '9999-12-31T23:59:59Z')) VIRTUAL"
            .into(),
    );
    sql.extend(INDEXES.iter().map(|s| String::from(*s)));
    sql.push(format!(
        "CREATE TRIGGER ticket_counts_insert AFTER INSERT ON tickets BEGIN {} END",
        sqlite_bump("NEW", 1)
    ));
    sql.push(format!(
        "CREATE TRIGGER ticket_counts_delete AFTER DELETE ON tickets BEGIN {} END",
        sqlite_bump("OLD", -1)
    ));
    sql.push(format!(
        "CREATE TRIGGER ticket_counts_update AFTER UPDATE OF tenant_id, status, category, priority, assignee_id, tags
         ON tickets WHEN OLD.tenant_id IS NOT NEW.tenant_id OR OLD.status IS NOT NEW.status
           OR OLD.category IS NOT NEW.category OR OLD.priority IS NOT NEW.priority
           OR OLD.assignee_id IS NOT NEW.assignee_id OR OLD.tags IS NOT NEW.tags
         BEGIN {} {} END",
        sqlite_bump("OLD", -1),
        sqlite_bump("NEW", 1)
    ));

    // Search: FTS5 rows keyed by `ticket_search_rows` (tickets have no integer key); the
    // `tenant` column holds `t` + the tenant's hex id, so a tenant's search is one MATCH.
    sql.push(
        "CREATE TABLE ticket_search_rows (rowid INTEGER PRIMARY KEY, ticket_id BLOB NOT NULL UNIQUE)"
            .into(),
    );
    sql.push(
        "CREATE VIRTUAL TABLE ticket_search USING fts5(tenant, public, internal, tokenize = 'unicode61')"
            .into(),
    );
    sql.push(
        "CREATE TRIGGER ticket_search_insert AFTER INSERT ON tickets BEGIN
           INSERT INTO ticket_search_rows (ticket_id) VALUES (NEW.id);
           INSERT INTO ticket_search (rowid, tenant, public, internal)
           VALUES (last_insert_rowid(), 't' || lower(hex(NEW.tenant_id)),
                   NEW.subject || ' ' || NEW.description, '');
         END"
        .into(),
    );
    let rebuild = |ticket: &str| {
        format!(
            "UPDATE ticket_search SET
               public = (SELECT {SQLITE_PUBLIC_DOC} FROM tickets t WHERE t.id = {ticket}),
               internal = (SELECT {SQLITE_INTERNAL_DOC} FROM tickets t WHERE t.id = {ticket})
             WHERE rowid = (SELECT rowid FROM ticket_search_rows WHERE ticket_id = {ticket});"
        )
    };
    sql.push(format!(
        "CREATE TRIGGER ticket_search_update AFTER UPDATE OF subject, description ON tickets
         WHEN OLD.subject IS NOT NEW.subject OR OLD.description IS NOT NEW.description
         BEGIN {} END",
        rebuild("NEW.id")
    ));
    sql.push(
        "CREATE TRIGGER ticket_search_delete AFTER DELETE ON tickets BEGIN
           DELETE FROM ticket_search WHERE rowid = (SELECT rowid FROM ticket_search_rows WHERE ticket_id = OLD.id);
           DELETE FROM ticket_search_rows WHERE ticket_id = OLD.id;
         END"
        .into(),
    );
    sql.push(
        "CREATE TRIGGER message_search_insert AFTER INSERT ON messages
         WHEN NEW.internal = 1 OR NEW.merged_from IS NOT NULL
           OR NEW.body IS NOT (SELECT description FROM tickets WHERE id = NEW.ticket_id)
         BEGIN
           UPDATE ticket_search SET
             public = CASE WHEN NEW.internal = 1 THEN public ELSE public || ' ' || NEW.body END,
             internal = CASE WHEN NEW.internal = 1 THEN internal || ' ' || NEW.body ELSE internal END
           WHERE rowid = (SELECT rowid FROM ticket_search_rows WHERE ticket_id = NEW.ticket_id);
         END"
        .into(),
    );
    sql.push(format!(
        "CREATE TRIGGER message_search_update AFTER UPDATE OF body, internal ON messages
         WHEN OLD.body IS NOT NEW.body OR OLD.internal IS NOT NEW.internal
         BEGIN {} END",
        rebuild("NEW.ticket_id")
    ));
    // Tickets that exist already.
    sql.push("INSERT INTO ticket_search_rows (ticket_id) SELECT id FROM tickets".into());
    sql.push(format!(
        "INSERT INTO ticket_search (rowid, tenant, public, internal)
         SELECT r.rowid, 't' || lower(hex(t.tenant_id)), {SQLITE_PUBLIC_DOC}, {SQLITE_INTERNAL_DOC}
         FROM ticket_search_rows r JOIN tickets t ON t.id = r.ticket_id"
    ));
    let tags = sqlite_tags("tickets.tags");
    let nil = "X'00000000000000000000000000000000'";
    sql.push(format!(
        "INSERT INTO ticket_counts (tenant_id, tag, status, category, priority, assignee_id, n)
         SELECT tenant_id, j.value, status, category, priority, COALESCE(assignee_id, {nil}), count(*)
         FROM tickets, {tags} j GROUP BY 1, 2, 3, 4, 5, 6"
    ));
    sql.push(
        "INSERT INTO ticket_counts_all (tag, status, category, priority, assignee_id, slot, n)
         SELECT tag, status, category, priority, assignee_id, 0, sum(n)
         FROM ticket_counts GROUP BY 1, 2, 3, 4, 5"
            .into(),
    );
    sql
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
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        let mut statements: Vec<String> = Vec::new();
        if postgres {
            for name in ["insert", "delete", "update"] {
                statements.push(format!(
                    "DROP TRIGGER IF EXISTS ticket_counts_{name} ON tickets"
                ));
                statements.push(format!(
                    "DROP FUNCTION IF EXISTS helpline_ticket_counts_{name}()"
                ));
            }
            statements.extend(
                [
                    "DROP TRIGGER IF EXISTS ticket_search_insert ON tickets",
                    "DROP TRIGGER IF EXISTS ticket_search_update ON tickets",
                    "DROP TRIGGER IF EXISTS message_search_insert ON messages",
                    "DROP TRIGGER IF EXISTS message_search_update ON messages",
                    "DROP FUNCTION IF EXISTS helpline_ticket_search_row()",
                    "DROP FUNCTION IF EXISTS helpline_message_search_insert()",
                    "DROP FUNCTION IF EXISTS helpline_message_search_update()",
                    "DROP FUNCTION IF EXISTS helpline_ticket_search_doc(uuid, text, text, boolean)",
                ]
                .map(String::from),
            );
        } else {
            for name in [
                "ticket_counts_insert",
                "ticket_counts_delete",
                "ticket_counts_update",
                "ticket_search_insert",
                "ticket_search_update",
                "ticket_search_delete",
                "message_search_insert",
                "message_search_update",
            ] {
                statements.push(format!("DROP TRIGGER IF EXISTS {name}"));
            }
            statements.push("DROP TABLE IF EXISTS ticket_search".into());
            statements.push("DROP TABLE IF EXISTS ticket_search_rows".into());
        }
        for index in [
            "idx_tickets_inbox_status",
            "idx_tickets_inbox_all",
            "idx_tickets_tenant_status",
            "idx_tickets_tenant_status_priority",
            "idx_tickets_search_public",
            "idx_tickets_search_all",
        ] {
            statements.push(format!("DROP INDEX IF EXISTS {index}"));
        }
        let columns: &[&str] = if postgres {
            &[
                "search_internal",
                "search_public",
                "inbox_due",
                "inbox_rank",
            ]
        } else {
            &["inbox_due", "inbox_rank"]
        };
        for column in columns {
            statements.push(format!("ALTER TABLE tickets DROP COLUMN {column}"));
        }
        statements.push("DROP TABLE IF EXISTS ticket_counts_all".into());
        statements.push("DROP TABLE IF EXISTS ticket_counts".into());
        statements.push(
            "CREATE INDEX idx_tickets_inbox ON tickets (status, sla_priority_queue, priority_rank)"
                .into(),
        );
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}
