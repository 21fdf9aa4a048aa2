//! Backup and restore of the server's database, and the lock that says a
//! server is using it.
//!
//! A backup is taken while the server runs: SQLite's online backup API copies
//! every page in one step under one read transaction (WAL lets the server go
//! on writing meanwhile), so the copy is one consistent moment of the store.
//! It is written beside its destination and renamed into place only once it
//! is complete and passes `PRAGMA integrity_check`: a crash never leaves a
//! half backup under the backup's name.
//!
//! A restore needs the server stopped — the lock tells — and checks the
//! backup before anything is replaced; the old WAL and shared-memory files are
//! removed so that no page of the old database is replayed onto the restored
//! one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::schema;

/// How long a backup waits for the database while the server holds it busy.
const BUSY_PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no database at {0}")]
    Missing(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database stayed busy for {0:?}; try again")]
    Busy(Duration),
    #[error("{path} is not a sound MailPresence database: {why}")]
    Unsound { path: String, why: String },
    #[error("a mailpresence-server is running on {0}: stop it first (systemctl stop mailpresence)")]
    InUse(String),
}

type Result<T> = std::result::Result<T, BackupError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What a backup or a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub bytes: u64,
    pub schema_version: usize,
}

/// Copies the database at `storage` to `dest` while a server may be writing.
pub fn backup(storage: &Path, dest: &Path) -> Result<Copied> {
    if !storage.exists() {
        return Err(BackupError::Missing(storage.display().to_string()));
    }
    let source = Connection::open_with_flags(
        storage,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(BUSY_PATIENCE)?;
    let partial = sibling(dest, "partial");
    let _ = std::fs::remove_file(&partial);
    let copied = copy_into(&source, &partial).and_then(|()| check(&partial));
    let copied = match copied {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    sync_file(&partial)?;
    std::fs::rename(&partial, dest).map_err(io(dest))?;
    sync_parent(dest)?;
    Ok(copied)
}

/// Replaces the database at `storage` with the backup at `from`; refused
/// while a server holds the storage's lock.
pub fn restore(from: &Path, storage: &Path) -> Result<Copied> {
    if !from.exists() {
        return Err(BackupError::Missing(from.display().to_string()));
    }
    let copied = check(from)?;
    let _lock = StorageLock::acquire(storage)?;
    let incoming = sibling(storage, "restoring");
    std::fs::copy(from, &incoming).map_err(io(&incoming))?;
    sync_file(&incoming)?;
    // The old WAL belongs to the old database: replayed onto the restored
    // one it would bring back (or corrupt) what the backup does not have.
    for suffix in ["wal", "shm"] {
        let stale = sibling(storage, suffix);
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&stale)(e)),
        }
    }
    std::fs::rename(&incoming, storage).map_err(io(storage))?;
    sync_parent(storage)?;
    Ok(copied)
}

/// All pages in one step: one read transaction, hence one consistent moment
/// (a step-by-step copy would start over whenever the server commits).
fn copy_into(source: &Connection, partial: &Path) -> Result<()> {
    let mut target = Connection::open(partial)?;
    let backup = Backup::new(source, &mut target)?;
    let waited_since = std::time::Instant::now();
    loop {
        // Busy, Locked (and any answer rusqlite may add): wait, within bounds.
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            _ if waited_since.elapsed() > BUSY_PATIENCE => {
                return Err(BackupError::Busy(BUSY_PATIENCE));
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A database this server can open: intact, with our tables, and a schema
/// version no newer than this build knows.
fn check(path: &Path) -> Result<Copied> {
    let unsound = |why: String| BackupError::Unsound {
        path: path.display().to_string(),
        why,
    };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| unsound(e.to_string()))?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| unsound(e.to_string()))?;
    if verdict != "ok" {
        return Err(unsound(verdict));
    }
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == 0 || version > schema::VERSION {
        return Err(unsound(format!(
            "schema version {version}, this server knows 1 to {}",
            schema::VERSION
        )));
    }
    let has_presence: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'presence')",
        [],
        |r| r.get(0),
    )?;
    if !has_presence {
        return Err(unsound("it has no presence table".into()));
    }
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    Ok(Copied {
        bytes,
        schema_version: version,
    })
}

/// `presence.db` → `presence.db-wal` and the like (SQLite's own naming).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!("-{suffix}"));
    PathBuf::from(name)
}

fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}

/// The rename itself is on disk only once its directory is synced.
fn sync_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir)),
        None => Ok(()),
    }
}

/// An exclusive lock on `<storage>-lock`, held by the running server for as
/// long as it lives (the kernel drops it when the process ends, even by
/// SIGKILL). A second server on the same file, or a restore under a running
/// one, is refused instead of corrupting what the first one keeps.
#[derive(Debug)]
pub struct StorageLock {
    _file: File,
}

impl StorageLock {
    pub fn acquire(storage: &Path) -> Result<Self> {
        if let Some(dir) = storage.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let path = sibling(storage, "lock");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(BackupError::InUse(storage.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        // Who holds it, for a person looking at the file.
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use chrono::Utc;
    use mailpresence_protocol::model::{
        AccountName, Activity, ActivityToken, Contact, PresenceFields,
    };

    use super::super::SqliteStore;
    use super::*;
    use crate::store::{Medium, PresenceRecord, Store};

    fn record(account: &str, note: &str) -> PresenceRecord {
        PresenceRecord {
            account: account.parse::<AccountName>().unwrap(),
            fields: PresenceFields {
                location: Some(note.into()),
                ..PresenceFields::new(Contact::parse(""), Activity::token(ActivityToken::Away))
            },
            source: Medium::Web,
            received_at: Utc::now(),
            location_expires_at: None,
        }
    }

    fn note_of(store: &mut SqliteStore, account: &str) -> Option<String> {
        let account = account.parse::<AccountName>().unwrap();
        store
            .transaction(|tx| tx.presence(&account))
            .unwrap()
            .and_then(|r| r.fields.location)
    }

    #[test]
    fn a_backup_taken_beside_an_open_writer_restores_what_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("presence.db");
        let copy = dir.path().join("backup.db");
        let mut live = SqliteStore::open(&db).unwrap();
        live.transaction(|tx| tx.save_presence(&record("tanaka", "外出中")))
            .unwrap();

        let taken = backup(&db, &copy).unwrap();
        assert_eq!(taken.schema_version, schema::VERSION);
        assert!(!sibling(&copy, "partial").exists());

        // Later changes are not in the backup; a restore brings back the moment.
        live.transaction(|tx| tx.save_presence(&record("tanaka", "帰社")))
            .unwrap();
        drop(live);
        restore(&copy, &db).unwrap();
        let mut restored = SqliteStore::open(&db).unwrap();
        assert_eq!(note_of(&mut restored, "tanaka").as_deref(), Some("外出中"));
    }

    #[test]
    fn a_restore_under_a_running_server_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("presence.db");
        let copy = dir.path().join("backup.db");
        let mut live = SqliteStore::open(&db).unwrap();
        live.transaction(|tx| tx.save_presence(&record("sato", "old")))
            .unwrap();
        backup(&db, &copy).unwrap();
        live.transaction(|tx| tx.save_presence(&record("sato", "new")))
            .unwrap();

        let held = StorageLock::acquire(&db).unwrap();
        let refused = restore(&copy, &db).unwrap_err();
        assert!(matches!(refused, BackupError::InUse(_)), "{refused}");
        assert!(refused.to_string().contains("stop it first"));
        assert_eq!(note_of(&mut live, "sato").as_deref(), Some("new"));
        drop(held);
        // A second server on the same storage is refused the same way.
        let _first = StorageLock::acquire(&db).unwrap();
        assert!(matches!(
            StorageLock::acquire(&db),
            Err(BackupError::InUse(_))
        ));
    }

    #[test]
    fn a_file_that_is_not_our_database_is_refused_before_anything_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("presence.db");
        let mut live = SqliteStore::open(&db).unwrap();
        live.transaction(|tx| tx.save_presence(&record("sato", "keep")))
            .unwrap();
        drop(live);

        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "not a database").unwrap();
        let foreign = dir.path().join("other.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;")
            .unwrap();
        let future = dir.path().join("future.db");
        std::fs::copy(&db, &future).unwrap();
        Connection::open(&future)
            .unwrap()
            .pragma_update(None, "user_version", schema::VERSION + 1)
            .unwrap();

        for bad in [&text, &foreign, &future] {
            let e = restore(bad, &db).unwrap_err();
            assert!(matches!(e, BackupError::Unsound { .. }), "{e}");
        }
        assert!(matches!(
            restore(&dir.path().join("absent.db"), &db),
            Err(BackupError::Missing(_))
        ));
        let mut kept = SqliteStore::open(&db).unwrap();
        assert_eq!(note_of(&mut kept, "sato").as_deref(), Some("keep"));
    }
}
