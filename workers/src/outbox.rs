//! The outbox: a job is first a row written in the same transaction as the change that
//! causes it, so nothing is lost when the queue is down. The relay claims due rows, pushes
//! them to the queue and marks them sent. Retries are scheduled the same way, with a later
//! `available_at`. A row may be pushed twice (a crash between push and mark); every job is
//! idempotent, so that has no second effect.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::outbox;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, ExprTrait, QueryFilter, QueryOrder,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::jobs::{Job, Queue};
use crate::transport::Transport;

/// How many rows one relay pass moves.
const BATCH: u64 = 500;
/// How long a claim lasts before another relay may take the rows over.
const CLAIM_FOR: chrono::Duration = chrono::Duration::seconds(30);

/// Records `job` to run at `available_at`, inside the caller's transaction.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    job: Job,
    available_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    enqueue_many(conn, [(job, available_at)], now).await
}

/// Records several jobs in one statement, inside the caller's transaction.
pub async fn enqueue_many<C: ConnectionTrait>(
    conn: &C,
    jobs: impl IntoIterator<Item = (Job, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let rows: Vec<outbox::ActiveModel> = jobs
        .into_iter()
        .map(|(job, available_at)| outbox::ActiveModel {
            id: Set(Uuid::now_v7()),
            queue: Set(job.queue().as_str().to_string()),
            payload: Set(job.payload()),
            available_at: Set(available_at),
            claim_token: Set(None),
            claimed_until: Set(None),
            lease_owner: Set(None),
            sent_at: Set(None),
            created_at: Set(now),
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    outbox::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Wakes the relay right after a commit, so a job does not wait for the next sweep.
#[derive(Clone, Default)]
pub struct Nudge(Arc<Notify>);

impl Nudge {
    pub fn nudge(&self) {
        self.0.notify_one();
    }

    async fn wait(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.0.notified()).await;
    }
}

pub struct Relay {
    pub db: DatabaseConnection,
    pub transport: Transport,
    pub nudge: Nudge,
    pub sweep_every: Duration,
    /// Work overdue by this much is queued again (see `recovery`).
    pub recovery_grace: chrono::Duration,
}

/// How often the relay looks for overdue work.
const RECOVERY_EVERY: Duration = Duration::from_secs(5);

impl Relay {
    /// Runs until `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut last_recovery = tokio::time::Instant::now();
        let mut failing = false;
        loop {
            if last_recovery.elapsed() >= RECOVERY_EVERY {
                last_recovery = tokio::time::Instant::now();
                match crate::recovery::sweep(&self.db, self.recovery_grace, Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(requeued = n, "recovered overdue jobs"),
                    Err(e) => tracing::warn!(error = %e, "recovery sweep failed"),
                }
            }
            let moved = match self.pass(Utc::now()).await {
                Ok(n) => {
                    if failing {
                        failing = false;
                        tracing::info!("outbox relay recovered; queued jobs are flowing again");
                    }
                    n
                }
                Err(e) => {
                    if !failing {
                        failing = true;
                        tracing::warn!(error = %e, "outbox relay cannot reach the queue; jobs wait in the outbox");
                    }
                    0
                }
            };
            if moved as u64 >= BATCH {
                continue;
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = self.nudge.wait(self.sweep_every) => {}
            }
        }
    }

    /// Moves due rows into the queue; returns how many were sent.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<usize, RelayError> {
        let token = Uuid::now_v7();
        let free = || {
            Condition::any()
                .add(outbox::Column::ClaimedUntil.is_null())
                .add(outbox::Column::ClaimedUntil.lt(now))
        };
        let due = Query::select()
            .column(outbox::Column::Id)
            .from(outbox::Entity)
            .and_where(outbox::Column::SentAt.is_null())
            .and_where(outbox::Column::AvailableAt.lte(now))
            .cond_where(free())
            .order_by(outbox::Column::Id, sea_orm::Order::Asc)
            .limit(BATCH)
            .to_owned();
        // The outer conditions are checked again under the row lock, so two relays never
        // both claim a row.
        let mut rows = outbox::Entity::update_many()
            .col_expr(outbox::Column::ClaimToken, Expr::value(token))
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(now + CLAIM_FOR))
            .col_expr(
                outbox::Column::LeaseOwner,
                Expr::value(crate::lease::owner()),
            )
            .filter(outbox::Column::Id.in_subquery(due))
            .filter(outbox::Column::SentAt.is_null())
            .filter(free())
            .exec_with_returning(&self.db)
            .await?;
        rows.sort_by_key(|row| row.id);
        let mut sent = Vec::with_capacity(rows.len());
        let mut by_queue: HashMap<Queue, (Vec<Uuid>, Vec<Job>)> = HashMap::new();
        for row in rows {
            match Job::from_parts(&row.queue, row.payload) {
                Some(job) => {
                    let (ids, jobs) = by_queue.entry(job.queue()).or_default();
                    ids.push(row.id);
                    jobs.push(job);
                }
                None => {
                    tracing::error!(id = %row.id, queue = %row.queue, "unreadable outbox row; marking it sent");
                    sent.push(row.id);
                }
            }
        }
        let claimed = sent.len() + by_queue.values().map(|(ids, _)| ids.len()).sum::<usize>();
        let mut failure = None;
        for queue in Queue::ALL {
            let Some((mut ids, mut jobs)) = by_queue.remove(&queue) else {
                continue;
            };
            let pushed = match self.transport.room(queue).await {
                Ok(room) => {
                    let room = room.unwrap_or(usize::MAX);
                    ids.truncate(room);
                    jobs.truncate(room);
                    if jobs.is_empty() {
                        Ok(())
                    } else {
                        self.transport.push_all(jobs).await
                    }
                }
                Err(e) => Err(e),
            };
            match pushed {
                Ok(()) => sent.extend(ids),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let count = sent.len();
        if !sent.is_empty() {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::SentAt, Expr::value(Utc::now()))
                .filter(outbox::Column::Id.is_in(sent))
                .exec(&self.db)
                .await?;
        }
        if count < claimed {
            // Rows not sent (a full queue, or the queue is down) keep their claim until it
            // lapses; release it so the next pass retries them at once.
            outbox::Entity::update_many()
                .col_expr(
                    outbox::Column::ClaimedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(outbox::Column::ClaimToken.eq(token))
                .filter(outbox::Column::SentAt.is_null())
                .exec(&self.db)
                .await?;
        }
        if let Some(e) = failure {
            return Err(RelayError::Queue(e));
        }
        Ok(count)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("queue: {0}")]
    Queue(String),
}

/// Age of the oldest unsent due row, for the outbox-lag metric.
pub async fn oldest_unsent_age(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Option<chrono::Duration>, DbErr> {
    let oldest = outbox::Entity::find()
        .filter(outbox::Column::SentAt.is_null())
        .filter(outbox::Column::AvailableAt.lte(now))
        .order_by_asc(outbox::Column::AvailableAt)
        .one(db)
        .await?;
    Ok(oldest.map(|row| now - row.available_at))
}

/// Deletes rows sent more than `keep` ago.
pub async fn purge_sent(db: &DatabaseConnection, keep: chrono::Duration) -> Result<u64, DbErr> {
    Ok(outbox::Entity::delete_many()
        .filter(outbox::Column::SentAt.lt(Utc::now() - keep))
        .exec(db)
        .await?
        .rows_affected)
}

#[allow(unused_imports)]
use ExprTrait as _;
