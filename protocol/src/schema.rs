//! Schema versions of an SQLite store, the one way both the phone's store and
//! the server's store move their files forward: a list of SQL steps, the
//! number of steps applied kept in `PRAGMA user_version`, every missing step
//! applied in one immediate transaction (two processes opening one file at
//! once migrate it once), and a file newer than the program refused rather
//! than misread. Each store keeps its own list of steps.

use rusqlite::{Connection, TransactionBehavior};

/// Why a store's schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the file has schema version {found}; this program knows versions up to {known}")]
    TooNew { found: usize, known: usize },
}

/// Applies the steps of `migrations` the file does not have yet.
pub fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > migrations.len() {
        return Err(MigrateError::TooNew {
            found: version,
            known: migrations.len(),
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const STEPS: [&str; 2] = [
        "CREATE TABLE a (x INTEGER);",
        "ALTER TABLE a ADD COLUMN y TEXT;",
    ];

    fn version(conn: &Connection) -> usize {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn missing_steps_are_applied_once_and_counted() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &STEPS[..1]).unwrap();
        assert_eq!(version(&conn), 1);
        migrate(&mut conn, &STEPS).unwrap();
        migrate(&mut conn, &STEPS).unwrap();
        assert_eq!(version(&conn), 2);
        conn.execute("INSERT INTO a (x, y) VALUES (1, 'b')", [])
            .unwrap();
    }

    #[test]
    fn a_file_from_a_newer_program_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &STEPS).unwrap();
        let err = migrate(&mut conn, &STEPS[..1]).unwrap_err();
        assert!(
            matches!(err, MigrateError::TooNew { found: 2, known: 1 }),
            "{err}"
        );
        assert_eq!(version(&conn), 2);
    }

    #[test]
    fn a_failing_step_leaves_the_file_as_it_was() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = [STEPS[0], "THIS IS NOT SQL"];
        assert!(migrate(&mut conn, &broken).is_err());
        assert_eq!(version(&conn), 0);
    }
}
