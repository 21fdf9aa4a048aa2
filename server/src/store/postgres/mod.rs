//! The shared store: PostgreSQL, for two or more server instances on one
//! database (SQLite stays the embedded default). The same tables and schema
//! versions as SQLite, the same [`Store`] operations (in `tx`), the same
//! transaction and batch shapes, so the hub runs either.
//!
//! Client: `tokio-postgres` (maintained by the rust-postgres project) with
//! TLS by `tokio-postgres-rustls` on the tree's rustls; see `connect` for
//! why the async client serves a synchronous store. A lost connection fails
//! the step it was in (nothing half-done: the transaction dies with it) and
//! the next transaction connects anew; [`PgStore::reachable`] tells the
//! status page and the metrics.
//!
//! One file per job: `connect` (settings, TLS, the socket's driver),
//! `schema` (migrations under an advisory lock), `tx` (the operations),
//! `lease` (mail intake by one instance at a time), `changes` (the change
//! feed between instances);
//! this file holds the connection, transactions and batches.

mod changes;
mod connect;
mod lease;
mod schema;
mod tx;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

pub use changes::{Announced, ChangeListener};
pub use connect::PostgresSettings;
pub(crate) use connect::error_text;
use connect::{connect, wait};
pub use lease::IntakeLease;
#[cfg(test)]
pub(crate) use schema::VERSION;

use super::{Result, StoreError};

/// One server's connection to the shared database.
#[derive(Debug)]
pub struct PgStore {
    settings: PostgresSettings,
    conn: Option<PgConn>,
    /// Whether the last attempt to use the database reached it.
    reachable: Arc<AtomicBool>,
    /// Schema versions this store applied when it opened (0 when another
    /// instance had done it).
    migrated: usize,
}

/// A live connection and the statements prepared on it.
struct PgConn {
    client: Client,
    statements: RefCell<HashMap<String, Statement>>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn")
            .field("closed", &self.client.is_closed())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects and migrates the schema (under its lock).
    pub fn open(settings: PostgresSettings) -> Result<Self> {
        let mut store = Self {
            settings,
            conn: None,
            reachable: Arc::new(AtomicBool::new(false)),
            migrated: 0,
        };
        let schema = store.settings.schema.clone();
        let applied = schema::migrate(&store.connection()?.client, schema.as_deref())?;
        store.migrated = applied;
        if applied > 0 {
            tracing::info!(at = %store.settings.location(), applied, "PostgreSQL schema migrated");
        }
        Ok(store)
    }

    /// Connects without migrating (a report beside the running servers).
    pub fn open_existing(settings: PostgresSettings) -> Result<Self> {
        let mut store = Self {
            settings,
            conn: None,
            reachable: Arc::new(AtomicBool::new(false)),
            migrated: 0,
        };
        store.connection()?;
        Ok(store)
    }

    /// Schema versions applied when this store opened.
    pub fn migrated(&self) -> usize {
        self.migrated
    }

    /// Where the database is, for logs and the status page.
    pub fn location(&self) -> String {
        self.settings.location()
    }

    /// Whether the database answered the last time it was asked; shared, so
    /// the status page can read it without the store's lock.
    pub fn reachable(&self) -> Arc<AtomicBool> {
        self.reachable.clone()
    }

    /// The live connection, connecting anew when there is none or it closed.
    fn connection(&mut self) -> Result<&PgConn> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            match connect(&self.settings) {
                Ok(client) => {
                    if !self.reachable.swap(true, Ordering::Relaxed) {
                        tracing::info!(at = %self.settings.location(), "PostgreSQL connected");
                    }
                    self.conn = Some(PgConn {
                        client,
                        statements: RefCell::new(HashMap::new()),
                    });
                }
                Err(e) => {
                    self.reachable.store(false, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("no PostgreSQL connection".into()))
    }

    /// After a failure: a connection that closed is dropped (the next
    /// transaction connects anew) and the database counts as unreachable.
    fn after_failure(&mut self) {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            tracing::warn!(at = %self.settings.location(), "PostgreSQL connection lost; reconnecting on next use");
            self.conn = None;
            self.reachable.store(false, Ordering::Relaxed);
        }
    }

    /// Runs `f` in one transaction: committed when it returns Ok, rolled back otherwise.
    pub fn transaction<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut PgTx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let result = (|| {
            let writer = writer_lock(&self.settings);
            let conn = self.connection()?;
            begin(conn, &writer)?;
            match f(&mut PgTx { conn }) {
                Ok(value) => {
                    wait(conn.client.batch_execute("COMMIT")).map_err(StoreError::from)?;
                    Ok(value)
                }
                Err(e) => {
                    let _ = wait(conn.client.batch_execute("ROLLBACK"));
                    Err(e)
                }
            }
        })();
        if result.is_err() {
            self.after_failure();
        }
        result
    }

    /// Opens one transaction for many steps (see [`PgBatch`]). Dropped
    /// without [`PgBatch::commit`], it is rolled back.
    pub fn batch(&mut self) -> Result<PgBatch<'_>> {
        let writer = writer_lock(&self.settings);
        let began = self.connection().and_then(|conn| begin(conn, &writer));
        if let Err(e) = began {
            self.after_failure();
            return Err(e);
        }
        Ok(PgBatch {
            store: self,
            broken: false,
            done: false,
        })
    }
}

/// Begins a transaction as SQLite's one writer would: instances take turns
/// (a transaction advisory lock of the schema, held to COMMIT). The engine
/// reads, then writes what it read (a watch's coalesced change, a sender's
/// count): two instances doing that at once under READ COMMITTED could both
/// deliver the same owed Notify. Steps are short, so turns are too.
fn begin(conn: &PgConn, writer: &str) -> Result<()> {
    wait(conn.client.batch_execute("BEGIN"))?;
    wait(conn.client.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1::TEXT))",
        &[&writer],
    ))?;
    Ok(())
}

/// The writers' lock of one schema (each test has its own).
fn writer_lock(settings: &PostgresSettings) -> String {
    format!(
        "mailpresence writer {}",
        settings.schema.as_deref().unwrap_or("public")
    )
}

/// One transaction holding many independent steps, each in its own
/// savepoint: a failing step is rolled back alone, the others are committed
/// together.
#[derive(Debug)]
pub struct PgBatch<'s> {
    store: &'s mut PgStore,
    /// A failed step could not be undone: the batch must not commit.
    broken: bool,
    /// COMMIT or ROLLBACK was sent.
    done: bool,
}

impl PgBatch<'_> {
    /// Runs `f` in a savepoint: kept (until the batch commits) when it
    /// returns Ok, undone when it returns Err.
    pub fn step<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut PgTx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if self.broken {
            return Err(StoreError::Corrupt("an earlier step could not be undone".into()).into());
        }
        let Some(conn) = self.store.conn.as_ref() else {
            self.broken = true;
            return Err(StoreError::Corrupt("the batch lost its connection".into()).into());
        };
        if let Err(e) = wait(conn.client.batch_execute("SAVEPOINT step")) {
            self.broken = true;
            return Err(StoreError::from(e).into());
        }
        match f(&mut PgTx { conn }) {
            Ok(value) => {
                if let Err(e) = wait(conn.client.batch_execute("RELEASE step")) {
                    self.broken = true;
                    return Err(StoreError::from(e).into());
                }
                Ok(value)
            }
            Err(e) => {
                if wait(conn.client.batch_execute("ROLLBACK TO step; RELEASE step")).is_err() {
                    self.broken = true;
                }
                Err(e)
            }
        }
    }

    /// Commits every step kept; durable when this returns Ok. A batch with a
    /// step that could not be undone is rolled back instead.
    pub fn commit(mut self) -> Result<()> {
        if self.broken {
            return Err(StoreError::Corrupt(
                "a step of this batch could not be undone; rolled back".into(),
            ));
        }
        self.done = true;
        let committed = match self.store.conn.as_ref() {
            Some(conn) => wait(conn.client.batch_execute("COMMIT")).map_err(StoreError::from),
            None => Err(StoreError::Corrupt("the batch lost its connection".into())),
        };
        if committed.is_err() {
            self.store.after_failure();
        }
        committed
    }
}

impl Drop for PgBatch<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Some(conn) = self.store.conn.as_ref() {
                let _ = wait(conn.client.batch_execute("ROLLBACK"));
            }
            self.store.after_failure();
        }
    }
}

/// One open transaction (or a savepoint inside one); implements
/// [`Store`](super::Store). Beginning and ending it is its owner's business.
#[derive(Debug)]
pub struct PgTx<'c> {
    conn: &'c PgConn,
}

/// Parameters of one statement.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl PgTx<'_> {
    /// The statement for `sql`, prepared once per connection.
    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.conn.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = wait(self.conn.client.prepare(sql))?;
        self.conn
            .statements
            .borrow_mut()
            .insert(sql.to_owned(), prepared.clone());
        Ok(prepared)
    }

    fn exec(&self, sql: &str, params: Params<'_>) -> Result<usize> {
        let statement = self.statement(sql)?;
        let n = wait(self.conn.client.execute(&statement, params))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        Ok(wait(self.conn.client.query(&statement, params))?)
    }

    fn opt_row(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let statement = self.statement(sql)?;
        Ok(wait(self.conn.client.query_opt(&statement, params))?)
    }

    fn one_row(&self, sql: &str, params: Params<'_>) -> Result<Row> {
        let statement = self.statement(sql)?;
        Ok(wait(self.conn.client.query_one(&statement, params))?)
    }

    pub(in crate::store) fn count(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        Ok(self.one_row(sql, params)?.try_get::<_, i64>(0)?.max(0) as u64)
    }

    /// Runs SQL text as it is (tests set up what the store would not).
    #[cfg(test)]
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<()> {
        Ok(wait(self.conn.client.batch_execute(sql))?)
    }
}
