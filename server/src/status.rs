//! The status report: how many records, pending requests and queued mails,
//! when the IMAP server was last reached, and what each of the server's loops
//! is doing (state, restarts, last error), how the company directory was
//! last read. Printed by `--status`, logged on
//! SIGUSR1.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Utc;
use serde::Serialize;

use crate::directory::refresh::{self, LdapState};
use crate::store::{Counts, SqliteStore, Store, StoreError};
use crate::supervisor::{LoopState, META_KEY};

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub counts: Counts,
    /// Each loop by name (`intake`, `outbox`, `sip`, `clock`, `directory`).
    pub loops: BTreeMap<String, LoopState>,
    /// How the last read of the LDAP directory went (with `[directory]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<LdapState>,
}

/// Reads the report from the database (safe beside a running server: WAL).
pub fn read(storage: &Path) -> Result<Status, StoreError> {
    let mut store = SqliteStore::open_read_only(storage)?;
    store.transaction(|tx| {
        let counts = tx.counts(Utc::now())?;
        let loops = tx
            .meta(META_KEY)?
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        let directory = tx
            .meta(refresh::STATE_KEY)?
            .and_then(|json| serde_json::from_str(&json).ok());
        Ok(Status {
            counts,
            loops,
            directory,
        })
    })
}

/// One line for people.
pub fn line(status: &Status) -> String {
    let c = &status.counts;
    let mut out = format!(
        "records={} pending_requests={} open_watches={} outbox_depth={} undeliverable_mails={} mails_handled={} last_imap_contact={}",
        c.records,
        c.pending_requests,
        c.open_watches,
        c.outbox_depth,
        c.undeliverable_mails,
        c.mails_handled,
        c.last_imap_contact.as_deref().unwrap_or("never")
    );
    if let Some(d) = &status.directory {
        out.push_str(&format!(
            " directory_people={} directory_read_at={}",
            d.people,
            d.read_at.as_deref().unwrap_or("never")
        ));
        if let Some(e) = &d.error {
            out.push_str(&format!("[last error: {e}]"));
        }
    }
    for (name, s) in &status.loops {
        out.push_str(&format!(" {name}={}", s.state));
        if s.restarts > 0 {
            out.push_str(&format!("(restarts={})", s.restarts));
        }
        if let Some(detail) = &s.detail {
            out.push_str(&format!("[{detail}]"));
        }
        if let Some(e) = &s.last_error {
            out.push_str(&format!("[last error: {e}]"));
        }
    }
    out
}
