//! The database handle: the connection pool and, on SQLite, the one writer's turn. Every write
//! transaction is begun here (`Db::write`), so no caller takes a turn or a lock by hand.
//!
//! SQLite has one writer at a time. This process's writers queue for a turn in process, and get it
//! the moment the last one ends, instead of in SQLite's busy handler, which sleeps; the transaction
//! then begins `IMMEDIATE`, holding the database's write lock from its first statement, so what it
//! reads stays true until it commits (a deferred transaction that read first would fail at its first
//! write once another writer committed in between). On PostgreSQL neither is needed: row locks and
//! `SKIP LOCKED` order the writers, and `Db::write` is a plain `BEGIN`.
//!
//! On an SQLite file every write runs on one connection of its own, opened at the first write. A
//! connection throws its page cache away whenever another connection wrote since its last
//! transaction: with writes spread over the pool's eight connections, nearly every batch began by
//! reading the log's index pages again. The writer's connection is the only one writing, so its
//! cache (and its prepared statements) stay warm from one batch to the next.

use std::sync::Arc;

use std::{future::Future, pin::Pin};

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, SqliteTransactionMode, Statement, TransactionError,
    TransactionOptions, TransactionSession, TransactionTrait,
};
use tokio::sync::{Mutex, OnceCell, OwnedMutexGuard};

/// The database: reads go straight to the pool; a write transaction goes through `write`, and a
/// statement that writes, sent to the `Db` itself, takes the writer's turn (`ConnectionTrait`).
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite's writer turn, shared by every clone.
    writer: Arc<Mutex<()>>,
    /// The connection writes run on: on an SQLite file, a pool of one of its own; otherwise `conn`.
    writes_on: Arc<OnceCell<DatabaseConnection>>,
    /// Told of every statement the writer's own connection runs (`observe_writes`).
    observer: Arc<std::sync::OnceLock<Observer>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

/// What `Db::observe_writes` is told of each statement (sea-orm's metric information).
pub type Observer = Arc<dyn Fn(&sea_orm::metric::Info<'_>) + Send + Sync>;

/// A write transaction holding this process's SQLite writer turn (none on PostgreSQL, and none for a
/// savepoint inside one) until it is committed or dropped (rolled back). Store functions take it as
/// any connection, and `begin` on it makes a savepoint.
pub struct Write {
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Db {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self {
            conn,
            writer: Arc::default(),
            writes_on: Arc::default(),
            observer: Arc::default(),
        }
    }

    /// Tells `observer` of every statement run on the writer's own connection (SQLite), which a metric
    /// callback set on the pool does not see; the first observer set stays.
    pub fn observe_writes(&self, observer: Observer) {
        let _ = self.observer.set(observer);
    }

    /// The connection writes run on (opened at the first write).
    async fn writes_on(&self) -> &DatabaseConnection {
        self.writes_on
            .get_or_init(|| async {
                match writer_connection(&self.conn, self.observer.clone()).await {
                    Ok(Some(writer)) => writer,
                    Ok(None) => self.conn.clone(),
                    Err(error) => {
                        tracing::warn!(%error, "cannot open SQLite's writer connection; writing through the pool");
                        self.conn.clone()
                    }
                }
            })
            .await
    }

    /// The pool, for what needs the connection itself (migrations, closing). A metric callback set on
    /// it does not see the writes of SQLite's writer connection: `observe_writes` does.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    fn sqlite(&self) -> bool {
        self.conn.get_database_backend() == DbBackend::Sqlite
    }

    /// Begins a write transaction: on SQLite after this process's writer turn, `BEGIN IMMEDIATE`.
    /// (`TransactionTrait::begin` on a `Db` is this, so store functions that begin their own
    /// transaction take the turn too.)
    pub async fn write(&self) -> Result<Write, DbErr> {
        self.write_with(TransactionOptions::default()).await
    }

    async fn write_with(&self, mut options: TransactionOptions) -> Result<Write, DbErr> {
        if !self.sqlite() {
            return Ok(Write {
                txn: self.conn.begin_with_options(options).await?,
                _turn: None,
            });
        }
        let turn = self.writer.clone().lock_owned().await;
        options.sqlite_transaction_mode = Some(SqliteTransactionMode::Immediate);
        Ok(Write {
            txn: self.writes_on().await.begin_with_options(options).await?,
            _turn: Some(turn),
        })
    }

    /// A write of one statement outside a transaction (`ConnectionTrait for Db`): run it on the
    /// answer, which holds this process's SQLite writer turn (none on PostgreSQL) until dropped.
    async fn turn(&self) -> Turn {
        let turn = if self.sqlite() {
            Some(self.writer.clone().lock_owned().await)
        } else {
            None
        };
        Turn {
            conn: self.writes_on().await.clone(),
            _turn: turn,
        }
    }
}

/// One statement's writer turn (`Db::turn`): statements run on it go to the writer's connection.
pub struct Turn {
    conn: DatabaseConnection,
    _turn: Option<OwnedMutexGuard<()>>,
}

/// On an SQLite file, a pool of one connection with `conn`'s options, for the writes; `None` for
/// PostgreSQL (row locks order its writers) and for an in-memory database (another connection would
/// open another database).
async fn writer_connection(
    conn: &DatabaseConnection,
    observer: Arc<std::sync::OnceLock<Observer>>,
) -> Result<Option<DatabaseConnection>, DbErr> {
    use sea_orm::{SqlxSqliteConnector, sqlx::sqlite::SqlitePoolOptions};
    if conn.get_database_backend() != DbBackend::Sqlite {
        return Ok(None);
    }
    let options = conn.get_sqlite_connection_pool().connect_options();
    if !options.get_filename().is_file() {
        return Ok(None);
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with((*options).clone())
        .await
        .map_err(|error| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(error.into())))?;
    let mut writer = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
    writer.set_metric_callback(move |info| {
        if let Some(observe) = observer.get() {
            observe(info);
        }
    });
    Ok(Some(writer))
}

impl Write {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl std::ops::Deref for Write {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// `ConnectionTrait` for a type that runs its statements on its `$inner` field.
macro_rules! runs_on {
    ($outer:ty, $inner:ident) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $outer {
            fn get_database_backend(&self) -> DbBackend {
                self.$inner.get_database_backend()
            }

            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                self.$inner.execute_raw(stmt).await
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                self.$inner.execute_unprepared(sql).await
            }

            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                self.$inner.query_one_raw(stmt).await
            }

            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                self.$inner.query_all_raw(stmt).await
            }

            fn support_returning(&self) -> bool {
                self.$inner.support_returning()
            }
        }
    };
}

runs_on!(Write, txn);
runs_on!(Turn, conn);

/// Reads run on the pool, side by side. On SQLite a statement that may write (anything but a
/// `SELECT`) takes this process's writer turn and runs on the writer's connection (`turn`), so
/// no write goes around the turn, whoever sends it through a `Db`: it would wait in SQLite's busy
/// handler instead of in line, and make the writer's connection drop its page cache.
#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        if self.writes(&stmt.sql) {
            return self.turn().await.execute_raw(stmt).await;
        }
        self.conn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        if self.writes(sql) {
            return self.turn().await.execute_unprepared(sql).await;
        }
        self.conn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if self.writes(&stmt.sql) {
            return self.turn().await.query_one_raw(stmt).await;
        }
        self.conn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if self.writes(&stmt.sql) {
            return self.turn().await.query_all_raw(stmt).await;
        }
        self.conn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.conn.support_returning()
    }
}

impl Db {
    /// Whether `sql`, on SQLite, must take the writer's turn: it is not a `SELECT` (which SQLite
    /// cannot write from). A read that begins otherwise (`WITH`, `PRAGMA`) takes the turn too, which
    /// costs it only the wait.
    fn writes(&self, sql: &str) -> bool {
        self.sqlite()
            && !sql
                .trim_start()
                .get(..6)
                .is_some_and(|word| word.eq_ignore_ascii_case("select"))
    }
}

/// Runs `callback` in `txn`: committed when it answers `Ok`, rolled back otherwise.
async fn run_in<F, T, E>(txn: Write, callback: F) -> Result<T, TransactionError<E>>
where
    F: for<'c> FnOnce(&'c Write) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
    T: Send,
    E: std::fmt::Display + std::fmt::Debug + Send,
{
    match callback(&txn).await {
        Ok(value) => {
            txn.commit().await.map_err(TransactionError::Connection)?;
            Ok(value)
        }
        Err(error) => {
            txn.txn
                .rollback()
                .await
                .map_err(TransactionError::Connection)?;
            Err(TransactionError::Transaction(error))
        }
    }
}

fn options(
    isolation_level: Option<IsolationLevel>,
    access_mode: Option<AccessMode>,
) -> TransactionOptions {
    TransactionOptions {
        isolation_level,
        access_mode,
        ..Default::default()
    }
}

#[async_trait::async_trait]
impl TransactionTrait for Db {
    type Transaction = Write;

    async fn begin(&self) -> Result<Write, DbErr> {
        self.write().await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<Write, DbErr> {
        self.write_with(options(isolation_level, access_mode)).await
    }

    async fn begin_with_options(&self, options: TransactionOptions) -> Result<Write, DbErr> {
        self.write_with(options).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c Write) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        // The same with no isolation level or access mode given.
        self.transaction_with_config(callback, None, None).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c Write) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self
            .write_with(options(isolation_level, access_mode))
            .await
            .map_err(TransactionError::Connection)?;
        run_in(txn, callback).await
    }
}

/// A savepoint inside a write transaction (the outer one holds the turn).
#[async_trait::async_trait]
impl TransactionTrait for Write {
    type Transaction = Write;

    async fn begin(&self) -> Result<Write, DbErr> {
        Ok(Write {
            txn: self.txn.begin().await?,
            _turn: None,
        })
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<Write, DbErr> {
        Ok(Write {
            txn: self
                .txn
                .begin_with_config(isolation_level, access_mode)
                .await?,
            _turn: None,
        })
    }

    async fn begin_with_options(&self, options: TransactionOptions) -> Result<Write, DbErr> {
        Ok(Write {
            txn: self.txn.begin_with_options(options).await?,
            _turn: None,
        })
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c Write) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        // The same with no isolation level or access mode given.
        self.transaction_with_config(callback, None, None).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c Write) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        run_in(txn, callback).await
    }
}

#[async_trait::async_trait]
impl TransactionSession for Write {
    async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}
