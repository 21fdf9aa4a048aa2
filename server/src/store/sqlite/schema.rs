//! The database's schema and how it grows: each migration moves it one
//! version up (`PRAGMA user_version`), under the write lock, so a new file and
//! an old one end the same.

use rusqlite::Connection;

use crate::store::{Result, StoreError};

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

/// Brings the schema up to date. The write lock is taken first and the
/// version read under it, so two processes opening a new database at once
/// (the server and `--status`) cannot both run the same migration.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
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
