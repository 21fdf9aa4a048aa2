//! The embedded store: one SQLite file in WAL mode, one writer connection,
//! schema migrations by `PRAGMA user_version`. Each engine step runs in one
//! transaction (or in one savepoint of a batch's transaction), so a crash
//! leaves either all of a mail's effects or none, and a commit is on disk
//! before it returns.
//!
//! One file per job: `schema` (migrations), `presence`, `requests`,
//! `handled` (mails already handled), `outbox`, `counters` (rate limits),
//! `records` (expiring records: SIP state, board sign-ins), `meta` (facts
//! and status counts), `backup` (online backup, restore, and the lock a
//! running server holds), `devices` (enrolled phones and their keys); this
//! file holds the connection, transactions and
//! batches, and hands each [`Store`] operation to its file.

pub mod backup;
mod counters;
pub mod devices;
mod handled;
mod meta;
mod outbox;
mod presence;
mod records;
mod requests;
mod schema;

#[cfg(test)]
pub(crate) use schema::VERSION;

use std::path::Path;

use chrono::{TimeZone, Utc};
use mailpresence_protocol::model::AccountName;
use rusqlite::{Connection, Row, Transaction};

use super::{
    Counts, Device, OutboxMail, PresenceRecord, Request, Result, SignInBy, Store, StoreError, Time,
};

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
        schema::migrate(&mut conn)?;
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

/// One open transaction (or a savepoint inside one); implements [`Store`].
/// Beginning and ending it is its owner's business.
#[derive(Debug)]
pub struct SqliteTx<'c> {
    conn: &'c Connection,
}

/// Times are kept as unix ms, in SQLite as in PostgreSQL (which uses these too).
pub(super) fn ms(t: Time) -> i64 {
    t.timestamp_millis()
}

pub(super) fn time(ms: i64) -> Result<Time> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("time {ms}")))
}

pub(super) fn opt_time(ms: Option<i64>) -> Result<Option<Time>> {
    ms.map(time).transpose()
}

pub(super) fn account(s: String) -> Result<AccountName> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("account {s:?}")))
}

impl SqliteTx<'_> {
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

#[cfg(test)]
impl SqliteTx<'_> {
    /// Runs SQL text as it is (tests set up what the store would not).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<()> {
        Ok(self.conn.execute_batch(sql)?)
    }
}

impl Store for SqliteTx<'_> {
    fn live_device_keys(&self, account: &str) -> Result<Vec<(i64, String)>> {
        devices::live_keys(self, account)
    }

    fn ever_enrolled(&self, account: &str) -> Result<bool> {
        Ok(self.count("SELECT COUNT(*) FROM device WHERE account = ?1", [account])? > 0)
    }

    fn device_seen(&mut self, id: i64, now: Time) -> Result<()> {
        devices::seen(self, id, now)
    }

    fn bind_device(
        &mut self,
        account: &str,
        name: &str,
        public_key: &str,
        now: Time,
    ) -> Result<i64> {
        self.enrol_device(account, name, public_key, now)
    }

    fn live_record(&self, kind: &str, key: &str, now: Time) -> Result<Option<String>> {
        records::record(self, kind, key, now)
    }

    fn take_record(&mut self, kind: &str, key: &str, now: Time) -> Result<Option<String>> {
        let found = records::record(self, kind, key, now)?;
        if found.is_some() {
            records::delete_record(self, kind, key)?;
        }
        Ok(found)
    }

    fn put_record(&mut self, kind: &str, key: &str, record: &str, expires_at: Time) -> Result<()> {
        records::put_record(self, kind, key, record, expires_at)
    }

    fn delete_record(&mut self, kind: &str, key: &str) -> Result<()> {
        records::delete_record(self, kind, key)
    }

    fn records(&self, kind: &str, now: Time) -> Result<Vec<(String, String, Time)>> {
        records::records(self, kind, now)
    }

    fn expire_records(&mut self, now: Time) -> Result<usize> {
        records::expire_records(self, now)
    }

    fn count_sign_in(&mut self, by: SignInBy, key: &str, now: Time) -> Result<u32> {
        counters::count_sign_in(self, by, key, now)
    }

    fn forget_sign_in_counts(&mut self, before: Time) -> Result<usize> {
        counters::forget_sign_in_counts(self, before)
    }

    fn devices_of(&self, account: &str) -> Result<Vec<Device>> {
        self.list_devices(account)
    }

    fn revoke_device(&mut self, account: &str, id: i64, now: Time) -> Result<bool> {
        self.revoke_device_of(account, id, now)
    }

    fn presence(&self, account: &AccountName) -> Result<Option<PresenceRecord>> {
        presence::presence(self, account)
    }

    fn save_presence(&mut self, r: &PresenceRecord) -> Result<()> {
        presence::save_presence(self, r)
    }

    fn expire_locations(&mut self, now: Time) -> Result<usize> {
        presence::expire_locations(self, now)
    }

    fn open_requests_for(&self, notifier: &AccountName, now: Time) -> Result<Vec<Request>> {
        requests::open_requests_for(self, notifier, now)
    }

    fn open_requests_between(
        &self,
        watcher: &AccountName,
        notifier: &AccountName,
        now: Time,
    ) -> Result<Vec<Request>> {
        requests::open_requests_between(self, watcher, notifier, now)
    }

    fn add_request(&mut self, q: &Request) -> Result<i64> {
        requests::add_request(self, q)
    }

    fn update_request(&mut self, q: &Request) -> Result<()> {
        requests::update_request(self, q)
    }

    fn mark_requests_notified(&mut self, ids: &[i64], at: Time) -> Result<()> {
        requests::mark_requests_notified(self, ids, at)
    }

    fn mark_requests_owed(&mut self, ids: &[i64]) -> Result<()> {
        requests::mark_requests_owed(self, ids)
    }

    fn remove_requests_with_reference(&mut self, reference: &str) -> Result<usize> {
        requests::remove_requests_with_reference(self, reference)
    }

    fn expire_requests(&mut self, now: Time) -> Result<usize> {
        requests::expire_requests(self, now)
    }

    fn forget_person(&mut self, account: &AccountName, now: Time) -> Result<usize> {
        let presence = self.exec(
            "DELETE FROM presence WHERE account = ?1",
            [account.as_str()],
        )?;
        let requests = self.exec(
            "DELETE FROM request WHERE watcher = ?1 OR notifier = ?1",
            [account.as_str()],
        )?;
        // Their phones may no longer speak for them.
        let devices = self.revoke_devices_of(account.as_str(), now)?;
        // Nor may a code made for them still enrol one.
        let codes = self.exec(
            "DELETE FROM expiring_record WHERE kind = 'enrolment' AND json_extract(record, '$.account') = ?1",
            [account.as_str()],
        )?;
        Ok(presence + requests + devices + codes)
    }

    fn due_watches(&self, mail_before: Time, sip_before: Time, now: Time) -> Result<Vec<Request>> {
        requests::due_watches(self, mail_before, sip_before, now)
    }

    fn mail_handled(&self, message_id: &str) -> Result<bool> {
        handled::mail_handled(self, message_id)
    }

    fn mark_mail_handled(&mut self, message_id: &str, verdict: &str, now: Time) -> Result<()> {
        handled::mark_mail_handled(self, message_id, verdict, now)
    }

    fn enqueue_mail(
        &mut self,
        sender: &str,
        recipient: &str,
        raw: &[u8],
        replaces: Option<&str>,
        now: Time,
    ) -> Result<i64> {
        outbox::enqueue_mail(self, sender, recipient, raw, replaces, now)
    }

    fn count_sender_mail(&mut self, sender: &str, now: Time) -> Result<u32> {
        counters::count_sender_mail(self, sender, now)
    }

    fn forget_sender_counts(&mut self, before: Time) -> Result<usize> {
        counters::forget_sender_counts(self, before)
    }

    fn due_mails(&self, now: Time, limit: usize) -> Result<Vec<OutboxMail>> {
        outbox::due_mails(self, now, limit)
    }

    fn claim_due_mails(
        &mut self,
        now: Time,
        limit: usize,
        hold_until: Time,
    ) -> Result<Vec<OutboxMail>> {
        // One writer: the rows read are the rows claimed.
        let mut mails = outbox::due_mails(self, now, limit)?;
        for m in &mut mails {
            self.exec(
                "UPDATE outbox SET next_attempt_at = ?2 WHERE id = ?1",
                rusqlite::params![m.id, ms(hold_until)],
            )?;
            m.next_attempt_at = time(ms(hold_until))?;
        }
        Ok(mails)
    }

    fn mark_mail_sent(&mut self, id: i64, _now: Time) -> Result<()> {
        outbox::mark_mail_sent(self, id, _now)
    }

    fn mark_mail_failed(&mut self, id: i64, error: &str, retry_at: Time) -> Result<()> {
        outbox::mark_mail_failed(self, id, error, retry_at)
    }

    fn mark_mail_undeliverable(&mut self, id: i64, error: &str, now: Time) -> Result<()> {
        outbox::mark_mail_undeliverable(self, id, error, now)
    }

    fn next_mail_due(&self) -> Result<Option<Time>> {
        outbox::next_mail_due(self)
    }

    fn forget_handled_mail(&mut self, before: Time) -> Result<usize> {
        handled::forget_handled_mail(self, before)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        meta::set_meta(self, key, value)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        meta::meta(self, key)
    }

    fn counts(&self, now: Time) -> Result<Counts> {
        meta::counts(self, now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;

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
}
