//! Connections for reads of one statement, outside any transaction, that go back to their
//! pool without a round trip.
//!
//! sqlx tests every connection as it returns to its pool: a `Sync` and PostgreSQL's answer,
//! or a message to a SQLite connection's thread and back. The test is unconditional (sqlx
//! 0.9 has no setting for it), so a list of one statement cost two round trips, and on a
//! PostgreSQL node the second was a tenth or more of the request (docs/PERFORMANCE.md,
//! "Reads without the release ping").
//!
//! What that test guards against is a connection left mid-answer: a statement whose future
//! was dropped, or one whose connection broke. Here a connection goes back only when its
//! statement ran to the end (its whole answer read, or the database's own refusal of the
//! statement); any other way out closes it. Writes and transactions stay on sea-orm's pool.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sqlx::{self, ConnectOptions as _, Connection, Database, Executor, IntoArguments};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult,
    RuntimeErr, Statement, Values,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Semaphore;

use super::{ACQUIRE_TIMEOUT, CONNECT_TIMEOUT, PING_IF_IDLE_FOR};

/// Idle connections older than this are closed by [`ReadPool::close_idle`].
pub const IDLE_LIFETIME: Duration = Duration::from_secs(60);

/// A pool of connections for single-statement reads (see the module's documentation). It is
/// a [`ConnectionTrait`], so the features' read functions take it where they take sea-orm's
/// pool; each statement borrows a connection for its own duration.
#[derive(Clone)]
pub struct ReadPool {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Postgres(Arc<Connections<sqlx::Postgres>>),
    Sqlite(Arc<Connections<sqlx::Sqlite>>),
    /// An in-memory SQLite database belongs to its connection, so its reads use the main
    /// pool's connections.
    Shared(DatabaseConnection),
}

impl ReadPool {
    /// A pool of at most `size` connections to `url`, opened when first needed. `main` is the
    /// node's sea-orm pool, which an in-memory SQLite database's reads share.
    pub fn new(url: &str, size: u32, main: &DatabaseConnection) -> Result<Self, DbErr> {
        let inner = if super::is_sqlite(url) {
            if super::sqlite_file(url).is_none() {
                Inner::Shared(main.clone())
            } else {
                let options = super::sqlite_options(parse(url)?);
                Inner::Sqlite(Arc::new(Connections::new(options, size, None)))
            }
        } else {
            let options = parse::<sqlx::postgres::PgConnectOptions>(url)?;
            let setup = (!url.contains(super::PLAN_CACHE_MODE)).then_some(super::GENERIC_PLANS);
            Inner::Postgres(Arc::new(Connections::new(options, size, setup)))
        };
        Ok(Self { inner })
    }

    /// `(open, idle)` connections of this pool (the main pool's, when it shares that).
    pub fn usage(&self) -> (usize, usize) {
        match &self.inner {
            Inner::Postgres(c) => c.usage(),
            Inner::Sqlite(c) => c.usage(),
            Inner::Shared(db) => {
                let (size, idle) = super::pool_usage(db);
                (size as usize, idle)
            }
        }
    }

    /// Closes the connections that sat idle for `idle_for` or longer, so a burst does not
    /// keep its connections open.
    pub fn close_idle(&self, idle_for: Duration) {
        match &self.inner {
            Inner::Postgres(c) => c.close_idle(idle_for),
            Inner::Sqlite(c) => c.close_idle(idle_for),
            Inner::Shared(_) => {}
        }
    }
}

fn parse<O: std::str::FromStr<Err = sqlx::Error>>(url: &str) -> Result<O, DbErr> {
    url.parse::<O>().map_err(|e| DbErr::Conn(sqlx_err(e)))
}

fn sqlx_err(e: sqlx::Error) -> RuntimeErr {
    RuntimeErr::SqlxError(Arc::new(e))
}

/// The connections of one database kind, the most recently used first out.
struct Connections<DB: Database> {
    options: <DB::Connection as Connection>::Options,
    /// Run on each new connection (PostgreSQL's plan cache mode, as the main pool does).
    setup: Option<&'static str>,
    idle: Mutex<Vec<Idle<DB::Connection>>>,
    permits: Semaphore,
    size: u32,
}

struct Idle<C> {
    connection: C,
    since: Instant,
}

/// A connection on loan with its permit. Dropped without [`Lease::finish`], the statement
/// did not run to its end and the connection is closed.
struct Lease<'p, DB: Database> {
    connection: Option<DB::Connection>,
    pool: &'p Connections<DB>,
    _permit: tokio::sync::SemaphorePermit<'p>,
}

impl<DB: Database> Connections<DB> {
    fn new(
        options: <DB::Connection as Connection>::Options,
        size: u32,
        setup: Option<&'static str>,
    ) -> Self {
        let size = size.max(1);
        Self {
            options: options.disable_statement_logging(),
            setup,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size as usize),
            size,
        }
    }

    fn usage(&self) -> (usize, usize) {
        let idle = self.idle_connections().len();
        let in_use = self.size as usize - self.permits.available_permits();
        (idle + in_use, idle)
    }

    fn idle_connections(&self) -> std::sync::MutexGuard<'_, Vec<Idle<DB::Connection>>> {
        // The vector is valid whatever a panicking holder did, so a poisoned lock is used as is.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close_idle(&self, idle_for: Duration) {
        let stale: Vec<_> = {
            let mut idle = self.idle_connections();
            // Oldest first: everything before the first young one has sat long enough.
            let stale = (idle.iter())
                .position(|c| c.since.elapsed() < idle_for)
                .unwrap_or(idle.len());
            idle.drain(..stale).collect()
        };
        for old in stale {
            close(old.connection);
        }
    }
}

impl<DB: Database> Connections<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    QueryResult: From<DB::Row>,
    ExecResult: From<DB::QueryResult>,
{
    async fn lease(&self) -> Result<Lease<'_, DB>, DbErr> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
        let connection = match self.live_idle().await {
            Some(connection) => connection,
            None => self.open().await?,
        };
        Ok(Lease {
            connection: Some(connection),
            pool: self,
            _permit: permit,
        })
    }

    /// The most recently used idle connection that is still usable; one idle a while is
    /// tested first, as the main pool does, and dropped if the test fails.
    async fn live_idle(&self) -> Option<DB::Connection> {
        loop {
            let Idle {
                mut connection,
                since,
            } = self.idle_connections().pop()?;
            if since.elapsed() < PING_IF_IDLE_FOR || connection.ping().await.is_ok() {
                return Some(connection);
            }
        }
    }

    async fn open(&self) -> Result<DB::Connection, DbErr> {
        let mut connection = tokio::time::timeout(CONNECT_TIMEOUT, self.options.connect())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|e| DbErr::Conn(sqlx_err(e)))?;
        if let Some(setup) = self.setup {
            connection
                .execute(setup)
                .await
                .map_err(|e| DbErr::Conn(sqlx_err(e)))?;
        }
        Ok(connection)
    }

    async fn fetch_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut lease = self.lease().await?;
        let result = query(statement).fetch_all(lease.connection()).await;
        lease.finish(result.as_ref().err());
        let rows = result.map_err(|e| DbErr::Query(sqlx_err(e)))?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    async fn fetch_optional(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut lease = self.lease().await?;
        let result = query(statement).fetch_optional(lease.connection()).await;
        lease.finish(result.as_ref().err());
        Ok(result
            .map_err(|e| DbErr::Query(sqlx_err(e)))?
            .map(QueryResult::from))
    }

    async fn execute(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        let mut lease = self.lease().await?;
        let result = query(statement).execute(lease.connection()).await;
        lease.finish(result.as_ref().err());
        Ok(result.map_err(|e| DbErr::Exec(sqlx_err(e)))?.into())
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut lease = self.lease().await?;
        let result = lease
            .connection()
            .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())))
            .await;
        lease.finish(result.as_ref().err());
        Ok(result.map_err(|e| DbErr::Exec(sqlx_err(e)))?.into())
    }
}

/// `statement` with its values bound, prepared once per connection (sqlx's statement cache),
/// as sea-orm's pool runs it.
fn query<DB: Database>(statement: Statement) -> sqlx::query::Query<'static, DB, SqlxValues>
where
    SqlxValues: IntoArguments<DB>,
{
    let values = statement.values.unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(statement.sql), SqlxValues(values))
}

impl<DB: Database> Lease<'_, DB> {
    fn connection(&mut self) -> &mut DB::Connection {
        self.connection
            .as_mut()
            .expect("a lease holds its connection until finished")
    }

    /// The statement ran to its end, with `error` if it failed: the connection goes back to
    /// the pool unless the error says the connection itself is gone or unusable.
    fn finish(mut self, error: Option<&sqlx::Error>) {
        let reusable = match error {
            None => true,
            Some(e @ sqlx::Error::Database(_)) => !super::lost_connection(e),
            Some(_) => false,
        };
        if let Some(connection) = self.connection.take() {
            if reusable {
                self.pool.idle_connections().push(Idle {
                    connection,
                    since: Instant::now(),
                });
            } else {
                close(connection);
            }
        }
    }
}

impl<DB: Database> Drop for Lease<'_, DB> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            close(connection);
        }
    }
}

/// Ends a connection politely when a runtime can run that, else drops its socket.
fn close<C: Connection + 'static>(connection: C) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = tokio::time::timeout(CONNECT_TIMEOUT, connection.close()).await;
        });
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for ReadPool {
    fn get_database_backend(&self) -> DbBackend {
        match &self.inner {
            Inner::Postgres(_) => DbBackend::Postgres,
            Inner::Sqlite(_) => DbBackend::Sqlite,
            Inner::Shared(db) => db.get_database_backend(),
        }
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        match &self.inner {
            Inner::Postgres(c) => c.execute(statement).await,
            Inner::Sqlite(c) => c.execute(statement).await,
            Inner::Shared(db) => db.execute_raw(statement).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.inner {
            Inner::Postgres(c) => c.execute_unprepared(sql).await,
            Inner::Sqlite(c) => c.execute_unprepared(sql).await,
            Inner::Shared(db) => db.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.inner {
            Inner::Postgres(c) => c.fetch_optional(statement).await,
            Inner::Sqlite(c) => c.fetch_optional(statement).await,
            Inner::Shared(db) => db.query_one_raw(statement).await,
        }
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.inner {
            Inner::Postgres(c) => c.fetch_all(statement).await,
            Inner::Sqlite(c) => c.fetch_all(statement).await,
            Inner::Shared(db) => db.query_all_raw(statement).await,
        }
    }
}
