//! Hourly counters for rate limits: presence mails per sender.

use rusqlite::params;

use super::{SqliteTx, ms};
use crate::store::{Result, Time};

pub(super) fn count_sender_mail(tx: &mut SqliteTx<'_>, sender: &str, now: Time) -> Result<u32> {
    let hour_ago = ms(now) - 3_600_000;
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
