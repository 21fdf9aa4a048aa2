//! The embedded store: one SQLite file in WAL mode, one writer connection,
//! schema migrations by `PRAGMA user_version`. Each engine step runs in one
//! transaction (or in one savepoint of a batch's transaction), so a crash
//! leaves either all of a mail's effects or none, and a commit is on disk
//! before it returns.

use std::path::Path;

use chrono::{TimeZone, Utc};
use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{AccountName, PresenceFields};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{
    Counts, Medium, OutboxMail, PresenceRecord, Request, RequestState, Result, Store, StoreError,
    Time,
};

/// Each entry moves the schema one version up; never edit a shipped one.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE presence (
        account TEXT PRIMARY KEY,
        fields TEXT NOT NULL,               -- PresenceFields as JSON
        source TEXT NOT NULL,
        received_at INTEGER NOT NULL,       -- unix ms
        location_expires_at INTEGER
    );
    CREATE TABLE request (
        id INTEGER PRIMARY KEY,
        watcher TEXT NOT NULL,
        notifier TEXT NOT NULL,
        medium TEXT NOT NULL,
        deliver_to TEXT NOT NULL,
        mode TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        reference TEXT,
        last_notified_at INTEGER,
        change_pending INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX request_notifier ON request(notifier);
    CREATE TABLE handled_mail (
        message_id TEXT PRIMARY KEY,
        verdict TEXT NOT NULL,
        handled_at INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        raw BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        sent_at INTEGER
    );
    CREATE INDEX outbox_due ON outbox(sent_at, next_attempt_at);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"#,
    r#"
    -- A newer Notify for the same watcher and colleague replaces an unsent one.
    ALTER TABLE outbox ADD COLUMN replace_key TEXT;
    CREATE INDEX outbox_replace ON outbox(replace_key) WHERE sent_at IS NULL;
    -- Presence mails per sender in the current hour (rate limit).
    CREATE TABLE sender_hour (
        sender TEXT PRIMARY KEY,
        started_at INTEGER NOT NULL,
        mails INTEGER NOT NULL
    );
"#,
    r#"
    -- SIP state that outlives a restart: subscription dialogs, publications,
    -- registrar bindings; each a JSON record under its kind and key, gone
    -- when it expires.
    CREATE TABLE sip_record (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        record TEXT NOT NULL,
        expires_at INTEGER NOT NULL,        -- unix ms
        PRIMARY KEY (kind, key)
    );
    CREATE INDEX sip_record_expiry ON sip_record(expires_at);
"#,
    r#"
    -- The same records serve the web board too (sign-in links, sessions):
    -- named for what they are, records that expire.
    ALTER TABLE sip_record RENAME TO expiring_record;
"#,
    r#"
    -- A SUBSCRIBE looks for its watcher's own request to renew; an ended
    -- SIP dialog removes its request by reference.
    CREATE INDEX request_watcher ON request(watcher, notifier);
    CREATE INDEX request_reference ON request(reference) WHERE reference IS NOT NULL;
"#,
];

/// The SQLite database of one server.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating when missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Create {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // Switching a new file to WAL can answer BUSY at once while another
        // process sets it up (SQLite does not wait there): try again shortly.
        let mut tries = 0;
        loop {
            match Self::setup(Connection::open(path)?) {
                Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 100 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// Opens an existing database for reading only (the status report): never
    /// creates or migrates it.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(StoreError::Corrupt(format!(
                "no database at {} yet: has the server run?",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Self { conn })
    }

    /// A private database in memory (for tests of the engine).
    pub fn in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Self> {
        // First: another process may be opening the same new file right now.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL: readers (the status command) never block the writer. FULL:
        // every commit is fsynced before it returns, so it survives a power
        // cut too (NORMAL would only survive a crash of this process) — the
        // IMAP "done" flag and the SIP 200 OK are given after the commit and
        // promise that. Batches keep the cost at one fsync per group of steps.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted rows (sent Notify mails, old locations) are overwritten, not
        // left in free pages: no location trail on disk.
        conn.pragma_update(None, "secure_delete", "ON")?;
        // Room for every statement of the store's hot paths (16 by default).
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn)?;
        Ok(Self { conn })
    }

    /// Runs `f` in one transaction: committed when it returns Ok, rolled back otherwise.
    pub fn transaction<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut SqliteTx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let value = f(&mut SqliteTx { conn: &tx })?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Opens one transaction for many steps (see [`SqliteBatch`]). Dropped
    /// without [`SqliteBatch::commit`], it is rolled back.
    pub fn batch(&mut self) -> Result<SqliteBatch<'_>> {
        Ok(SqliteBatch {
            tx: self.conn.transaction()?,
            broken: false,
        })
    }
}

/// One transaction holding many independent steps, each in its own savepoint:
/// a failing step is rolled back alone, the others are committed together
/// with one fsync.
#[derive(Debug)]
pub struct SqliteBatch<'c> {
    tx: Transaction<'c>,
    /// A failed step could not be undone: the batch must not commit.
    broken: bool,
}

impl SqliteBatch<'_> {
    /// Runs `f` in a savepoint: kept (until the batch commits) when it returns
    /// Ok, undone when it returns Err.
    ///
    /// The savepoint statements go through the statement cache; rusqlite's
    /// `Savepoint` parses them anew for every step, twice per PUBLISH.
    pub fn step<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut SqliteTx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if self.broken {
            return Err(StoreError::Corrupt("an earlier step could not be undone".into()).into());
        }
        self.savepoint("SAVEPOINT step")?;
        match f(&mut SqliteTx { conn: &self.tx }) {
            Ok(value) => {
                self.savepoint("RELEASE step")?;
                Ok(value)
            }
            Err(e) => {
                if self.savepoint("ROLLBACK TO step").is_err()
                    || self.savepoint("RELEASE step").is_err()
                {
                    self.broken = true;
                }
                Err(e)
            }
        }
    }

    fn savepoint(&mut self, sql: &str) -> Result<()> {
        let done = self.tx.prepare_cached(sql).and_then(|mut s| s.execute([]));
        if done.is_err() {
            // A savepoint out of step with its step: nothing of this batch
            // may be trusted any more.
            self.broken = true;
        }
        done.map(|_| ()).map_err(StoreError::from)
    }

    /// Commits every step kept; durable when this returns Ok. A batch with a
    /// step that could not be undone is rolled back instead.
    pub fn commit(self) -> Result<()> {
        if self.broken {
            return Err(StoreError::Corrupt(
                "a step of this batch could not be undone; rolled back".into(),
            ));
        }
        Ok(self.tx.commit()?)
    }
}

/// Brings the schema up to date. The write lock is taken first and the
/// version read under it, so two processes opening a new database at once
/// (the server and `--status`) cannot both run the same migration.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "schema version {version} is newer than this server knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// One open transaction (or a savepoint inside one); implements [`Store`].
/// Beginning and ending it is its owner's business.
#[derive(Debug)]
pub struct SqliteTx<'c> {
    conn: &'c Connection,
}

fn ms(t: Time) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> Result<Time> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("time {ms}")))
}

fn opt_time(ms: Option<i64>) -> Result<Option<Time>> {
    ms.map(time).transpose()
}

fn account(s: String) -> Result<AccountName> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("account {s:?}")))
}

fn mode_str(m: SubscribeMode) -> &'static str {
    m.as_str()
}

fn request_from_row(row: &Row<'_>) -> rusqlite::Result<RawRequest> {
    Ok(RawRequest {
        id: row.get(0)?,
        watcher: row.get(1)?,
        notifier: row.get(2)?,
        medium: row.get(3)?,
        deliver_to: row.get(4)?,
        mode: row.get(5)?,
        state: row.get(6)?,
        created_at: row.get(7)?,
        expires_at: row.get(8)?,
        reference: row.get(9)?,
        last_notified_at: row.get(10)?,
        change_pending: row.get(11)?,
    })
}

const REQUEST_COLUMNS: &str = "id, watcher, notifier, medium, deliver_to, mode, state, created_at, expires_at, reference, last_notified_at, change_pending";

/// A request row before its values are checked.
struct RawRequest {
    id: i64,
    watcher: String,
    notifier: String,
    medium: String,
    deliver_to: String,
    mode: String,
    state: String,
    created_at: i64,
    expires_at: i64,
    reference: Option<String>,
    last_notified_at: Option<i64>,
    change_pending: bool,
}

impl RawRequest {
    fn check(self) -> Result<Request> {
        Ok(Request {
            id: self.id,
            watcher: account(self.watcher)?,
            notifier: account(self.notifier)?,
            medium: Medium::parse(&self.medium)?,
            deliver_to: self.deliver_to,
            mode: match self.mode.as_str() {
                "once" => SubscribeMode::Once,
                "watch" => SubscribeMode::Watch,
                other => return Err(StoreError::Corrupt(format!("mode {other:?}"))),
            },
            state: match self.state.as_str() {
                "unprocessed" => RequestState::Unprocessed,
                "processed" => RequestState::Processed,
                other => return Err(StoreError::Corrupt(format!("state {other:?}"))),
            },
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            reference: self.reference,
            last_notified_at: opt_time(self.last_notified_at)?,
            change_pending: self.change_pending,
        })
    }
}

fn state_str(s: RequestState) -> &'static str {
    match s {
        RequestState::Unprocessed => "unprocessed",
        RequestState::Processed => "processed",
    }
}

impl SqliteTx<'_> {
    fn requests(&self, sql_where: &str, params: impl rusqlite::Params) -> Result<Vec<Request>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM request WHERE {sql_where} ORDER BY id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let raw = stmt
            .query_map(params, request_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raw.into_iter().map(RawRequest::check).collect()
    }

    /// Runs a statement through the connection's statement cache: the hot
    /// paths (every PUBLISH saves presence) would otherwise parse their SQL
    /// anew each time, which `perf` showed as a tenth of the server's time.
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(params)
    }

    /// One row of a query, through the statement cache (see [`Self::exec`]).
    fn one_row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached(sql)?.query_row(params, f)
    }

    fn count(&self, sql: &str, params: impl rusqlite::Params) -> Result<u64> {
        Ok(self.one_row(sql, params, |r| r.get::<_, i64>(0))?.max(0) as u64)
    }
}

/// Records that outlive a restart until they expire, each a text (JSON)
/// under its kind and key: the SIP agent's dialogs, publications and
/// bindings, the web board's sign-in links and sessions.
impl SqliteTx<'_> {
    /// Stores (or replaces) the record `kind`/`key` until `expires_at`.
    pub fn put_record(
        &mut self,
        kind: &str,
        key: &str,
        record: &str,
        expires_at: Time,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO expiring_record (kind, key, record, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![kind, key, record, ms(expires_at)])?;
        Ok(())
    }

    pub fn delete_record(&mut self, kind: &str, key: &str) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM expiring_record WHERE kind = ?1 AND key = ?2")?
            .execute(params![kind, key])?;
        Ok(())
    }

    /// The record `kind`/`key` if it is still live at `now`.
    pub fn record(&self, kind: &str, key: &str, now: Time) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT record FROM expiring_record WHERE kind = ?1 AND key = ?2 AND expires_at > ?3",
            )?
            .query_row(params![kind, key, ms(now)], |r| r.get(0))
            .optional()?)
    }

    /// The records of `kind` still live at `now`, with their expiry.
    pub fn records(&self, kind: &str, now: Time) -> Result<Vec<(String, String, Time)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, record, expires_at FROM expiring_record WHERE kind = ?1 AND expires_at > ?2 ORDER BY key",
        )?;
        let rows = stmt
            .query_map(params![kind, ms(now)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(k, v, t)| Ok((k, v, time(t)?)))
            .collect()
    }

    /// Drops every record expired at `now`.
    pub fn expire_records(&mut self, now: Time) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM expiring_record WHERE expires_at <= ?1")?
            .execute([ms(now)])?)
    }
}

impl Store for SqliteTx<'_> {
    fn presence(&self, account: &AccountName) -> Result<Option<PresenceRecord>> {
        let row = self.one_row(
                "SELECT fields, source, received_at, location_expires_at FROM presence WHERE account = ?1",
                [account.as_str()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<i64>>(3)?)),
            )
            .optional()?;
        let Some((fields, source, received, loc_exp)) = row else {
            return Ok(None);
        };
        let fields: PresenceFields = serde_json::from_str(&fields)
            .map_err(|e| StoreError::Corrupt(format!("presence of {account}: {e}")))?;
        Ok(Some(PresenceRecord {
            account: account.clone(),
            fields,
            source: Medium::parse(&source)?,
            received_at: time(received)?,
            location_expires_at: opt_time(loc_exp)?,
        }))
    }

    fn save_presence(&mut self, r: &PresenceRecord) -> Result<()> {
        let fields =
            serde_json::to_string(&r.fields).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.exec(
            "INSERT INTO presence (account, fields, source, received_at, location_expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(account) DO UPDATE SET fields = ?2, source = ?3, received_at = ?4, location_expires_at = ?5",
            params![r.account.as_str(), fields, r.source.as_str(), ms(r.received_at), r.location_expires_at.map(ms)],
        )?;
        Ok(())
    }

    fn expire_locations(&mut self, now: Time) -> Result<usize> {
        let expired: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT account FROM presence WHERE location_expires_at IS NOT NULL AND location_expires_at <= ?1")?;
            stmt.query_map([ms(now)], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for name in &expired {
            let acc = account(name.clone())?;
            if let Some(mut rec) = self.presence(&acc)? {
                rec.fields.location = None;
                rec.fields.coordinates = None;
                rec.fields.address = None;
                rec.location_expires_at = None;
                self.save_presence(&rec)?;
            }
        }
        Ok(expired.len())
    }

    fn open_requests_for(&self, notifier: &AccountName, now: Time) -> Result<Vec<Request>> {
        self.requests(
            "notifier = ?1 AND expires_at > ?2 AND (state = 'unprocessed' OR mode = 'watch')",
            params![notifier.as_str(), ms(now)],
        )
    }

    fn open_requests_between(
        &self,
        watcher: &AccountName,
        notifier: &AccountName,
        now: Time,
    ) -> Result<Vec<Request>> {
        self.requests(
            "watcher = ?1 AND notifier = ?2 AND expires_at > ?3 AND (state = 'unprocessed' OR mode = 'watch')",
            params![watcher.as_str(), notifier.as_str(), ms(now)],
        )
    }

    fn add_request(&mut self, q: &Request) -> Result<i64> {
        self.exec(
            "INSERT INTO request (watcher, notifier, medium, deliver_to, mode, state, created_at, expires_at, reference, last_notified_at, change_pending)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                q.watcher.as_str(), q.notifier.as_str(), q.medium.as_str(), q.deliver_to, mode_str(q.mode),
                state_str(q.state), ms(q.created_at), ms(q.expires_at), q.reference,
                q.last_notified_at.map(ms), q.change_pending
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_request(&mut self, q: &Request) -> Result<()> {
        self.exec(
            "UPDATE request SET state = ?2, expires_at = ?3, last_notified_at = ?4, change_pending = ?5 WHERE id = ?1",
            params![q.id, state_str(q.state), ms(q.expires_at), q.last_notified_at.map(ms), q.change_pending],
        )?;
        Ok(())
    }

    fn remove_requests_with_reference(&mut self, reference: &str) -> Result<usize> {
        Ok(self.exec("DELETE FROM request WHERE reference = ?1", [reference])?)
    }

    fn expire_requests(&mut self, now: Time) -> Result<usize> {
        // Answered once-requests are kept until expiry too: they are the record
        // that the question was answered.
        Ok(self.exec("DELETE FROM request WHERE expires_at <= ?1", [ms(now)])?)
    }

    fn due_watches(&self, mail_before: Time, sip_before: Time, now: Time) -> Result<Vec<Request>> {
        self.requests(
            "mode = 'watch' AND change_pending = 1 AND expires_at > ?3 AND (last_notified_at IS NULL \
             OR last_notified_at <= CASE medium WHEN 'sip' THEN ?2 ELSE ?1 END)",
            params![ms(mail_before), ms(sip_before), ms(now)],
        )
    }

    fn mail_handled(&self, message_id: &str) -> Result<bool> {
        Ok(self
            .one_row(
                "SELECT 1 FROM handled_mail WHERE message_id = ?1",
                [message_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn mark_mail_handled(&mut self, message_id: &str, verdict: &str, now: Time) -> Result<()> {
        self.exec(
            "INSERT OR REPLACE INTO handled_mail (message_id, verdict, handled_at) VALUES (?1, ?2, ?3)",
            params![message_id, verdict, ms(now)],
        )?;
        Ok(())
    }

    fn enqueue_mail(
        &mut self,
        sender: &str,
        recipient: &str,
        raw: &[u8],
        replaces: Option<&str>,
        now: Time,
    ) -> Result<i64> {
        if let Some(key) = replaces {
            // Deleted, not updated: a sender holding the old row's id then
            // finds nothing to mark, and the new row is sent after it.
            self.exec(
                "DELETE FROM outbox WHERE replace_key = ?1 AND sent_at IS NULL",
                [key],
            )?;
        }
        self.exec(
            "INSERT INTO outbox (sender, recipient, raw, created_at, next_attempt_at, replace_key) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            params![sender, recipient, raw, ms(now), replaces],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn count_sender_mail(&mut self, sender: &str, now: Time) -> Result<u32> {
        let hour_ago = ms(now) - 3_600_000;
        let mails: i64 = self.one_row(
            "INSERT INTO sender_hour (sender, started_at, mails) VALUES (?1, ?2, 1)
             ON CONFLICT(sender) DO UPDATE SET
               mails = CASE WHEN started_at <= ?3 THEN 1 ELSE mails + 1 END,
               started_at = CASE WHEN started_at <= ?3 THEN ?2 ELSE started_at END
             RETURNING mails",
            params![sender, ms(now), hour_ago],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(mails).unwrap_or(u32::MAX))
    }

    fn forget_sender_counts(&mut self, before: Time) -> Result<usize> {
        Ok(self.exec(
            "DELETE FROM sender_hour WHERE started_at < ?1",
            [ms(before)],
        )?)
    }

    fn due_mails(&self, now: Time, limit: usize) -> Result<Vec<OutboxMail>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, sender, recipient, raw, attempts, next_attempt_at FROM outbox
             WHERE sent_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![ms(now), limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<(i64, String, String, Vec<u8>, i64, i64)>>>()?;
        rows.into_iter()
            .map(|(id, sender, recipient, raw, attempts, next)| {
                Ok(OutboxMail {
                    id,
                    sender,
                    recipient,
                    raw,
                    attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
                    next_attempt_at: time(next)?,
                })
            })
            .collect()
    }

    fn mark_mail_sent(&mut self, id: i64, _now: Time) -> Result<()> {
        // A sent Notify may hold a location: it is not kept.
        self.exec("DELETE FROM outbox WHERE id = ?1", [id])?;
        Ok(())
    }

    fn mark_mail_failed(&mut self, id: i64, error: &str, retry_at: Time) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, error, ms(retry_at)],
        )?;
        Ok(())
    }

    fn mark_mail_undeliverable(&mut self, id: i64, error: &str, now: Time) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, sent_at = ?3, raw = X'' WHERE id = ?1",
            params![id, format!("undeliverable: {error}"), ms(now)],
        )?;
        Ok(())
    }

    fn next_mail_due(&self) -> Result<Option<Time>> {
        let next: Option<i64> = self.one_row(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE sent_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        opt_time(next)
    }

    fn forget_handled_mail(&mut self, before: Time) -> Result<usize> {
        Ok(self.exec(
            "DELETE FROM handled_mail WHERE handled_at < ?1",
            [ms(before)],
        )?)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .one_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn counts(&self, now: Time) -> Result<Counts> {
        Ok(Counts {
            records: self.count("SELECT COUNT(*) FROM presence", [])?,
            pending_requests: self.count(
                "SELECT COUNT(*) FROM request WHERE state = 'unprocessed' AND expires_at > ?1",
                [ms(now)],
            )?,
            open_watches: self.count(
                "SELECT COUNT(*) FROM request WHERE mode = 'watch' AND expires_at > ?1",
                [ms(now)],
            )?,
            outbox_depth: self.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL", [])?,
            mails_handled: self.count("SELECT COUNT(*) FROM handled_mail", [])?,
            undeliverable_mails: self.count(
                "SELECT COUNT(*) FROM outbox WHERE last_error LIKE 'undeliverable:%'",
                [],
            )?,
            last_imap_contact: self.meta("last_imap_contact")?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use mailpresence_protocol::model::{Activity, ActivityToken};

    use super::*;

    fn record(account: &str) -> PresenceRecord {
        PresenceRecord {
            account: account.parse().unwrap(),
            fields: PresenceFields::new(
                format!("{account}@example.test"),
                Activity::token(ActivityToken::Busy),
            ),
            source: Medium::Sip,
            received_at: Utc::now(),
            location_expires_at: None,
        }
    }

    fn stored(store: &mut SqliteStore, account: &str) -> bool {
        let account = account.parse().unwrap();
        store
            .transaction(|tx| tx.presence(&account))
            .unwrap()
            .is_some()
    }

    #[test]
    fn a_commit_is_fsynced_before_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("presence.db")).unwrap();
        let journal: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let synchronous: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(synchronous, 2, "PRAGMA synchronous must be FULL (2)");
    }

    #[test]
    fn a_batch_whose_commit_fails_keeps_none_of_its_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("presence.db")).unwrap();
        // A deferred foreign key is checked at COMMIT: a way to make it fail.
        store
            .conn
            .execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .unwrap();
        let mut batch = store.batch().unwrap();
        batch
            .step(|tx| tx.save_presence(&record("tanaka")))
            .unwrap();
        batch
            .step(|tx| -> Result<()> {
                tx.conn
                    .execute("INSERT INTO child (parent) VALUES (42)", [])?;
                Ok(())
            })
            .unwrap();
        assert!(batch.commit().is_err());
        assert!(!stored(&mut store, "tanaka"));
        // The connection is usable again: the failed transaction was rolled back.
        store
            .transaction(|tx| tx.save_presence(&record("sato")))
            .unwrap();
        assert!(stored(&mut store, "sato"));
    }
}
