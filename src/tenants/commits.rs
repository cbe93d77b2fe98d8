//! On SQLite, the node's tenant actors write their batches of creates in rounds: one write
//! transaction for the batches of every tenant waiting together, rather than one per tenant.
//! SQLite has one writer at a time, and a write transaction's fixed cost (`BEGIN IMMEDIATE`,
//! the commit's sync, a statement's trip to the connection's thread and back) was most of a
//! small batch's time (docs/PERFORMANCE.md, "Where a create waits beside 10,000 streams").
//! Each tenant's batch is written under its own savepoint, so one tenant's failed batch is
//! rolled back alone and fails only that tenant's creates; a failed commit fails every create
//! of the round. PostgreSQL locks rows, not the database: there every actor writes its own
//! transaction at once.
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use crate::config::Config;
use crate::feed::hub::FeedWake;
use crate::tickets::error::TicketError;
use crate::tickets::ops::{self, BatchResult, NewTicket};

/// One tenant's batch in a round, and where its answer goes.
struct Submission {
    tenant_id: Uuid,
    batch: Vec<NewTicket>,
    answer: oneshot::Sender<BatchResult>,
}

#[derive(Default)]
struct Rounds {
    /// Actors waiting for the next round, each to be handed a [`Slot`] in it.
    waiting: Mutex<Vec<oneshot::Sender<Slot>>>,
    /// Wakes the committer when the first actor starts waiting.
    wake: Notify,
}

/// How the node writes batches of creates: in rounds on SQLite, each actor alone elsewhere.
#[derive(Clone, Default)]
pub struct CreateCommits(Option<Arc<Rounds>>);

/// An actor's place in a round: it writes one batch through it (or drops it). The round
/// starts writing once every slot handed out was used or dropped.
pub struct Slot(mpsc::UnboundedSender<Submission>);

impl CreateCommits {
    /// In rounds on SQLite, written by a committer on `arbiter`'s thread, each commit
    /// waking `feed`.
    pub fn for_backend(
        db: &DatabaseConnection,
        config: &Arc<Config>,
        arbiter: &actix_rt::ArbiterHandle,
        feed: FeedWake,
    ) -> Self {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Self(None);
        }
        let rounds = Arc::new(Rounds::default());
        let (committer, db, config) = (rounds.clone(), db.clone(), config.clone());
        arbiter.spawn_fn(move || {
            actix_rt::spawn(commit_rounds(committer, db, config, feed));
        });
        Self(Some(rounds))
    }

    /// Waits for a place in the next round (`None` on PostgreSQL: write at once). The
    /// batch is drained when the place comes, so creates that arrive meanwhile join it.
    pub async fn turn(&self) -> Option<Slot> {
        let rounds = self.0.as_ref()?;
        let (tx, rx) = oneshot::channel();
        {
            let mut waiting = rounds
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            waiting.push(tx);
            if waiting.len() == 1 {
                rounds.wake.notify_one();
            }
        }
        // The committer is gone only when the registry is: no round, and no write either.
        rx.await.ok()
    }
}

impl Slot {
    /// Writes `batch` in this slot's round; answered once the round committed.
    pub async fn write(self, tenant_id: Uuid, batch: Vec<NewTicket>) -> BatchResult {
        let (answer, answered) = oneshot::channel();
        let submission = Submission {
            tenant_id,
            batch,
            answer,
        };
        if self.0.send(submission).is_err() {
            return Err(TicketError::TenantBusy);
        }
        drop(self);
        answered.await.unwrap_or(Err(TicketError::TenantBusy))
    }
}

/// The committer: hands a slot to every actor waiting, writes what they submit in one
/// transaction, answers each, and starts the next round with the actors that came meanwhile.
/// It runs as long as its runtime (the registry's first actor thread).
async fn commit_rounds(
    rounds: Arc<Rounds>,
    db: DatabaseConnection,
    config: Arc<Config>,
    feed: FeedWake,
) {
    loop {
        let waiting = std::mem::take(
            &mut *rounds
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if waiting.is_empty() {
            // A waiter that came after the take has stored a wake-up.
            rounds.wake.notified().await;
            continue;
        }
        let (slots, mut submitted) = mpsc::unbounded_channel();
        for waiter in waiting {
            let _ = waiter.send(Slot(slots.clone()));
        }
        drop(slots);
        let mut round = Vec::new();
        while let Some(submission) = submitted.recv().await {
            round.push(submission);
        }
        if !round.is_empty() {
            write_round(&db, &config, &feed, round).await;
        }
    }
}

/// One transaction for the round, a savepoint per tenant's batch; a commit wakes the feed's
/// reader, which would otherwise find the round's events at its next poll.
async fn write_round(
    db: &DatabaseConnection,
    config: &Config,
    feed: &FeedWake,
    round: Vec<Submission>,
) {
    let (answers, batches): (Vec<_>, Vec<_>) = round
        .into_iter()
        .map(|s| (s.answer, (s.tenant_id, s.batch)))
        .unzip();
    let written = ops::in_create_transaction(db, async |txn| {
        let mut results = Vec::with_capacity(batches.len());
        for (tenant_id, batch) in batches {
            results.push(write_batch(txn, config, tenant_id, batch).await);
        }
        Ok(results)
    })
    .await;
    match written {
        Ok(results) => {
            feed.committed();
            for (answer, result) in answers.into_iter().zip(results) {
                let _ = answer.send(result);
            }
        }
        Err(e) => {
            for answer in answers {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }
}

/// One tenant's batch under a savepoint of the round's transaction: rolled back alone if
/// it fails.
async fn write_batch(
    txn: &DatabaseTransaction,
    config: &Config,
    tenant_id: Uuid,
    batch: Vec<NewTicket>,
) -> BatchResult {
    let savepoint = txn.begin().await?;
    match ops::create_batch_in(&savepoint, config, tenant_id, batch, Utc::now()).await {
        Ok(created) => {
            savepoint.commit().await?;
            Ok(created)
        }
        Err(e) => {
            savepoint.rollback().await?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use entities::values::Category;
    use entities::{ledger_entries, tenants, tickets};
    use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

    use super::*;
    use crate::domain::plan::Plan;
    use crate::domain::validate::{Description, Email, Name, Subject};
    use crate::tenants::provision::{NewTenant, create_tenant};

    /// A description the test database refuses to store as a message (by a trigger): the
    /// batch carrying it fails after its fees and tickets were written.
    const REFUSED: &str = "this message is refused by the test database";

    fn ticket(description: &str) -> NewTicket {
        NewTicket {
            subject: Subject::parse("Calls drop").expect("subject"),
            category: Category::Telephony,
            description: Description::parse(description, "description").expect("description"),
            priority: Default::default(),
            call_id: None,
            source_session_id: None,
            contact_email: None,
        }
    }

    async fn tenant(db: &DatabaseConnection, name: &str) -> Uuid {
        let new = NewTenant {
            name: Name::parse(name, "name").expect("name"),
            email: Email::parse("ops@example.com", "email").expect("email"),
            plan: Plan::Base,
            balance_cents: 10_000,
        };
        create_tenant(db, new).await.expect("tenant").0.id
    }

    async fn tickets_of(db: &DatabaseConnection, tenant_id: Uuid) -> u64 {
        tickets::Entity::find()
            .filter(tickets::Column::TenantId.eq(tenant_id))
            .count(db)
            .await
            .expect("count")
    }

    async fn ledger_of(db: &DatabaseConnection, tenant_id: Uuid) -> (u64, i64) {
        let entries = ledger_entries::Entity::find()
            .filter(ledger_entries::Column::TenantId.eq(tenant_id))
            .count(db)
            .await
            .expect("entries");
        let balance = tenants::Entity::find_by_id(tenant_id)
            .one(db)
            .await
            .expect("tenant")
            .expect("a tenant")
            .balance_cents;
        (entries, balance)
    }

    /// Three tenants' batches in one round, the middle one failing after it wrote: the
    /// other two commit, and nothing of the failed one (fees, tickets) remains.
    #[tokio::test]
    async fn a_failed_batch_in_a_round_is_rolled_back_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
        let db = crate::db::connect(&url, None).await.expect("connect");
        crate::db::migrate(&db).await.expect("migrate");
        let map = std::collections::HashMap::from([("DATABASE_URL", url.clone())]);
        let config = Config::from_lookup(|k| map.get(k).cloned()).expect("config");
        assert!(
            config.ticket_fee_cents > 0,
            "the fee is part of what rolls back"
        );
        db.execute_unprepared(&format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.body = '{REFUSED}' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ))
        .await
        .expect("trigger");
        let (a, b, c) = (
            tenant(&db, "Tenant A").await,
            tenant(&db, "Tenant B").await,
            tenant(&db, "Tenant C").await,
        );
        let b_before = ledger_of(&db, b).await;

        let mut answers = Vec::new();
        let round = [
            (a, "Every call drops"),
            (b, REFUSED),
            (c, "Calls drop at noon"),
        ]
        .into_iter()
        .map(|(tenant_id, description)| {
            let (answer, answered) = oneshot::channel();
            answers.push(answered);
            Submission {
                tenant_id,
                batch: vec![ticket("The first call dropped"), ticket(description)],
                answer,
            }
        })
        .collect();
        let feed = FeedWake::default();
        write_round(&db, &config, &feed, round).await;
        let answers: Vec<BatchResult> = futures_util::future::join_all(answers)
            .await
            .into_iter()
            .map(|a| a.expect("answered"))
            .collect();

        for (tenant_id, answer) in [(a, &answers[0]), (c, &answers[2])] {
            let created = answer.as_ref().expect("committed");
            assert!(created.iter().all(Result::is_ok), "both tickets open");
            assert_eq!(tickets_of(&db, tenant_id).await, 2);
        }
        assert!(answers[1].is_err(), "the failed tenant's batch fails");
        assert_eq!(tickets_of(&db, b).await, 0, "none of its tickets remain");
        assert_eq!(ledger_of(&db, b).await, b_before, "nor its fees");
        tokio::time::timeout(std::time::Duration::from_secs(1), feed.notified())
            .await
            .expect("the commit woke the feed's reader");
    }
}
