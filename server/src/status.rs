//! The status report: how many records, pending requests and queued mails,
//! when the IMAP server was last reached, and what each of the server's loops
//! is doing (state, restarts, last error), how the company directory was
//! last read. Printed by `--status`, logged on
//! SIGUSR1.

use chrono::Utc;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::directory::refresh::{self, LdapState};
use crate::store::{Counts, Database, StoreError, StorePlace};
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
    /// Which store, and whether it could be read.
    pub database: DatabaseState,
}

/// The store as the report found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseState {
    /// `sqlite` or `postgresql`.
    pub kind: &'static str,
    /// The file, or the database's host, port and name (never a password).
    pub at: String,
    /// False when PostgreSQL could not be reached: the counts are then zero
    /// and say nothing.
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DatabaseState {
    pub fn of(place: &StorePlace, error: Option<String>) -> Self {
        Self {
            kind: match place {
                StorePlace::Sqlite(_) => "sqlite",
                StorePlace::Postgres(_) => "postgresql",
            },
            at: place.describe(),
            reachable: error.is_none(),
            error,
        }
    }
}

/// Reads the report from the database (safe beside a running server: WAL,
/// or PostgreSQL's own concurrency). An unreachable PostgreSQL is a report
/// too (it says so); other failures are errors.
pub fn read(place: &StorePlace) -> Result<Status, StoreError> {
    match read_store(place) {
        Err(e @ StoreError::PostgresUnreachable { .. }) => Ok(Status {
            counts: Counts::default(),
            loops: BTreeMap::new(),
            directory: None,
            database: DatabaseState::of(place, Some(e.to_string())),
        }),
        other => other,
    }
}

fn read_store(place: &StorePlace) -> Result<Status, StoreError> {
    let mut store = Database::open_for_reading(place)?;
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
            database: DatabaseState::of(place, None),
        })
    })
}

/// One line for people.
pub fn line(status: &Status) -> String {
    let c = &status.counts;
    if let Some(e) = &status.database.error {
        return format!("database={} unreachable[{e}]", status.database.kind);
    }
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
