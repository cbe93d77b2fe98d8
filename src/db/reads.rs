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
//!
//! An idle connection waits for the thread that opened it ([`Home`]): each of the server's
//! workers reads through connections of its own runtime while it has them, and borrows
//! another's only when the pool is full (docs/PERFORMANCE.md, "Read connections kept by the
//! thread that opened them").

use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The connections of one database kind.
struct Connections<DB: Database> {
    options: <DB::Connection as Connection>::Options,
    /// Run on each new connection (PostgreSQL's plan cache mode, as the main pool does).
    setup: Option<&'static str>,
    shelf: Mutex<Shelf<DB::Connection>>,
    permits: Semaphore,
    size: usize,
}

/// The thread a connection was opened on. Its socket is registered with that thread's
/// runtime, so an answer read on another thread is first seen by the opening thread, which
/// then wakes the reader: a wake-up across threads per statement. A connection therefore goes
/// back to its home's shelf, and a read takes one of its own thread's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Home(usize);

impl Home {
    fn current() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        Home(HOME.with(|home| *home))
    }
}

struct Idle<C> {
    connection: C,
    since: Instant,
}

/// The idle connections by home, each home's most recently used last, and how many
/// connections the pool has open (idle, on loan or being opened).
struct Shelf<C> {
    homes: Vec<(Home, Vec<Idle<C>>)>,
    open: usize,
}

/// Where a lease's connection comes from.
enum Take<C> {
    /// An idle connection and its home.
    Idle(Home, Idle<C>),
    /// None idle here and the pool has room: open one (already counted in `open`).
    Open,
}

impl<C> Shelf<C> {
    fn new() -> Self {
        Self {
            homes: Vec::new(),
            open: 0,
        }
    }

    fn idle(&self) -> usize {
        self.homes.iter().map(|(_, idle)| idle.len()).sum()
    }

    /// For a lease on `home`: its own most recently used idle connection; else a new one while
    /// fewer than `size` are open; else another home's most recently used. A lease holds one
    /// of `size` permits, so when nothing is idle fewer than `size` are open.
    fn take(&mut self, home: Home, size: usize) -> Take<C> {
        if let Some(idle) = self
            .homes
            .iter_mut()
            .find(|(h, _)| *h == home)
            .and_then(|(_, idle)| idle.pop())
        {
            return Take::Idle(home, idle);
        }
        if self.open < size {
            self.open += 1;
            return Take::Open;
        }
        for (other, idle) in &mut self.homes {
            if let Some(connection) = idle.pop() {
                return Take::Idle(*other, connection);
            }
        }
        self.open += 1;
        Take::Open
    }

    fn put(&mut self, home: Home, idle: Idle<C>) {
        match self.homes.iter_mut().find(|(h, _)| *h == home) {
            Some((_, stack)) => stack.push(idle),
            None => self.homes.push((home, vec![idle])),
        }
    }

    /// A connection of the pool was closed or never opened.
    fn forget(&mut self) {
        self.open = self.open.saturating_sub(1);
    }

    /// Takes out the connections idle for `idle_for` or longer (and the homes left empty).
    fn take_stale(&mut self, idle_for: Duration) -> Vec<C> {
        let mut stale = Vec::new();
        for (_, idle) in &mut self.homes {
            // Oldest first: everything before the first young one has sat long enough.
            let old = (idle.iter())
                .position(|c| c.since.elapsed() < idle_for)
                .unwrap_or(idle.len());
            stale.extend(idle.drain(..old).map(|c| c.connection));
        }
        self.homes.retain(|(_, idle)| !idle.is_empty());
        self.open = self.open.saturating_sub(stale.len());
        stale
    }
}

/// A connection on loan with its permit. Dropped without [`Lease::finish`], the statement
/// did not run to its end and the connection is closed.
struct Lease<'p, DB: Database> {
    connection: Option<DB::Connection>,
    home: Home,
    /// This lease accounts for one of the pool's open connections (its own, or the one it
    /// is opening).
    counted: bool,
    pool: &'p Connections<DB>,
    _permit: tokio::sync::SemaphorePermit<'p>,
}

impl<DB: Database> Connections<DB> {
    fn new(
        options: <DB::Connection as Connection>::Options,
        size: u32,
        setup: Option<&'static str>,
    ) -> Self {
        let size = size.max(1) as usize;
        Self {
            options: options.disable_statement_logging(),
            setup,
            shelf: Mutex::new(Shelf::new()),
            permits: Semaphore::new(size),
            size,
        }
    }

    fn usage(&self) -> (usize, usize) {
        let shelf = self.shelf();
        (shelf.open, shelf.idle())
    }

    fn shelf(&self) -> std::sync::MutexGuard<'_, Shelf<DB::Connection>> {
        // The shelf is valid whatever a panicking holder did, so a poisoned lock is used as is.
        self.shelf.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close_idle(&self, idle_for: Duration) {
        let stale = self.shelf().take_stale(idle_for);
        for connection in stale {
            close(connection);
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
    /// A permit and a usable connection: an idle one (one idle a while is tested first, as the
    /// main pool does, and dropped if the test fails) or a new one.
    async fn lease(&self) -> Result<Lease<'_, DB>, DbErr> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
        let here = Home::current();
        let mut lease = Lease {
            connection: None,
            home: here,
            counted: false,
            pool: self,
            _permit: permit,
        };
        loop {
            let take = self.shelf().take(here, self.size);
            lease.counted = true;
            match take {
                Take::Open => {
                    lease.home = here;
                    lease.connection = Some(self.open().await?);
                    return Ok(lease);
                }
                Take::Idle(home, Idle { connection, since }) => {
                    lease.home = home;
                    let connection = lease.connection.insert(connection);
                    if since.elapsed() < PING_IF_IDLE_FOR || connection.ping().await.is_ok() {
                        return Ok(lease);
                    }
                    lease.connection = None;
                    lease.counted = false;
                    self.shelf().forget();
                }
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
        if reusable && let Some(connection) = self.connection.take() {
            self.counted = false;
            let idle = Idle {
                connection,
                since: Instant::now(),
            };
            self.pool.shelf().put(self.home, idle);
        }
    }
}

/// A lease that did not give its connection back closes it (if it has one) and frees its
/// place in the pool.
impl<DB: Database> Drop for Lease<'_, DB> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            close(connection);
        }
        if self.counted {
            self.pool.shelf().forget();
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

#[cfg(test)]
mod tests {
    use super::*;

    const A: Home = Home(1);
    const B: Home = Home(2);

    fn idle(connection: u32) -> Idle<u32> {
        Idle {
            connection,
            since: Instant::now(),
        }
    }

    /// A shelf with `open` connections, of which these are idle.
    fn shelf(open: usize, idle: &[(Home, u32)]) -> Shelf<u32> {
        let mut shelf = Shelf::new();
        for &(home, connection) in idle {
            shelf.put(home, self::idle(connection));
        }
        shelf.open = open;
        shelf
    }

    fn taken(take: Take<u32>) -> Option<(Home, u32)> {
        match take {
            Take::Idle(home, idle) => Some((home, idle.connection)),
            Take::Open => None,
        }
    }

    #[test]
    fn a_thread_takes_its_own_most_recent_connection_first() {
        let mut shelf = shelf(3, &[(A, 1), (B, 2), (B, 3)]);
        assert_eq!(taken(shelf.take(B, 3)), Some((B, 3)));
        assert_eq!(taken(shelf.take(B, 3)), Some((B, 2)));
        assert_eq!(shelf.open, 3, "taking an idle connection opens none");
    }

    #[test]
    fn a_thread_opens_its_own_while_there_is_room_then_borrows() {
        let mut shelf = shelf(1, &[(A, 1)]);
        assert!(
            taken(shelf.take(B, 2)).is_none(),
            "room for one more: open it"
        );
        assert_eq!(shelf.open, 2);
        assert_eq!(taken(shelf.take(B, 2)), Some((A, 1)), "full: borrow A's");
        assert_eq!(shelf.open, 2);
        assert_eq!(shelf.idle(), 0);
    }

    #[test]
    fn a_borrowed_connection_goes_back_to_its_home() {
        let mut shelf = shelf(1, &[(A, 1)]);
        let (home, connection) = taken(shelf.take(B, 1)).expect("borrowed");
        shelf.put(home, idle(connection));
        assert_eq!(taken(shelf.take(A, 1)), Some((A, 1)));
    }

    #[test]
    fn stale_connections_leave_and_are_no_longer_counted() {
        let mut shelf = shelf(4, &[(A, 1), (B, 2)]);
        std::thread::sleep(Duration::from_millis(20));
        shelf.put(B, idle(3));
        let mut stale = shelf.take_stale(Duration::from_millis(10));
        stale.sort();
        assert_eq!(stale, vec![1, 2]);
        assert_eq!((shelf.open, shelf.idle()), (2, 1));
        assert_eq!(shelf.homes.len(), 1, "A's empty shelf is gone");
        shelf.forget();
        assert_eq!(shelf.open, 1);
    }

    #[test]
    fn each_thread_has_its_own_home() {
        let here = Home::current();
        assert_eq!(Home::current(), here);
        let there = std::thread::spawn(Home::current).join().expect("thread");
        assert_ne!(there, here);
    }
}
