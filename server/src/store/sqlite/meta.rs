//! Small facts the server keeps (`meta`: the last IMAP contact), and the
//! counts of every table for the status report and the metrics.

use chrono::TimeZone;
use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, ms};
use crate::store::{Counts, Result, Store, Time};

pub(super) fn set_meta(tx: &mut SqliteTx<'_>, key: &str, value: &str) -> Result<()> {
    tx.exec(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
        params![key, value],
    )?;
    Ok(())
}

pub(super) fn meta(tx: &SqliteTx<'_>, key: &str) -> Result<Option<String>> {
    Ok(tx
        .one_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub(super) fn counts(tx: &SqliteTx<'_>, now: Time) -> Result<Counts> {
    Ok(Counts {
        records: tx.count("SELECT COUNT(*) FROM presence", [])?,
        pending_requests: tx.count(
            "SELECT COUNT(*) FROM request WHERE state = 'unprocessed' AND expires_at > ?1",
            [ms(now)],
        )?,
        open_watches: tx.count(
            "SELECT COUNT(*) FROM request WHERE mode = 'watch' AND expires_at > ?1",
            [ms(now)],
        )?,
        outbox_depth: tx.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL", [])?,
        mails_handled: tx.count("SELECT COUNT(*) FROM handled_mail", [])?,
        undeliverable_mails: tx.count(
            "SELECT COUNT(*) FROM outbox WHERE last_error LIKE 'undeliverable:%'",
            [],
        )?,
        last_imap_contact: tx.meta("last_imap_contact")?,
        outbox_oldest: tx
            .one_row(
                "SELECT MIN(created_at) FROM outbox WHERE sent_at IS NULL",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )?
            .and_then(|t| chrono::Utc.timestamp_millis_opt(t).single())
            .map(|t| t.to_rfc3339()),
        sip_dialogs: records_of(tx, "dialog", now)?,
        sip_publications: records_of(tx, "publication", now)?,
        sip_bindings: records_of(tx, "binding", now)?,
    })
}

/// Unexpired expiring records of one kind (the SIP agent's kinds).
fn records_of(tx: &SqliteTx<'_>, kind: &str, now: Time) -> Result<u64> {
    tx.count(
        "SELECT COUNT(*) FROM expiring_record WHERE kind = ?1 AND expires_at > ?2",
        params![kind, ms(now)],
    )
}
