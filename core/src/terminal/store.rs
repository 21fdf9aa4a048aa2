//! What the phone keeps between runs, in one SQLite file (WAL): its own record
//! (seed figure 9), the sharing preferences, the colleagues' last presence, the
//! outbox of mails not yet handed to SMTP, and the Notify mails already read.
//! The app may be killed, or the phone lose power, at any moment: every change
//! is one transaction, on disk when it returns. Schema migrations by
//! `PRAGMA user_version`, like the server's. Colleagues' locations and the
//! record of read Notify mails are not kept for ever: see [`TerminalStore::prune`].

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use mailpresence_protocol::model::PresenceFields;
use mailpresence_protocol::schema;

/// Each entry moves the schema one version up; never edit a shipped one.
const MIGRATIONS: &[&str] = &[
    // The schema before versions were counted (user_version 0): phones that
    // ran it have these tables already, hence IF NOT EXISTS.
    r#"
    CREATE TABLE IF NOT EXISTS own (id INTEGER PRIMARY KEY CHECK (id = 1), fields TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS pref (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS colleague (
        account TEXT PRIMARY KEY, fields TEXT NOT NULL, received_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, recipient TEXT NOT NULL, raw BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, last_error TEXT);
    CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
"#,
    r#"
    -- When a colleague's location was published (unix ms), so that it can be
    -- forgotten after the TTL; NULL when the presence holds no location.
    -- Rows kept before this count from when they were received.
    ALTER TABLE colleague ADD COLUMN location_at INTEGER;
    UPDATE colleague SET location_at = received_at
     WHERE json_extract(fields, '$.location') IS NOT NULL
        OR json_extract(fields, '$.coordinates') IS NOT NULL
        OR json_extract(fields, '$.address') IS NOT NULL;
    CREATE INDEX colleague_location_at ON colleague(location_at) WHERE location_at IS NOT NULL;
    CREATE INDEX seen_at ON seen(at);
"#,
];

/// How long a read Notify's Message-ID is remembered. It guards against the
/// same mail being applied twice when its IMAP flag was lost; a mail older
/// than this would anyway be refused as older than the colleague's presence.
pub const SEEN_MEMORY: Duration = Duration::days(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("storage: cannot create {0}: {1}")]
    Create(String, std::io::Error),
    #[error("storage: damaged value: {0}")]
    Corrupt(String),
    #[error(
        "storage: schema version {found} is newer than this app knows ({known}); update the app"
    )]
    TooNew { found: usize, known: usize },
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

/// What [`TerminalStore::prune`] forgot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Colleagues whose location was dropped (their presence otherwise kept).
    pub locations: Vec<String>,
    /// Message-IDs of read Notify mails forgotten.
    pub seen: usize,
}

#[derive(Debug)]
pub struct TerminalStore {
    conn: Connection,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// `age` before `now` in unix ms; the dawn of time when that is out of range
/// (a TTL of years means: keep).
fn before(now: DateTime<Utc>, age: Duration) -> i64 {
    now.checked_sub_signed(age).map_or(i64::MIN, ms)
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
        let mut conn = Connection::open(dir.join("terminal.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is fsynced before it returns. The outbox and the own
        // record must survive the phone losing power, and a Notify is marked
        // done on the IMAP server only after it is stored.
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Forgotten locations are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        migrate(&mut conn)?;
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

    pub fn remove_pref(&mut self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM pref WHERE key = ?1", [key])?;
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

    /// The queued mails, oldest first: their kind and bytes (for the app's
    /// "waiting to send" view).
    pub fn queued_mails(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT kind, raw FROM outbox ORDER BY id")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn outbox_depth(&self) -> Result<u32> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))?
            .clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// Forgets colleagues' locations published more than `location_ttl` before
    /// `now` (the rest of their presence stays) and read Notify mails older
    /// than [`SEEN_MEMORY`]. For the client to call now and then (a minute
    /// is often enough); one transaction.
    pub fn prune(&mut self, now: DateTime<Utc>, location_ttl: Duration) -> Result<Pruned> {
        let tx = self.conn.transaction()?;
        let expired: Vec<(String, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT account, fields FROM colleague WHERE location_at <= ?1 ORDER BY account",
            )?;
            stmt.query_map([before(now, location_ttl)], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut pruned = Pruned::default();
        for (account, fields) in expired {
            let mut fields: PresenceFields = from_json(&fields)?;
            fields.location = None;
            fields.coordinates = None;
            fields.address = None;
            tx.execute(
                "UPDATE colleague SET fields = ?2, location_at = NULL WHERE account = ?1",
                params![account, to_json(&fields)?],
            )?;
            pruned.locations.push(account);
        }
        pruned.seen = tx.execute("DELETE FROM seen WHERE at < ?1", [before(now, SEEN_MEMORY)])?;
        tx.commit()?;
        Ok(pruned)
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
            "INSERT INTO colleague (account, fields, received_at, location_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(account) DO UPDATE SET fields = ?2, received_at = ?3, location_at = ?4",
            params![account, to_json(fields)?, ms(now), location_at(fields, now).map(ms)],
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

/// When the location of `fields` was published, as far as the phone can tell:
/// its Updated, unless that is later than its arrival. `None` without a location.
fn location_at(fields: &PresenceFields, received: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let has_location =
        fields.location.is_some() || fields.coordinates.is_some() || fields.address.is_some();
    has_location.then(|| {
        fields
            .updated
            .map(|u| u.with_timezone(&Utc))
            .map_or(received, |u| u.min(received))
    })
}

/// Brings the schema up to date, under the write lock so that two openers
/// of a new database (the app and a background task) cannot both migrate.
fn migrate(conn: &mut Connection) -> Result<()> {
    schema::migrate(conn, MIGRATIONS).map_err(|e| match e {
        schema::MigrateError::Sqlite(e) => StoreError::Sqlite(e),
        schema::MigrateError::TooNew { found, known } => StoreError::TooNew { found, known },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use chrono::FixedOffset;

    use super::*;
    use mailpresence_protocol::model::{Activity, ActivityToken};

    /// The schema as phones created it before versions were counted.
    const UNVERSIONED_SCHEMA: &str = r#"
    CREATE TABLE IF NOT EXISTS own (id INTEGER PRIMARY KEY CHECK (id = 1), fields TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS pref (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS colleague (
        account TEXT PRIMARY KEY, fields TEXT NOT NULL, received_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, recipient TEXT NOT NULL, raw BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, last_error TEXT);
    CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
"#;

    const TTL: Duration = Duration::hours(8);

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_000_000 + secs, 0).single().unwrap()
    }

    fn presence(location: Option<&str>, updated: Option<DateTime<Utc>>) -> PresenceFields {
        let mut f = PresenceFields::new(
            "tanaka@example.test",
            Activity::token(ActivityToken::OnSite),
        );
        f.location = location.map(str::to_owned);
        let jst = FixedOffset::east_opt(9 * 3600).unwrap();
        f.updated = updated.map(|u| u.with_timezone(&jst));
        f
    }

    fn pragma(store: &TerminalStore, name: &str) -> i64 {
        store
            .conn
            .pragma_query_value(None, name, |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn commits_are_fsynced_before_they_return() {
        let dir = tempfile::tempdir().unwrap();
        let store = TerminalStore::open(dir.path()).unwrap();
        assert_eq!(
            pragma(&store, "synchronous"),
            2,
            "PRAGMA synchronous must be FULL (2)"
        );
    }

    #[test]
    fn a_database_of_the_unversioned_schema_migrates_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let fields = presence(Some("東京都千代田区丸の内一丁目"), Some(t(0)));
        {
            let old = Connection::open(dir.path().join("terminal.db")).unwrap();
            old.pragma_update(None, "journal_mode", "WAL").unwrap();
            old.execute_batch(UNVERSIONED_SCHEMA).unwrap();
            let json = serde_json::to_string(&fields).unwrap();
            old.execute("INSERT INTO own (id, fields) VALUES (1, ?1)", [&json])
                .unwrap();
            old.execute(
                "INSERT INTO colleague (account, fields, received_at) VALUES ('tanaka', ?1, ?2)",
                params![json, ms(t(60))],
            )
            .unwrap();
            old.execute(
                "INSERT INTO outbox (kind, recipient, raw, next_attempt_at) VALUES ('Publish', 'presence@example.test', X'41', ?1)",
                [ms(t(0))],
            )
            .unwrap();
            old.execute(
                "INSERT INTO seen (message_id, at) VALUES ('<n1@server>', ?1)",
                [ms(t(60))],
            )
            .unwrap();
        }
        let mut store = TerminalStore::open(dir.path()).unwrap();
        assert_eq!(pragma(&store, "user_version"), MIGRATIONS.len() as i64);
        assert_eq!(store.own().unwrap(), Some(fields.clone()));
        assert_eq!(store.colleague("tanaka").unwrap().unwrap().fields, fields);
        assert_eq!(store.due(t(0)).unwrap().len(), 1);
        assert!(store.seen("<n1@server>").unwrap());
        // A location kept before the migration is forgotten too, counted from
        // when it was received.
        let pruned = store.prune(t(60) + TTL, TTL).unwrap();
        assert_eq!(pruned.locations, ["tanaka"]);
        // Opening again changes nothing.
        drop(store);
        let store = TerminalStore::open(dir.path()).unwrap();
        assert_eq!(
            store.colleague("tanaka").unwrap().unwrap().fields.location,
            None
        );
    }

    #[test]
    fn a_database_of_a_newer_app_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(TerminalStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join("terminal.db")).unwrap();
        conn.pragma_update(None, "user_version", MIGRATIONS.len() + 1)
            .unwrap();
        drop(conn);
        assert!(matches!(
            TerminalStore::open(dir.path()),
            Err(StoreError::TooNew { .. })
        ));
    }

    #[test]
    fn a_colleagues_location_is_forgotten_after_the_ttl_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TerminalStore::open(dir.path()).unwrap();
        let there = Some("岐阜県安八町");
        store
            .save_colleague("tanaka", &presence(there, Some(t(0))), t(0))
            .unwrap();
        store
            .save_colleague("suzuki", &presence(there, Some(t(3600))), t(3600))
            .unwrap();
        store
            .save_colleague("sato", &presence(None, Some(t(0))), t(0))
            .unwrap();

        let pruned = store.prune(t(0) + TTL - Duration::seconds(1), TTL).unwrap();
        assert!(pruned.locations.is_empty(), "too early: {pruned:?}");
        let pruned = store.prune(t(0) + TTL, TTL).unwrap();
        assert_eq!(pruned.locations, ["tanaka"]);

        let tanaka = store.colleague("tanaka").unwrap().unwrap();
        assert_eq!(tanaka.fields.location, None);
        assert_eq!(
            tanaka.fields.activity,
            Activity::token(ActivityToken::OnSite)
        );
        assert_eq!(tanaka.fields.updated, presence(None, Some(t(0))).updated);
        let suzuki = store.colleague("suzuki").unwrap().unwrap();
        assert_eq!(suzuki.fields.location.as_deref(), there);
        // Dropped once: the next prune has nothing more to drop for tanaka.
        assert_eq!(
            store.prune(t(3600) + TTL, TTL).unwrap().locations,
            ["suzuki"]
        );
    }

    #[test]
    fn a_location_counts_from_when_it_was_published_not_from_when_it_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TerminalStore::open(dir.path()).unwrap();
        // Published at 0, read from the mailbox two hours later.
        let published_earlier = presence(Some("岐阜県安八町"), Some(t(0)));
        store
            .save_colleague("tanaka", &published_earlier, t(7200))
            .unwrap();
        assert_eq!(store.prune(t(0) + TTL, TTL).unwrap().locations, ["tanaka"]);
    }

    #[test]
    fn read_notify_mails_are_forgotten_after_thirty_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TerminalStore::open(dir.path()).unwrap();
        store.mark_seen("<old@server>", t(0)).unwrap();
        store.mark_seen("<new@server>", t(86_400)).unwrap();
        let pruned = store
            .prune(t(0) + SEEN_MEMORY + Duration::seconds(1), TTL)
            .unwrap();
        assert_eq!(pruned.seen, 1);
        assert!(!store.seen("<old@server>").unwrap());
        assert!(store.seen("<new@server>").unwrap());
    }
}
