//! Connecting to the database (SQLite or PostgreSQL, chosen by the URL) and migrating it.
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr};

mod reads;
pub use reads::{IDLE_LIFETIME as READ_IDLE_LIFETIME, ReadPool};

pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The file behind a `sqlite://path?…` URL, when it names one.
fn sqlite_file(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

/// Creates the directory of a `sqlite://path` URL's file, if it names one.
pub fn ensure_sqlite_dir(url: &str) -> std::io::Result<()> {
    if let Some(dir) = sqlite_file(url).and_then(|f| std::path::Path::new(f).parent())
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    Ok(())
}

/// A pooled connection is pinged before use only when it sat idle this long. sqlx's
/// default pings on every acquire — one more round trip per statement, on top of the ping
/// it always sends when a connection goes back to the pool — so a read of two statements
/// cost six round trips instead of four (docs/PERFORMANCE.md, issue 15). A connection in
/// steady use was just proven by that release ping; one that broke since fails its
/// statement (a retryable `503`) and is dropped when it goes back. On SQLite the pool is
/// in-process and the idle ping is not applied at all.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// How long a statement waits for a free pooled connection, and how long opening one may take.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of a SQLite file each connection maps into memory (SQLite caps it at its
/// compile-time maximum, 2 GB by default). Reads of mapped pages are memory reads instead of
/// a `read` system call each, which dominated a search's random reads at a million tickets
/// (docs/PERFORMANCE.md, "SQLite at 1,000,000 tickets"). Writes still go through the WAL.
const SQLITE_MMAP_SIZE: u64 = 2 << 30;

/// Opens a pool. SQLite files (and their directory) are created on first start and run in
/// WAL mode with foreign keys on, memory-mapped; a busy timeout absorbs short write
/// contention.
pub async fn connect(url: &str, pool_size: Option<u32>) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    if is_sqlite(url) {
        ensure_sqlite_dir(url)
            .map_err(|e| DbErr::Custom(format!("cannot create the database directory: {e}")))?;
        opts.max_connections(pool_size.unwrap_or(8))
            .min_connections(1);
        opts.map_sqlx_sqlite_opts(sqlite_options);
    } else {
        opts.max_connections(pool_size.unwrap_or(32))
            .min_connections(1);
        if !url.contains(PLAN_CACHE_MODE) {
            opts.map_sqlx_postgres_pool_opts(|pool| {
                pool.after_connect(|conn, _| {
                    Box::pin(async move {
                        use sea_orm::sqlx::Executor;
                        conn.execute(GENERIC_PLANS).await.map(|_| ())
                    })
                })
            });
        }
    }
    Database::connect(opts).await
}

/// How every SQLite connection of a node is opened (both pools).
fn sqlite_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .pragma("mmap_size", SQLITE_MMAP_SIZE.to_string())
}

/// How many connections a node's [`ReadPool`] may open: half the main pool's, which is
/// `HELPLINE_DB_POOL_SIZE` or its default (32 on PostgreSQL, 8 on SQLite).
pub fn read_pool_size(url: &str, pool_size: Option<u32>) -> u32 {
    let main = pool_size.unwrap_or(if is_sqlite(url) { 8 } else { 32 });
    (main / 2).max(1)
}

/// The PostgreSQL setting [`GENERIC_PLANS`] sets; a `DATABASE_URL` that names it (in its
/// `options`) keeps its own choice.
const PLAN_CACHE_MODE: &str = "plan_cache_mode";

/// Every prepared statement runs its generic plan instead of being planned again for
/// each execution's values. Under the default (`auto`), a list of the biggest tenant at a
/// million tickets was planned on every call: the plan for its values (a backward scan of
/// the primary key, the tenant a fifth of the table) looks cheaper than the generic one
/// (the `(tenant_id, id)` index, costed for an unknown `LIMIT`), so PostgreSQL never
/// settled, and the planning doubled the database's CPU per list (docs/PERFORMANCE.md,
/// issue 15, session 14). The statements here are keyed reads and writes on indexes that
/// serve any value, so a plan made for one value fits the others. Set after connecting
/// rather than as a startup option, which connection poolers such as PgBouncer refuse by
/// default.
const GENERIC_PLANS: &str = "SET plan_cache_mode = force_generic_plan";

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// The connection pool's size and how many of its connections are idle.
pub fn pool_usage(db: &DatabaseConnection) -> (u32, usize) {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    }
}

/// Begins a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`), so a read-then-write transaction waits for other writers instead of
/// failing with `SQLITE_BUSY` when it upgrades; PostgreSQL ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// What both databases keep of a timestamp (microseconds), so a row built in memory and
/// returned to the client equals the row read back later.
pub fn as_stored(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// A lost or refused database connection is a 503 the client may retry, not a 500.
pub fn is_connection_error(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        // A pooled connection that broke while idle (it is not pinged before each use, see
        // [`PING_IF_IDLE_FOR`]): the socket is gone, or the server ended the session
        // (SQLSTATE class 08, connection exception; 57P, e.g. `57P01` admin shutdown).
        DbErr::Query(RuntimeErr::SqlxError(err)) | DbErr::Exec(RuntimeErr::SqlxError(err))
            if lost_connection(err) =>
        {
            true
        }
        other => {
            let text = other.to_string();
            text.contains("Connection refused")
                || text.contains("database is locked")
                || text.contains("connection closed")
                || text.contains("pool timed out")
                || text.contains("broken pipe")
        }
    }
}

/// The error says the connection is gone or the server ended its session.
fn lost_connection(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_) | Error::PoolClosed | Error::PoolTimedOut => true,
        Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// True when the error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_retryable() {
        use std::sync::Arc;

        use sea_orm::sqlx::Error;
        let query = |e: Error| DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)));
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof");
        assert!(is_connection_error(&query(Error::Io(eof))));
        assert!(is_connection_error(&query(Error::PoolTimedOut)));
        assert!(!is_connection_error(&query(Error::RowNotFound)));
        assert!(!is_connection_error(&DbErr::Custom("boom".into())));
    }

    #[test]
    fn the_read_pool_is_half_the_main_pool() {
        assert_eq!(read_pool_size("postgres://db/helpline", None), 16);
        assert_eq!(read_pool_size("sqlite://data/helpline.db", None), 4);
        assert_eq!(read_pool_size("postgres://db/helpline", Some(10)), 5);
        assert_eq!(read_pool_size("sqlite://data/helpline.db", Some(1)), 1);
    }

    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(
            sqlite_file("sqlite://helpline-data/helpline.db?mode=rwc"),
            Some("helpline-data/helpline.db")
        );
        assert_eq!(sqlite_file("sqlite:///tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[test]
    fn stored_timestamps_keep_microseconds() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T08:00:00.123456789Z")
            .expect("timestamp")
            .to_utc();
        assert_eq!(
            as_stored(t).to_rfc3339(),
            "2026-11-23T08:00:00.123456+00:00"
        );
        assert_eq!(as_stored(as_stored(t)), as_stored(t));
    }
}
