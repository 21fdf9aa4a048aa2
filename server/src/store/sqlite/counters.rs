//! Hourly counters for rate limits: presence mails per sender (the engine's
//! limit, through [`Store`](crate::store::Store)), and requests for the
//! board's sign-in links per source and per mail address (each in its own
//! table). A count's hour starts with its first event after the last hour
//! ended.

use rusqlite::params;

use super::{SqliteTx, ms};
use crate::store::{Result, SignInBy, Time};

/// An hour in unix ms.
const HOUR_MS: i64 = 3_600_000;

pub(super) fn count_sender_mail(tx: &mut SqliteTx<'_>, sender: &str, now: Time) -> Result<u32> {
    let hour_ago = ms(now) - HOUR_MS;
    let mails: i64 = tx.one_row(
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

pub(super) fn forget_sender_counts(tx: &mut SqliteTx<'_>, before: Time) -> Result<usize> {
    Ok(tx.exec(
        "DELETE FROM sender_hour WHERE started_at < ?1",
        [ms(before)],
    )?)
}

/// Counts one more request for a sign-in link by `by` (`key`: the source
/// address or the mail address) in its current hour, and returns the
/// count, this one included.
pub(super) fn count_sign_in(
    tx: &mut SqliteTx<'_>,
    by: SignInBy,
    key: &str,
    now: Time,
) -> Result<u32> {
    let hour_ago = ms(now) - HOUR_MS;
    let requests: i64 = tx.one_row(
        "INSERT INTO sign_in_hour (counted_by, key, started_at, requests) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT(counted_by, key) DO UPDATE SET
               requests = CASE WHEN started_at <= ?4 THEN 1 ELSE requests + 1 END,
               started_at = CASE WHEN started_at <= ?4 THEN ?3 ELSE started_at END
             RETURNING requests",
        params![by.as_str(), key, ms(now), hour_ago],
        |r| r.get(0),
    )?;
    Ok(u32::try_from(requests).unwrap_or(u32::MAX))
}

/// Forgets sign-in counts of hours that started before `before`.
pub(super) fn forget_sign_in_counts(tx: &mut SqliteTx<'_>, before: Time) -> Result<usize> {
    Ok(tx.exec(
        "DELETE FROM sign_in_hour WHERE started_at < ?1",
        [ms(before)],
    )?)
}
