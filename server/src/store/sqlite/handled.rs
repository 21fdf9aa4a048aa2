//! The mails already handled (by Message-ID), so that a mail seen again after
//! a lost IMAP flag is not handled twice; forgotten after a while.

use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, ms};
use crate::store::{Result, Time};

pub(super) fn mail_handled(tx: &SqliteTx<'_>, message_id: &str) -> Result<bool> {
    Ok(tx
        .one_row(
            "SELECT 1 FROM handled_mail WHERE message_id = ?1",
            [message_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub(super) fn mark_mail_handled(
    tx: &mut SqliteTx<'_>,
    message_id: &str,
    verdict: &str,
    now: Time,
) -> Result<()> {
    tx.exec(
        "INSERT OR REPLACE INTO handled_mail (message_id, verdict, handled_at) VALUES (?1, ?2, ?3)",
        params![message_id, verdict, ms(now)],
    )?;
    Ok(())
}

pub(super) fn forget_handled_mail(tx: &mut SqliteTx<'_>, before: Time) -> Result<usize> {
    Ok(tx.exec(
        "DELETE FROM handled_mail WHERE handled_at < ?1",
        [ms(before)],
    )?)
}
