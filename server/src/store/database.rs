//! The server's database, whichever it is: SQLite (the embedded default) or
//! PostgreSQL (shared by several instances). Transactions and batches hand
//! their steps a `&mut dyn Store`, so the hub, the engine and the transports
//! run the same code on both.

use std::path::PathBuf;

use super::{
    PgBatch, PgStore, PgTx, PostgresSettings, Result, SqliteBatch, SqliteStore, SqliteTx, Store,
    StoreError,
};

/// Where a server's store is (from its configuration).
#[derive(Debug, Clone)]
pub enum StorePlace {
    /// The embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, perhaps shared with other instances.
    Postgres(PostgresSettings),
}

impl StorePlace {
    /// For logs and the status page: the file, or the database's host, port and name.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(settings) => format!("postgres://{}", settings.location()),
        }
    }
}

#[derive(Debug)]
pub enum Database {
    Sqlite(SqliteStore),
    /// Boxed: its connection state is three times SQLite's.
    Postgres(Box<PgStore>),
}

impl From<SqliteStore> for Database {
    fn from(store: SqliteStore) -> Self {
        Self::Sqlite(store)
    }
}

impl From<PgStore> for Database {
    fn from(store: PgStore) -> Self {
        Self::Postgres(Box::new(store))
    }
}

impl Database {
    /// Opens (creating and migrating when needed) the store at `place`.
    pub fn open(place: &StorePlace) -> Result<Self> {
        Ok(match place {
            StorePlace::Sqlite(path) => Self::Sqlite(SqliteStore::open(path)?),
            StorePlace::Postgres(settings) => PgStore::open(settings.clone())?.into(),
        })
    }

    /// Opens the store for a report beside the running server: never
    /// created or migrated (SQLite read only).
    pub fn open_for_reading(place: &StorePlace) -> Result<Self> {
        Ok(match place {
            StorePlace::Sqlite(path) => Self::Sqlite(SqliteStore::open_read_only(path)?),
            StorePlace::Postgres(settings) => PgStore::open_existing(settings.clone())?.into(),
        })
    }

    /// Runs `f` in one transaction: committed when it returns Ok, rolled back otherwise.
    pub fn transaction<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut dyn Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        match self {
            Self::Sqlite(s) => s.transaction(|tx: &mut SqliteTx<'_>| f(tx)),
            Self::Postgres(s) => s.transaction(|tx: &mut PgTx<'_>| f(tx)),
        }
    }

    /// Opens one transaction for many steps, each in its own savepoint.
    pub fn batch(&mut self) -> Result<DatabaseBatch<'_>> {
        Ok(match self {
            Self::Sqlite(s) => DatabaseBatch::Sqlite(s.batch()?),
            Self::Postgres(s) => DatabaseBatch::Postgres(s.batch()?),
        })
    }

    /// Whether other server instances may use this store too (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The SQLite database, for what only it has (online backup, the file lock).
    pub fn as_sqlite(&self) -> Option<&SqliteStore> {
        match self {
            Self::Sqlite(s) => Some(s),
            Self::Postgres(_) => None,
        }
    }
}

/// One transaction of many steps; see [`SqliteBatch`] and [`PgBatch`].
#[derive(Debug)]
pub enum DatabaseBatch<'c> {
    Sqlite(SqliteBatch<'c>),
    Postgres(PgBatch<'c>),
}

impl DatabaseBatch<'_> {
    /// Runs `f` in a savepoint: kept when it returns Ok, undone when it returns Err.
    pub fn step<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut dyn Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        match self {
            Self::Sqlite(b) => b.step(|tx: &mut SqliteTx<'_>| f(tx)),
            Self::Postgres(b) => b.step(|tx: &mut PgTx<'_>| f(tx)),
        }
    }

    /// Tells the other instances on a shared store, at commit, whose
    /// presence `instance` saved (nothing to tell on SQLite: one instance).
    pub fn announce(&mut self, instance: &str, accounts: &[&str]) -> Result<()> {
        match self {
            Self::Sqlite(_) => Ok(()),
            Self::Postgres(b) => b.announce(instance, accounts),
        }
    }

    /// Commits every step kept; durable when this returns Ok.
    pub fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite(b) => b.commit(),
            Self::Postgres(b) => b.commit(),
        }
    }
}
