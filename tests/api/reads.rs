//! The read pool (`db::ReadPool`): connections go back without a round trip only when their
//! statement ran to its end.
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

fn statement(backend: DatabaseBackend, sql: &str) -> Statement {
    Statement::from_string(backend, sql)
}

/// A statement that takes well over the test's patience on either database.
fn slow(backend: DatabaseBackend) -> Statement {
    statement(
        backend,
        match backend {
            DatabaseBackend::Postgres => "SELECT pg_sleep(5)",
            _ => {
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000000) \
                 SELECT count(*) FROM n"
            }
        },
    )
}

async fn read_connections_are_reused_and_closed_when_a_read_is_cut_short(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reads = &app.state.reads;
    let kind = reads.get_database_backend();
    // Requests of the app's own start-up may have used it: begin from an empty pool.
    reads.close_idle(Duration::ZERO);
    assert_eq!(reads.usage(), (0, 0));

    for _ in 0..5 {
        let row = reads
            .query_one_raw(statement(kind, "SELECT 1"))
            .await
            .expect("read")
            .expect("a row");
        assert_eq!(row.try_get_by_index::<i32>(0).expect("int"), 1);
    }
    assert_eq!(reads.usage(), (1, 1), "one connection, reused");

    // The database refusing the statement leaves the connection usable, so it stays.
    let refused = reads
        .query_all_raw(statement(kind, "SELECT * FROM no_such_table"))
        .await;
    assert!(refused.is_err());
    assert_eq!(reads.usage(), (1, 1));

    // A read dropped midway may leave its answer on the wire: that connection is closed.
    let cut =
        tokio::time::timeout(Duration::from_millis(50), reads.query_one_raw(slow(kind))).await;
    assert!(cut.is_err(), "the slow read was cut short");
    assert_eq!(reads.usage(), (0, 0));

    let rows = reads
        .query_all_raw(statement(kind, "SELECT 2 UNION ALL SELECT 3"))
        .await
        .expect("read after the cut");
    assert_eq!(rows.len(), 2);
    assert_eq!(reads.usage(), (1, 1));

    // Idle connections are closed once old enough (housekeeping does this every 10 s).
    reads.close_idle(Duration::from_secs(60));
    assert_eq!(reads.usage(), (1, 1));
    reads.close_idle(Duration::ZERO);
    assert_eq!(reads.usage(), (0, 0));
}

on_both_backends!(read_connections_are_reused_and_closed_when_a_read_is_cut_short);

/// The PostgreSQL session behind the read pool's next connection.
async fn backend_pid(reads: &helpline::db::ReadPool) -> Result<i32, sea_orm::DbErr> {
    let row = reads
        .query_one_raw(statement(
            DatabaseBackend::Postgres,
            "SELECT pg_backend_pid()",
        ))
        .await?
        .expect("a row");
    Ok(row.try_get_by_index::<i32>(0).expect("pid"))
}

/// Ends a PostgreSQL session from outside, as an administrator or a failover would.
async fn end_session(app: &TestApp, pid: i32) {
    let terminate = format!("SELECT pg_terminate_backend({pid})");
    app.state
        .db
        .execute_unprepared(&terminate)
        .await
        .expect("terminate");
    let gone = format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}");
    crate::support::eventually("the session to end", Duration::from_secs(10), || async {
        let row = app
            .state
            .db
            .query_one_raw(statement(DatabaseBackend::Postgres, &gone))
            .await
            .ok()
            .flatten()?;
        (row.try_get_by_index::<i64>(0).ok()? == 0).then_some(())
    })
    .await;
}

/// A pooled read connection whose session PostgreSQL ended fails its next statement with a
/// retryable error and is closed; the read after it opens a new one.
#[actix_web::test]
async fn a_read_connection_postgres_ended_is_replaced() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let reads = &app.state.reads;
    let first = backend_pid(reads).await.expect("read");
    end_session(&app, first).await;

    let failed = backend_pid(reads)
        .await
        .expect_err("the ended session fails its statement");
    assert!(helpline::db::is_connection_error(&failed), "{failed}");
    assert_eq!(reads.usage(), (0, 0), "the broken connection is not kept");

    let second = backend_pid(reads).await.expect("read on a new connection");
    assert_ne!(first, second);
}

/// A connection idle past `PING_IF_IDLE_FOR` is tested before use: one whose session ended
/// fails the test, is dropped and no longer counted, and the read runs on a new connection.
#[actix_web::test]
async fn an_idle_read_connection_that_fails_its_ping_is_replaced() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let reads = &app.state.reads;
    reads.close_idle(Duration::ZERO);
    let first = backend_pid(reads).await.expect("read");
    assert_eq!(reads.usage(), (1, 1));
    end_session(&app, first).await;
    tokio::time::sleep(helpline::db::PING_IF_IDLE_FOR + Duration::from_millis(100)).await;

    let second = backend_pid(reads)
        .await
        .expect("the failed ping is not the read's error");
    assert_ne!(first, second);
    assert_eq!(reads.usage(), (1, 1), "one connection counted: the new one");
}

/// An in-memory SQLite database belongs to its connection, so its reads share the main pool
/// and see what it wrote.
#[actix_web::test]
async fn in_memory_sqlite_reads_share_the_main_pool() {
    let main = helpline::db::connect("sqlite::memory:", Some(1))
        .await
        .expect("connect");
    let reads = helpline::db::ReadPool::new("sqlite::memory:", 4, &main).expect("read pool");
    main.execute_unprepared("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)")
        .await
        .expect("write");
    let row = reads
        .query_one_raw(statement(DatabaseBackend::Sqlite, "SELECT x FROM t"))
        .await
        .expect("read")
        .expect("a row");
    assert_eq!(row.try_get_by_index::<i32>(0).expect("int"), 7);
}
