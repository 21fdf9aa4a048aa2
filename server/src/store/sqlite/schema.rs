//! The database's schema and how it grows: each migration moves it one
//! version up (`PRAGMA user_version`), under the write lock, so a new file and
//! an old one end the same.

use mailpresence_protocol::schema;
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
    r#"
    -- Requests for the board's sign-in links per source address and per
    -- mail address in the current hour (rate limit). They were counted in
    -- sender_hour, the presence mails' counter, under 'web-ip:' and
    -- 'web-link:' keys: moved here, so an hour's counts survive the upgrade.
    CREATE TABLE sign_in_hour (
        counted_by TEXT NOT NULL,           -- 'source' or 'address'
        key TEXT NOT NULL,
        started_at INTEGER NOT NULL,        -- unix ms
        requests INTEGER NOT NULL,
        PRIMARY KEY (counted_by, key)
    );
    INSERT INTO sign_in_hour (counted_by, key, started_at, requests)
        SELECT 'source', substr(sender, 8), started_at, mails FROM sender_hour
        WHERE substr(sender, 1, 7) = 'web-ip:';
    INSERT INTO sign_in_hour (counted_by, key, started_at, requests)
        SELECT 'address', substr(sender, 10), started_at, mails FROM sender_hour
        WHERE substr(sender, 1, 9) = 'web-link:';
    DELETE FROM sender_hour
        WHERE substr(sender, 1, 7) = 'web-ip:' OR substr(sender, 1, 9) = 'web-link:';
"#,
    r#"
    -- Each person's enrolled phones: the device's Ed25519 public key (its
    -- mails are signed with the private half, which never leaves it), a
    -- name people recognise, when it enrolled and was last heard from, and
    -- when it was revoked (a revoked key's mails are refused; the row stays
    -- so the list shows what happened).
    CREATE TABLE device (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        public_key TEXT NOT NULL UNIQUE,   -- base64url, 32 bytes
        enrolled_at INTEGER NOT NULL,      -- unix ms
        last_seen_at INTEGER,
        revoked_at INTEGER
    );
    CREATE INDEX device_account ON device(account);
"#,
];

/// The schema version this build writes (and the newest it can open).
pub(crate) const VERSION: usize = MIGRATIONS.len();

/// Brings the schema up to date. The write lock is taken first and the
/// version read under it, so two processes opening a new database at once
/// (the server and `--status`) cannot both run the same migration.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    schema::migrate(conn, MIGRATIONS).map_err(|e| match e {
        schema::MigrateError::Sqlite(e) => StoreError::Sqlite(e),
        too_new @ schema::MigrateError::TooNew { .. } => StoreError::Corrupt(too_new.to_string()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use chrono::Utc;
    use mailpresence_protocol::model::{Activity, ActivityToken, Contact, PresenceFields};

    use super::super::SqliteStore;
    use super::*;
    use crate::store::{SignInBy, Store};

    /// The schema version before sign-in requests had their own counter.
    const BEFORE_SIGN_IN_HOUR: usize = 5;

    #[test]
    fn an_upgrade_moves_the_boards_sign_in_counts_out_of_the_mail_senders_counter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("presence.db");
        let now = Utc::now();
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..BEFORE_SIGN_IN_HOUR] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", BEFORE_SIGN_IN_HOUR)
                .unwrap();
            // What the board counted there until now, beside a mail sender.
            conn.execute_batch(&format!(
                "INSERT INTO sender_hour (sender, started_at, mails) VALUES
                   ('web-ip:192.0.2.7', {t}, 4),
                   ('web-link:sato@example.test', {t}, 2),
                   ('tanaka@example.test', {t}, 3);",
                t = now.timestamp_millis()
            ))
            .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        let version: usize = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        let counts = store
            .transaction(|tx| -> Result<Vec<u32>> {
                Ok(vec![
                    tx.count_sign_in(SignInBy::Source, "192.0.2.7", now)?,
                    tx.count_sign_in(SignInBy::Address, "sato@example.test", now)?,
                    tx.count_sender_mail("tanaka@example.test", now)?,
                    // Gone from the mail senders' counter: a count starts anew.
                    tx.count_sender_mail("web-ip:192.0.2.7", now)?,
                ])
            })
            .unwrap();
        assert_eq!(counts, [5, 3, 4, 1]);
    }

    /// Every schema the project has shipped opens, keeps its rows, and works.
    #[test]
    fn every_shipped_version_upgrades_and_keeps_what_it_held() {
        for from in 1..VERSION {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("presence.db");
            {
                let conn = Connection::open(&path).unwrap();
                for sql in &MIGRATIONS[..from] {
                    conn.execute_batch(sql).unwrap();
                }
                conn.pragma_update(None, "user_version", from).unwrap();
                // Rows of the tables every version has had since the first.
                let mut fields = PresenceFields::new(
                    Contact::parse("tanaka@example.test"),
                    Activity::token(ActivityToken::Busy),
                );
                fields.location = Some("東京都千代田区丸の内一丁目".into());
                conn.execute(
                    "INSERT INTO presence (account, fields, source, received_at)
                     VALUES ('tanaka', ?1, 'mail', 1)",
                    [serde_json::to_string(&fields).unwrap()],
                )
                .unwrap();
                conn.execute_batch(
                    "INSERT INTO outbox (sender, recipient, raw, created_at, next_attempt_at)
                     VALUES ('presence@example.test', 'sato@example.test', x'00', 1, 1);",
                )
                .unwrap();
            }
            let mut store = SqliteStore::open(&path).unwrap();
            let version: usize = store
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(version, VERSION, "from version {from}");
            let now = Utc::now();
            let (kept, outbox, signs) = store
                .transaction(|tx| -> Result<_> {
                    let kept = tx.presence(&"tanaka".parse().unwrap())?;
                    let outbox = tx.counts(now)?.outbox_depth;
                    Ok((
                        kept,
                        outbox,
                        tx.count_sign_in(SignInBy::Source, "192.0.2.1", now)?,
                    ))
                })
                .unwrap();
            let kept = kept.unwrap_or_else(|| panic!("from version {from}: presence lost"));
            assert_eq!(
                kept.fields.location.as_deref(),
                Some("東京都千代田区丸の内一丁目"),
                "from version {from}"
            );
            assert_eq!((outbox, signs), (1, 1), "from version {from}");
        }
    }

    #[test]
    fn a_fresh_database_has_every_version() {
        let mut store = SqliteStore::in_memory().unwrap();
        let version: usize = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        let first = store
            .transaction(|tx| tx.count_sign_in(SignInBy::Source, "2001:db8::1", Utc::now()))
            .unwrap();
        assert_eq!(first, 1);
    }
}
