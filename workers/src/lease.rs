//! Leases that know their owner. Every process (`serve`, `api`, `worker`) registers itself
//! in `worker_instances` and heartbeats there; every claim it makes (an email or webhook
//! attempt, an outbox relay pass, an idempotency claim) records its id in `lease_owner`.
//!
//! An instance is dead when its heartbeat is older than `DEAD_AFTER`, or at once when it ran
//! on this machine and its process is gone (the pid no longer runs, or runs a later process).
//! The leases of a dead instance are taken back immediately: pending emails and deliveries it
//! held are queued again, its outbox claims released, its idempotency claims forgotten. A
//! restarted process therefore recovers its predecessor's work as it starts, and another node
//! recovers a killed node's work within `DEAD_AFTER + HEARTBEAT_EVERY` of its last heartbeat.
//!
//! A live instance renews the time bound of its job leases on every heartbeat, so a slow
//! job is never taken over (and run twice at once) while its process lives.
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::values::{DeliveryStatus, IdempotencyState, WorkerKind};
use entities::{
    emails, idempotency_keys as keys, outbox as outbox_rows, webhook_deliveries as deliveries,
    worker_instances as instances,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, TransactionTrait,
};
use tokio::sync::watch;
use uuid::Uuid;

use crate::jobs::{EmailJob, Job, WebhookJob};
use crate::outbox;

/// How often an instance heartbeats, renews its leases and looks for dead instances.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// An instance whose heartbeat is this old is dead (five missed heartbeats).
pub const DEAD_AFTER: Duration = Duration::from_secs(10);
/// The time bound of a job lease. Its owner renews it while alive; it only matters when the
/// owner is unknown (a claim made by a process that never registered).
pub const LEASE_FOR: chrono::Duration = chrono::Duration::seconds(60);

static REGISTERED: OnceLock<Uuid> = OnceLock::new();

/// The id this process registered under, once it has (`None` in a process that runs no
/// heartbeat, such as an in-process test app: its claims fall back to time leases).
pub fn owner() -> Option<Uuid> {
    REGISTERED.get().copied()
}

/// What lets another process on the same machine tell whether this one still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    host: Option<String>,
    pid: i64,
    started: Option<i64>,
}

impl Identity {
    /// `host` replaces the default, the kernel's boot id and this process's pid namespace:
    /// exactly the processes whose pids we see (see `Instance::start`).
    fn of_this_process(host: Option<String>) -> Self {
        let pid = i64::from(std::process::id());
        let host = host.or_else(|| {
            let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
            let pids = std::fs::read_link("/proc/self/ns/pid").ok()?;
            Some(format!("{}/{}", boot.trim(), pids.display()))
        });
        Self {
            host,
            pid,
            started: process_started(pid),
        }
    }
}

/// The start time (clock ticks after boot) of process `pid`, if it runs.
fn process_started(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_started(&stat)
}

/// Field 22 of `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may
/// hold spaces and parentheses itself, so fields are counted after the last `)`.
fn parse_started(stat: &str) -> Option<i64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `instance` is dead as seen from `me` at `now`.
fn is_dead(
    instance: &instances::Model,
    me: &Identity,
    me_id: Uuid,
    now: DateTime<Utc>,
    alive: impl Fn(i64, i64) -> bool,
) -> bool {
    if instance.id == me_id {
        return false;
    }
    let silent_for = now - instance.heartbeat_at;
    if silent_for > chrono::Duration::from_std(DEAD_AFTER).unwrap_or(chrono::Duration::MAX) {
        return true;
    }
    match (
        &instance.host,
        &me.host,
        instance.pid,
        instance.process_started,
    ) {
        (Some(theirs), Some(mine), Some(pid), Some(started)) if theirs == mine => {
            !alive(pid, started)
        }
        _ => false,
    }
}

fn runs(pid: i64, started: i64) -> bool {
    process_started(pid) == Some(started)
}

/// What one recovery took back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reclaimed {
    pub instances: usize,
    /// Email and webhook jobs queued again.
    pub jobs: usize,
    pub outbox_rows: u64,
    pub idempotency_claims: u64,
}

/// This process's registration; heartbeats until `stop`.
pub struct Instance {
    id: Uuid,
    db: DatabaseConnection,
    stop: watch::Sender<bool>,
    beating: tokio::task::JoinHandle<()>,
}

impl Instance {
    /// Registers this process, takes back at once the leases of every dead instance
    /// (before any worker of this process starts), then heartbeats on a task of its own.
    /// `host` names the machine instead of its boot id and pid namespace: processes with the
    /// same one must see each other's pids (one container, or one host without containers).
    pub async fn start(
        db: DatabaseConnection,
        kind: WorkerKind,
        host: Option<String>,
    ) -> Result<Self, DbErr> {
        let id = *REGISTERED.get_or_init(Uuid::now_v7);
        let me = Identity::of_this_process(host);
        register(&db, id, kind, &me, Utc::now()).await?;
        // Without a way to see other processes, the embedded database still allows one
        // conclusion: it has one process at a time, so whatever held a lease before is gone.
        let everyone_else =
            me.host.is_none() && db.get_database_backend() == DatabaseBackend::Sqlite;
        let taken = recover(&db, id, &me, Utc::now(), everyone_else).await?;
        log(taken);
        let (stop, mut stopped) = watch::channel(false);
        let beating = tokio::spawn({
            let db = db.clone();
            async move {
                let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = stopped.wait_for(|s| *s) => return,
                        _ = tick.tick() => {}
                    }
                    if let Err(e) = beat(&db, id, kind, &me, Utc::now()).await {
                        tracing::warn!(error = %e, "instance heartbeat failed");
                        continue;
                    }
                    match recover(&db, id, &me, Utc::now(), false).await {
                        Ok(taken) => log(taken),
                        Err(e) => tracing::warn!(error = %e, "recovering dead instances failed"),
                    }
                }
            }
        });
        Ok(Self {
            id,
            db,
            stop,
            beating,
        })
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Stops heartbeating, hands back whatever this process still holds (its jobs have
    /// finished or been abandoned) and removes its registration.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.beating.await;
        let released = async {
            let taken = take_back(&self.db, &[self.id], Utc::now()).await?;
            instances::Entity::delete_by_id(self.id)
                .exec(&self.db)
                .await?;
            Ok::<_, DbErr>(taken)
        };
        match released.await {
            Ok(taken) if taken.jobs > 0 || taken.outbox_rows > 0 => {
                tracing::info!(
                    jobs = taken.jobs,
                    outbox_rows = taken.outbox_rows,
                    "handed back unfinished work"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not deregister this instance"),
        }
    }
}

fn log(taken: Reclaimed) {
    if taken.instances > 0 {
        tracing::warn!(
            instances = taken.instances,
            jobs = taken.jobs,
            outbox_rows = taken.outbox_rows,
            idempotency_claims = taken.idempotency_claims,
            "took back the leases of dead instances"
        );
    }
}

async fn register(
    db: &DatabaseConnection,
    id: Uuid,
    kind: WorkerKind,
    me: &Identity,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    instances::Entity::insert(instances::ActiveModel {
        id: Set(id),
        kind: Set(kind),
        host: Set(me.host.clone()),
        pid: Set(Some(me.pid)),
        process_started: Set(me.started),
        started_at: Set(now),
        heartbeat_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Records that this instance lives and renews the time bound of the job leases it holds.
async fn beat(
    db: &DatabaseConnection,
    id: Uuid,
    kind: WorkerKind,
    me: &Identity,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let beat = instances::Entity::update_many()
        .col_expr(instances::Column::HeartbeatAt, Expr::value(now))
        .filter(instances::Column::Id.eq(id))
        .exec(db)
        .await?;
    if beat.rows_affected == 0 {
        // Another node found us silent for too long (a stall, a lost database) and took our
        // leases back; whatever we still run may now also run there.
        tracing::error!(
            "this instance was declared dead and its leases were taken over; registering again"
        );
        register(db, id, kind, me, now).await?;
    }
    emails::Entity::update_many()
        .col_expr(emails::Column::InFlightUntil, Expr::value(now + LEASE_FOR))
        .filter(emails::Column::LeaseOwner.eq(id))
        .filter(emails::Column::InFlightUntil.is_not_null())
        .filter(emails::Column::Status.eq(DeliveryStatus::Pending))
        .exec(db)
        .await?;
    deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::InFlightUntil,
            Expr::value(now + LEASE_FOR),
        )
        .filter(deliveries::Column::LeaseOwner.eq(id))
        .filter(deliveries::Column::InFlightUntil.is_not_null())
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// Finds the dead instances (with `everyone_else`: every other one) and takes their leases.
async fn recover(
    db: &DatabaseConnection,
    me_id: Uuid,
    me: &Identity,
    now: DateTime<Utc>,
    everyone_else: bool,
) -> Result<Reclaimed, DbErr> {
    let dead: Vec<instances::Model> = instances::Entity::find()
        .filter(instances::Column::Id.ne(me_id))
        .all(db)
        .await?
        .into_iter()
        .filter(|instance| everyone_else || is_dead(instance, me, me_id, now, runs))
        .collect();
    let Some(last_heard) = dead.iter().map(|instance| instance.heartbeat_at).max() else {
        return Ok(Reclaimed::default());
    };
    let ids: Vec<Uuid> = dead.iter().map(|instance| instance.id).collect();
    let mut taken = take_back(db, &ids, now).await?;
    // The dead process may also have fetched tasks it never started (they sit in its part
    // of the queue backend, and claimed nothing): work that was due before it died and is
    // still pending and unclaimed is queued again. Work due later was queued for the living.
    let died_by = if everyone_else {
        now
    } else {
        (last_heard + chrono::Duration::from_std(HEARTBEAT_EVERY).unwrap_or_default()).min(now)
    };
    taken.jobs += crate::recovery::sweep(db, now - died_by, now).await?;
    instances::Entity::delete_many()
        .filter(instances::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    taken.instances = ids.len();
    Ok(taken)
}

/// Takes back every lease held by `owners`. Each statement is conditional on the owner, so
/// when several nodes recover the same dead instance each row is taken (and its job queued
/// again) by one of them.
pub async fn take_back(
    db: &DatabaseConnection,
    owners: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Reclaimed, DbErr> {
    let none = Option::<DateTime<Utc>>::None;
    let nobody = Option::<Uuid>::None;
    let txn = db.begin().await?;
    let emails = emails::Entity::update_many()
        .col_expr(emails::Column::InFlightUntil, Expr::value(none))
        .col_expr(emails::Column::LeaseOwner, Expr::value(nobody))
        .col_expr(emails::Column::NextAttemptAt, Expr::value(now))
        .filter(emails::Column::LeaseOwner.is_in(owners.iter().copied()))
        .filter(emails::Column::InFlightUntil.is_not_null())
        .filter(emails::Column::Status.eq(DeliveryStatus::Pending))
        .exec_with_returning(&txn)
        .await?;
    let deliveries = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::InFlightUntil, Expr::value(none))
        .col_expr(deliveries::Column::LeaseOwner, Expr::value(nobody))
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(now))
        .filter(deliveries::Column::LeaseOwner.is_in(owners.iter().copied()))
        .filter(deliveries::Column::InFlightUntil.is_not_null())
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending))
        .exec_with_returning(&txn)
        .await?;
    let jobs: Vec<(Job, DateTime<Utc>)> = emails
        .iter()
        .map(|e| (Job::Email(EmailJob { email_id: e.id }), now))
        .chain(
            deliveries
                .iter()
                .map(|d| (Job::Webhook(WebhookJob { delivery_id: d.id }), now)),
        )
        .collect();
    let queued = jobs.len();
    outbox::enqueue_many(&txn, jobs, now).await?;
    let outbox_rows = outbox_rows::Entity::update_many()
        .col_expr(outbox_rows::Column::ClaimedUntil, Expr::value(none))
        .col_expr(outbox_rows::Column::ClaimToken, Expr::value(nobody))
        .col_expr(outbox_rows::Column::LeaseOwner, Expr::value(nobody))
        .filter(outbox_rows::Column::LeaseOwner.is_in(owners.iter().copied()))
        .filter(outbox_rows::Column::SentAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    let idempotency_claims = forget_claims(&txn, owners).await?;
    txn.commit().await?;
    Ok(Reclaimed {
        instances: 0,
        jobs: queued,
        outbox_rows,
        idempotency_claims,
    })
}

/// The requests that were running in a dead process never answered: their keys are free
/// for the client's retry.
async fn forget_claims<C: ConnectionTrait>(conn: &C, owners: &[Uuid]) -> Result<u64, DbErr> {
    Ok(keys::Entity::delete_many()
        .filter(keys::Column::LeaseOwner.is_in(owners.iter().copied()))
        .filter(keys::Column::State.eq(IdempotencyState::InProgress))
        .exec(conn)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: Uuid, heartbeat_at: DateTime<Utc>, host: &str, pid: i64) -> instances::Model {
        instances::Model {
            id,
            kind: WorkerKind::Serve,
            host: Some(host.into()),
            pid: Some(pid),
            process_started: Some(100),
            started_at: heartbeat_at,
            heartbeat_at,
        }
    }

    #[test]
    fn the_start_time_is_read_after_the_command_name() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 9 0 \
                    123456 1000 50";
        assert_eq!(parse_started(stat), Some(123_456));
        assert_eq!(parse_started("garbage"), None);
        let own = Identity::of_this_process(None);
        if own.host.is_some() {
            assert!(own.started.is_some(), "{own:?}");
            assert!(runs(own.pid, own.started.unwrap_or_default()));
        }
    }

    #[test]
    fn silent_instances_and_gone_local_processes_are_dead_others_live() {
        let now = Utc::now();
        let me_id = Uuid::now_v7();
        let me = Identity {
            host: Some("box/boot".into()),
            pid: 1,
            started: Some(1),
        };
        let fresh = now - chrono::Duration::seconds(1);
        let stale =
            now - chrono::Duration::from_std(DEAD_AFTER).unwrap() - chrono::Duration::seconds(1);
        let other = Uuid::now_v7();
        // (heartbeat, host, does its pid still run, dead?)
        let cases = [
            // Elsewhere, heard from recently: alive whatever our process table says.
            (fresh, "other/boot", false, false),
            // Elsewhere and silent: dead.
            (stale, "other/boot", true, true),
            // On this machine: its process decides at once.
            (fresh, "box/boot", false, true),
            (fresh, "box/boot", true, false),
        ];
        for (heartbeat, host, runs, dead) in cases {
            let them = instance(other, heartbeat, host, 7);
            assert_eq!(
                is_dead(&them, &me, me_id, now, |_, _| runs),
                dead,
                "{host}, heartbeat {heartbeat}, running {runs}"
            );
        }
        // Never ourselves.
        let us = instance(me_id, stale, "box/boot", 1);
        assert!(!is_dead(&us, &me, me_id, now, |_, _| false));
    }
}
