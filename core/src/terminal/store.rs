//! What the phone keeps between runs, in one SQLite file (WAL): its own record
//! (seed figure 9), the sharing preferences, the colleagues' last presence, the
//! outbox of mails not yet handed to SMTP, and the Notify mails already read.
//! The app may be killed at any moment: every change is one transaction.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::PresenceFields;

const SCHEMA: &str = r#"
    CREATE TABLE IF NOT EXISTS own (id INTEGER PRIMARY KEY CHECK (id = 1), fields TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS pref (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS colleague (
        account TEXT PRIMARY KEY, fields TEXT NOT NULL, received_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, recipient TEXT NOT NULL, raw BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, last_error TEXT);
    CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
"#;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("storage: cannot create {0}: {1}")]
    Create(String, std::io::Error),
    #[error("storage: damaged value: {0}")]
    Corrupt(String),
}

type Result<T> = std::result::Result<T, StoreError>;

/// A mail waiting for SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub raw: Vec<u8>,
    pub attempts: u32,
}

/// A colleague's presence as last received.
#[derive(Debug, Clone, PartialEq)]
pub struct Colleague {
    pub account: String,
    pub fields: PresenceFields,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct TerminalStore {
    conn: Connection,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn to_json(v: &impl Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl TerminalStore {
    /// Opens (creating) `DIR/terminal.db`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Create(dir.display().to_string(), e))?;
        let conn = Connection::open(dir.join("terminal.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    pub fn own(&self) -> Result<Option<PresenceFields>> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT fields FROM own WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        json.map(|j| from_json(&j)).transpose()
    }

    pub fn pref<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT value FROM pref WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        json.map(|j| from_json(&j)).transpose()
    }

    pub fn set_pref(&mut self, key: &str, value: &impl Serialize) -> Result<()> {
        self.conn.execute(
            "INSERT INTO pref (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
            params![key, to_json(value)?],
        )?;
        Ok(())
    }

    /// Saves the own record and queues the mail that publishes it, together.
    pub fn save_own_and_queue(
        &mut self,
        fields: &PresenceFields,
        recipient: &str,
        raw: &[u8],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO own (id, fields) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET fields = ?1",
            [to_json(fields)?],
        )?;
        tx.execute(
            "INSERT INTO outbox (kind, recipient, raw, next_attempt_at) VALUES ('Publish', ?1, ?2, ?3)",
            params![recipient, raw, ms(now)],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn queue(
        &mut self,
        kind: &str,
        recipient: &str,
        raw: &[u8],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO outbox (kind, recipient, raw, next_attempt_at) VALUES (?1, ?2, ?3, ?4)",
            params![kind, recipient, raw, ms(now)],
        )?;
        Ok(())
    }

    pub fn due(&self, now: DateTime<Utc>) -> Result<Vec<Queued>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, recipient, raw, attempts FROM outbox WHERE next_attempt_at <= ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([ms(now)], |r| {
            Ok(Queued {
                id: r.get(0)?,
                kind: r.get(1)?,
                recipient: r.get(2)?,
                raw: r.get(3)?,
                attempts: r.get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Handed to SMTP: gone from the phone.
    pub fn sent(&mut self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn failed(&mut self, id: i64, error: &str, retry_at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, error, ms(retry_at)],
        )?;
        Ok(())
    }

    /// When the next queued mail is due, if any.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<i64> =
            self.conn
                .query_row("SELECT MIN(next_attempt_at) FROM outbox", [], |r| r.get(0))?;
        Ok(next.map(time))
    }

    pub fn outbox_depth(&self) -> Result<u32> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))?
            .clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// Keeps a colleague's presence unless what is stored is newer.
    pub fn save_colleague(
        &mut self,
        account: &str,
        fields: &PresenceFields,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if let Some(old) = self.colleague(account)?
            && let (Some(old_t), Some(new_t)) = (old.fields.updated, fields.updated)
            && new_t < old_t
        {
            return Ok(false);
        }
        self.conn.execute(
            "INSERT INTO colleague (account, fields, received_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(account) DO UPDATE SET fields = ?2, received_at = ?3",
            params![account, to_json(fields)?, ms(now)],
        )?;
        Ok(true)
    }

    pub fn colleague(&self, account: &str) -> Result<Option<Colleague>> {
        let row: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT fields, received_at FROM colleague WHERE account = ?1",
                [account],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(f, t)| {
            Ok(Colleague {
                account: account.to_owned(),
                fields: from_json(&f)?,
                received_at: time(t),
            })
        })
        .transpose()
    }

    pub fn colleagues(&self) -> Result<Vec<Colleague>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT account, fields, received_at FROM colleague ORDER BY account",
        )?;
        let rows: Vec<(String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(account, f, t)| {
                Ok(Colleague {
                    account,
                    fields: from_json(&f)?,
                    received_at: time(t),
                })
            })
            .collect()
    }

    pub fn seen(&self, message_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM seen WHERE message_id = ?1",
                [message_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn mark_seen(&mut self, message_id: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO seen (message_id, at) VALUES (?1, ?2)",
            params![message_id, ms(now)],
        )?;
        Ok(())
    }
}
