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

impl SqliteTx<'_> {
    /// Counts one more request for a sign-in link by `by` (`key`: the source
    /// address or the mail address) in its current hour, and returns the
    /// count, this one included.
    pub fn count_sign_in(&mut self, by: SignInBy, key: &str, now: Time) -> Result<u32> {
        let hour_ago = ms(now) - HOUR_MS;
        let requests: i64 = self.one_row(
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
    pub fn forget_sign_in_counts(&mut self, before: Time) -> Result<usize> {
        Ok(self.exec(
            "DELETE FROM sign_in_hour WHERE started_at < ?1",
            [ms(before)],
        )?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use chrono::{Duration, Utc};

    use super::super::SqliteStore;
    use super::*;
    use crate::store::Store;

    #[test]
    fn sign_in_requests_are_counted_per_source_and_address_each_hour_apart_from_mail() {
        let mut store = SqliteStore::in_memory().unwrap();
        let start = Utc::now();
        let counts = store
            .transaction(|tx| -> Result<Vec<u32>> {
                Ok(vec![
                    tx.count_sign_in(SignInBy::Source, "192.0.2.7", start)?,
                    tx.count_sign_in(SignInBy::Source, "192.0.2.7", start)?,
                    // The same text counted by the other measure is another count.
                    tx.count_sign_in(SignInBy::Address, "192.0.2.7", start)?,
                    // Presence mails from that "sender" are not the board's business.
                    tx.count_sender_mail("192.0.2.7", start)?,
                    tx.count_sign_in(SignInBy::Source, "192.0.2.7", start + Duration::minutes(59))?,
                    // The hour is over: a new one starts with this request.
                    tx.count_sign_in(SignInBy::Source, "192.0.2.7", start + Duration::minutes(61))?,
                ])
            })
            .unwrap();
        assert_eq!(counts, [1, 2, 1, 1, 3, 1]);
        let later = start + Duration::hours(3);
        let forgotten = store
            .transaction(|tx| tx.forget_sign_in_counts(later - Duration::hours(1)))
            .unwrap();
        assert_eq!(forgotten, 2, "both counts' hours started long ago");
        let fresh = store
            .transaction(|tx| tx.count_sign_in(SignInBy::Address, "192.0.2.7", later))
            .unwrap();
        assert_eq!(fresh, 1);
    }
}
