//! Background jobs (apalis): email, webhook, billing, privacy and SLA queues, the outbox that
//! feeds them, and the pieces they share (signing, SSRF checks).
pub mod batch;
pub mod billing;
pub mod deps;
pub mod email;
pub mod jobs;
pub mod lease;
pub mod outbox;
pub mod poll;
pub mod privacy;
pub mod recovery;
pub mod signing;
pub mod sla;
pub mod sqlite_queue;
pub mod ssrf;
pub mod transport;
pub mod webhook;
