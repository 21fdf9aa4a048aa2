//! The phone's queue of mails to send, as the shared outbox policy sees it:
//! the adapter [`PhoneOutbox`] over the phone store's outbox table, the
//! envelope every mail the phone sends carries, and the check at open that
//! the account's addresses can be put on a mail at all. It knows nothing of
//! the client; `outbox.rs` composes the mails and `loops.rs` sends them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::config::TerminalConfig;
use super::engine::subscribe_message;
use super::store::{StoreError, TerminalStore};
use crate::error::Error;
use mailpresence_protocol::mail::{self, ComposeEnvelope, SubscribeMode};
use mailpresence_protocol::model::AccountName;
use mailpresence_protocol::transport::outbox::{OutboxStore, QueuedMail};

/// The phone's outbox table, seen through the shared outbox policy. While
/// the platform says the phone is offline nothing is due, so no try is made.
#[derive(Debug, Clone)]
pub(super) struct PhoneOutbox {
    store: Arc<Mutex<TerminalStore>>,
    sender: String,
    online: Arc<AtomicBool>,
}

impl PhoneOutbox {
    pub(super) fn new(
        store: Arc<Mutex<TerminalStore>>,
        sender: String,
        online: Arc<AtomicBool>,
    ) -> Self {
        Self {
            store,
            sender,
            online,
        }
    }

    fn store(&self) -> MutexGuard<'_, TerminalStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl OutboxStore for PhoneOutbox {
    type Error = StoreError;

    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<QueuedMail>, StoreError> {
        if !self.online.load(Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        let mut due = self.store().due(now)?;
        due.truncate(limit);
        Ok(due
            .into_iter()
            .map(|q| QueuedMail {
                id: q.id,
                sender: self.sender.clone(),
                recipient: q.recipient,
                raw: q.raw,
                attempts: q.attempts,
            })
            .collect())
    }

    fn sent(&self, id: i64, _now: DateTime<Utc>) -> Result<(), StoreError> {
        self.store().sent(id)
    }

    fn retry(&self, id: i64, error: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.store().failed(id, error, at)
    }

    /// Refused for good: the phone keeps no copy (it may hold a location).
    fn undeliverable(&self, id: i64, _error: &str, _now: DateTime<Utc>) -> Result<(), StoreError> {
        self.store().sent(id)
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store().next_due()
    }
}

/// Every mail the phone sends goes from the worker to the presence server.
pub(super) fn envelope(config: &TerminalConfig) -> ComposeEnvelope {
    ComposeEnvelope {
        from: config.mail.clone(),
        to: config.presence_server.clone(),
        ..Default::default()
    }
}

/// Refuses an account whose own or presence server address could never be
/// put on a mail (checked when the client opens, not at the first send).
pub(super) fn check_addresses(account: &AccountName, config: &TerminalConfig) -> Result<(), Error> {
    // Both go into IMAP searches and headers: a bare addr-spec only.
    for address in [&config.mail, &config.presence_server] {
        if !mail::is_plain_address(address) {
            return Err(Error::InvalidInput(format!(
                "{address:?} is not a plain mail address"
            )));
        }
    }
    let probe = subscribe_message(
        account,
        &config.mail,
        vec![account.clone()],
        SubscribeMode::Once,
        None,
    );
    mail::compose(&probe, &envelope(config))
        .map(|_| ())
        .map_err(|_| {
            Error::InvalidInput(format!(
                "{} or {} is not a mail address",
                config.mail, config.presence_server
            ))
        })
}
