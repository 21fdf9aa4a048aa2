//! The outbox: mails waiting for the SMTP server, a newer Notify replacing an
//! unsent older one, retries, and what is kept of a mail refused for good.

use rusqlite::params;

use super::{SqliteTx, ms, opt_time, time};
use crate::store::{OutboxMail, Result, Time};

pub(super) fn enqueue_mail(
    tx: &mut SqliteTx<'_>,
    sender: &str,
    recipient: &str,
    raw: &[u8],
    replaces: Option<&str>,
    now: Time,
) -> Result<i64> {
    if let Some(key) = replaces {
        // Deleted, not updated: a sender holding the old row's id then
        // finds nothing to mark, and the new row is sent after it.
        tx.exec(
            "DELETE FROM outbox WHERE replace_key = ?1 AND sent_at IS NULL",
            [key],
        )?;
    }
    tx.exec(
        "INSERT INTO outbox (sender, recipient, raw, created_at, next_attempt_at, replace_key) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        params![sender, recipient, raw, ms(now), replaces],
    )?;
    Ok(tx.conn.last_insert_rowid())
}

pub(super) fn due_mails(tx: &SqliteTx<'_>, now: Time, limit: usize) -> Result<Vec<OutboxMail>> {
    let mut stmt = tx.conn.prepare_cached(
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

pub(super) fn mark_mail_sent(tx: &mut SqliteTx<'_>, id: i64, _now: Time) -> Result<()> {
    // A sent Notify may hold a location: it is not kept.
    tx.exec("DELETE FROM outbox WHERE id = ?1", [id])?;
    Ok(())
}

pub(super) fn mark_mail_failed(
    tx: &mut SqliteTx<'_>,
    id: i64,
    error: &str,
    retry_at: Time,
) -> Result<()> {
    tx.exec(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
        params![id, error, ms(retry_at)],
    )?;
    Ok(())
}

pub(super) fn mark_mail_undeliverable(
    tx: &mut SqliteTx<'_>,
    id: i64,
    error: &str,
    now: Time,
) -> Result<()> {
    tx.exec(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, sent_at = ?3, raw = X'' WHERE id = ?1",
        params![id, format!("undeliverable: {error}"), ms(now)],
    )?;
    Ok(())
}

pub(super) fn next_mail_due(tx: &SqliteTx<'_>) -> Result<Option<Time>> {
    let next: Option<i64> = tx.one_row(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE sent_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    opt_time(next)
}
