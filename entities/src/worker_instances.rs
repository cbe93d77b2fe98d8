use sea_orm::entity::prelude::*;

use crate::values::WorkerKind;

/// A running process that may hold leases; it heartbeats while alive.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "worker_instances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: WorkerKind,
    /// Boot id and pid namespace (or `HELPLINE_HOST_ID`): processes with the same one see
    /// each other's pids.
    pub host: Option<String>,
    pub pid: Option<i64>,
    /// The process's start time in clock ticks after boot, so a reused pid is not mistaken
    /// for the process.
    pub process_started: Option<i64>,
    pub started_at: DateTimeUtc,
    pub heartbeat_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
