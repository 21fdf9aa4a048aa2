//! Records that outlive a restart until they expire, each a text (JSON)
//! under its kind and key: the SIP agent's dialogs, publications and
//! bindings, the web board's sign-in links and sessions.

use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, ms, time};
use crate::store::{Result, Time};

/// Stores (or replaces) the record `kind`/`key` until `expires_at`.
pub(super) fn put_record(
    tx: &mut SqliteTx<'_>,
    kind: &str,
    key: &str,
    record: &str,
    expires_at: Time,
) -> Result<()> {
    tx.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO expiring_record (kind, key, record, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![kind, key, record, ms(expires_at)])?;
    Ok(())
}

pub(super) fn delete_record(tx: &mut SqliteTx<'_>, kind: &str, key: &str) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM expiring_record WHERE kind = ?1 AND key = ?2")?
        .execute(params![kind, key])?;
    Ok(())
}

/// The record `kind`/`key` if it is still live at `now`.
pub(super) fn record(
    tx: &SqliteTx<'_>,
    kind: &str,
    key: &str,
    now: Time,
) -> Result<Option<String>> {
    Ok(tx
        .conn
        .prepare_cached(
            "SELECT record FROM expiring_record WHERE kind = ?1 AND key = ?2 AND expires_at > ?3",
        )?
        .query_row(params![kind, key, ms(now)], |r| r.get(0))
        .optional()?)
}

/// The records of `kind` still live at `now`, with their expiry.
pub(super) fn records(
    tx: &SqliteTx<'_>,
    kind: &str,
    now: Time,
) -> Result<Vec<(String, String, Time)>> {
    let mut stmt = tx.conn.prepare_cached(
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
pub(super) fn expire_records(tx: &mut SqliteTx<'_>, now: Time) -> Result<usize> {
    Ok(tx
        .conn
        .prepare_cached("DELETE FROM expiring_record WHERE expires_at <= ?1")?
        .execute([ms(now)])?)
}
