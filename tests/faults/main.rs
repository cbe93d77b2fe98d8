//! Fault tests: the promises of docs/API.md §10 and §11 (and issues 5 and 10) proven against the
//! real `helpline` binary run as child processes, killed, starved of Redis or PostgreSQL,
//! run as several nodes and stopped with SIGTERM; plus hostile input, over HTTP and as
//! property tests of every parser of untrusted input. See `docs/RELIABILITY.md`.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (as `bash .ci/run` starts
//! them), and `psql`, `redis-server`, `initdb` and `pg_ctl` installed. Each test uses its own
//! database (`helpline_fault_<uuid>`), Redis key prefix, ports and temp dir, and kills what
//! it started when it ends, passes or fails.
mod crash;
mod feed;
mod harness;
mod hostile;
mod leases;
mod nodes;
mod pg_restart;
mod props;
mod receiver;
mod redis_outage;
mod shutdown;
#[path = "../api/sse.rs"]
mod sse;
#[path = "../support/mod.rs"]
mod support;
mod worker_nodes;
