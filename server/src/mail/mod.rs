//! The mail side of the server: `intake` reads the presence mailbox over IMAP
//! and hands each mail to the engine; `outbox` hands queued Notify mails to the
//! SMTP server until it accepts them; `tls` sets up certificates for both.

pub mod intake;
pub mod outbox;
pub mod tls;

use std::sync::{Arc, Mutex, MutexGuard};

use mailpresence_core::mail::{self, ComposeEnvelope, PresenceMessage};
use tokio::sync::Notify;

use crate::engine::{Delivery, Engine};
use crate::store::{Medium, SqliteStore, Store, Time};

/// What the mail tasks share: the one writer connection and the engine.
#[derive(Debug)]
pub struct Shared {
    store: Mutex<SqliteStore>,
    pub engine: Engine,
    /// The server's own mail address (sender of every Notify).
    pub address: String,
    /// Woken when mail is queued, so the outbox does not wait for its timer.
    pub outbox_wake: Notify,
}

impl Shared {
    pub fn new(store: SqliteStore, engine: Engine, address: String) -> Arc<Self> {
        Arc::new(Self {
            store: Mutex::new(store),
            engine,
            address,
            outbox_wake: Notify::new(),
        })
    }

    /// The store, for one short synchronous transaction. A panic elsewhere
    /// while holding it cannot leave a half-written transaction (SQLite rolls
    /// it back), so a poisoned lock is safe to take over.
    pub fn store(&self) -> MutexGuard<'_, SqliteStore> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Composes the Notify mails of `deliveries` and queues them in the outbox,
/// inside the caller's transaction. Returns how many were queued.
pub fn queue_deliveries(
    store: &mut dyn Store,
    deliveries: &[Delivery],
    server_address: &str,
    now: Time,
) -> crate::store::Result<usize> {
    let mut queued = 0;
    for d in deliveries {
        if d.medium != Medium::Mail {
            continue;
        }
        let envelope = ComposeEnvelope {
            from: server_address.to_owned(),
            to: d.to.clone(),
            message_id: None,
            in_reply_to: d.reference.clone(),
        };
        match mail::compose(&PresenceMessage::Notify(d.notify.clone()), &envelope) {
            Ok(raw) => {
                store.enqueue_mail(server_address, &d.to, &raw, now)?;
                queued += 1;
                if d.stale {
                    tracing::info!(to = %d.to, notifier = %d.notify.notifier, "presence sent as stale");
                }
            }
            Err(e) => {
                tracing::error!(to = %d.to, notifier = %d.notify.notifier, error = %e, "cannot compose Notify")
            }
        }
    }
    Ok(queued)
}
