//! Database schema for Helpline, applied at start (unless `--no-migrate`) and by `helpline migrate`.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_foundation;
mod m20261123_000002_tickets;
mod m20261123_000003_notifications;
mod m20261123_000004_jobs;
mod m20261123_000005_numbers;
mod m20261201_000006_leases;
mod m20261201_000007_feed;
mod m20261201_000008_idempotency_owner;
mod m20261201_000009_workflow;
mod m20261201_000010_scale;
mod m20261201_000011_sla_bots;
mod m20261201_000012_web_sessions;
mod m20261201_000013_portal;
mod m20261201_000014_idempotency_usage;
mod m20261202_000015_search_postings;
mod m20261202_000017_sqlite_words;
mod m20261202_000018_quiet_triggers;
mod m20261202_000019_search_rows_untenanted;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261123_000002_tickets::Migration),
            Box::new(m20261123_000003_notifications::Migration),
            Box::new(m20261123_000004_jobs::Migration),
            Box::new(m20261123_000005_numbers::Migration),
            Box::new(m20261201_000006_leases::Migration),
            Box::new(m20261201_000007_feed::Migration),
            Box::new(m20261201_000008_idempotency_owner::Migration),
            Box::new(m20261201_000009_workflow::Migration),
            Box::new(m20261201_000010_scale::Migration),
            Box::new(m20261201_000011_sla_bots::Migration),
            Box::new(m20261201_000012_web_sessions::Migration),
            Box::new(m20261201_000013_portal::Migration),
            Box::new(m20261201_000014_idempotency_usage::Migration),
            Box::new(m20261202_000015_search_postings::Migration),
            Box::new(m20261202_000018_quiet_triggers::Migration),
            Box::new(m20261202_000017_sqlite_words::Migration),
            Box::new(m20261202_000019_search_rows_untenanted::Migration),
        ]
    }
}
