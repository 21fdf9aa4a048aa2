//! The status report: how many records, pending requests and queued mails, and
//! when the IMAP server was last reached. Printed by `--status`, logged on SIGUSR1.

use std::path::Path;

use chrono::Utc;

use crate::store::{Counts, SqliteStore, Store, StoreError};

/// Reads the counts from the database (safe beside a running server: WAL).
pub fn read(storage: &Path) -> Result<Counts, StoreError> {
    let mut store = SqliteStore::open_read_only(storage)?;
    store.transaction(|tx| tx.counts(Utc::now()))
}

/// One line for people.
pub fn line(c: &Counts) -> String {
    format!(
        "records={} pending_requests={} open_watches={} outbox_depth={} mails_handled={} last_imap_contact={}",
        c.records,
        c.pending_requests,
        c.open_watches,
        c.outbox_depth,
        c.mails_handled,
        c.last_imap_contact.as_deref().unwrap_or("never")
    )
}
