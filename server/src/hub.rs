//! What the transports share: the one writer connection to the store, the
//! engine, and the ways out. `Hub::step` is the only way the transports run the
//! engine: one transaction holds the engine's changes and the Notify mails they
//! cause; the NOTIFYs for SIP watchers are handed to the SIP agent after commit.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use tokio::sync::{Notify, mpsc};

use crate::engine::{Delivery, Engine, Step};
use crate::mail::queue_deliveries;
use crate::store::{Medium, SqliteStore, SqliteTx, StoreError, Time};

#[derive(Debug)]
pub struct Hub {
    store: Mutex<SqliteStore>,
    pub engine: Engine,
    /// The server's own mail address (sender of every Notify mail).
    pub address: String,
    /// Woken when mail is queued, so the outbox does not wait for its timer.
    pub outbox_wake: Arc<Notify>,
    sip: Mutex<Option<mpsc::UnboundedSender<Delivery>>>,
}

/// A committed step and how many mails it queued.
#[derive(Debug)]
pub struct Committed {
    pub step: Step,
    pub queued_mails: usize,
}

impl Hub {
    pub fn new(store: SqliteStore, engine: Engine, address: String) -> Arc<Self> {
        Arc::new(Self {
            store: Mutex::new(store),
            engine,
            address,
            outbox_wake: Arc::new(Notify::new()),
            sip: Mutex::new(None),
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

    /// Where SIP deliveries go once the SIP agent runs.
    pub fn connect_sip(&self, deliveries: mpsc::UnboundedSender<Delivery>) {
        *self.sip.lock().unwrap_or_else(|p| p.into_inner()) = Some(deliveries);
    }

    /// Runs `f` (which calls the engine) in one transaction. `None` from `f`
    /// means nothing to do. Mail deliveries are queued before the commit; SIP
    /// deliveries are handed over after it.
    pub fn step(
        &self,
        f: impl FnOnce(&Engine, &mut SqliteTx<'_>, Time) -> Result<Option<Step>, StoreError>,
    ) -> Result<Option<Committed>, StoreError> {
        let now = Utc::now();
        let committed = self.store().transaction(|tx| -> Result<_, StoreError> {
            let Some(step) = f(&self.engine, tx, now)? else {
                return Ok(None);
            };
            let queued_mails = queue_deliveries(tx, &step.deliveries, &self.address, now)?;
            Ok(Some(Committed { step, queued_mails }))
        })?;
        if let Some(c) = &committed {
            if c.queued_mails > 0 {
                self.outbox_wake.notify_one();
            }
            self.forward_sip(&c.step.deliveries);
        }
        Ok(committed)
    }

    fn forward_sip(&self, deliveries: &[Delivery]) {
        let guard = self.sip.lock().unwrap_or_else(|p| p.into_inner());
        for d in deliveries.iter().filter(|d| d.medium == Medium::Sip) {
            match guard.as_ref() {
                Some(tx) if tx.send(d.clone()).is_ok() => {}
                _ => tracing::warn!(to = %d.to, "SIP delivery dropped: SIP is not running"),
            }
        }
    }
}
