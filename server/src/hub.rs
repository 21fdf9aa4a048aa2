//! What the transports share: the one writer connection to the store, the
//! engine, and the ways out. `Hub::step` and `Hub::steps` are the only ways the
//! transports run the engine: one transaction holds the engine's changes and
//! the Notify mails they cause; the NOTIFYs for SIP watchers are handed to the
//! SIP agent after commit, and the saved presence to the web board's feed.
//! `steps` groups many steps in one transaction, so that a burst costs one
//! fsync, not one per step. On a shared store the commit also tells the
//! other instances whose presence changed (`instances.rs` takes theirs in).

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::Utc;
use tokio::sync::{Notify, mpsc};

use crate::directory::Directory;
use crate::engine::{Delivery, Engine, Step};
use crate::feed::Feed;
use crate::mail::queue_deliveries;
use crate::memos::MemoBoard;
use crate::metrics::Metrics;
use crate::store::{Database, DatabaseBatch, Medium, PresenceRecord, Store, StoreError, Time};

/// What a caller gives [`Hub::step`] and [`Batch::step`]: it runs the engine on
/// the open transaction; `None` means nothing to do.
pub type StepResult = Result<Option<Step>, StoreError>;

#[derive(Debug)]
pub struct Hub {
    /// SQLite, or PostgreSQL shared with other instances.
    store: Mutex<Database>,
    /// Replaced whole when the directory is refreshed; each step runs on the
    /// engine it started with.
    engine: RwLock<Arc<Engine>>,
    /// The server's own mail address (sender of every Notify mail).
    pub address: String,
    /// Woken when mail is queued, so the outbox does not wait for its timer.
    pub outbox_wake: Arc<Notify>,
    sip: Mutex<Option<mpsc::UnboundedSender<Delivery>>>,
    /// Committed presence changes, for the web board.
    pub feed: Feed,
    /// What the transports count for `/metrics`.
    pub metrics: Metrics,
    /// The server's Ed25519 key: every Notify and Enrolled mail is signed
    /// with it (phones pinned its public half at enrolment).
    signing_key: std::sync::OnceLock<ed25519_dalek::SigningKey>,
    /// This process among the instances on a shared store: its own
    /// announcements come back to it and are skipped.
    pub instance: String,
    /// The 伝言メモ on the board's rows (a copy of the store's).
    pub memos: MemoBoard,
}

/// A committed step and how many mails it queued. Inside a [`Batch`] it is
/// kept, and committed when [`Hub::steps`] returns Ok.
#[derive(Debug)]
pub struct Committed {
    pub step: Step,
    pub queued_mails: usize,
}

impl Hub {
    pub fn new(store: impl Into<Database>, engine: Engine, address: String) -> Arc<Self> {
        Arc::new(Self {
            store: Mutex::new(store.into()),
            engine: RwLock::new(Arc::new(engine)),
            address,
            outbox_wake: Arc::new(Notify::new()),
            sip: Mutex::new(None),
            feed: Feed::new(),
            metrics: Metrics::default(),
            signing_key: std::sync::OnceLock::new(),
            instance: format!("{:016x}", rand::random::<u64>()),
            memos: MemoBoard::default(),
        })
    }

    /// The server's signing key, once it was given.
    pub fn signing_key(&self) -> Option<&ed25519_dalek::SigningKey> {
        self.signing_key.get()
    }

    /// Gives the hub the server's signing key, once, before the outbox runs.
    pub fn set_signing_key(&self, key: ed25519_dalek::SigningKey) {
        let _ = self.signing_key.set(key);
    }

    /// The store, for one short synchronous transaction. A panic elsewhere
    /// while holding it cannot leave a half-written transaction (SQLite and
    /// PostgreSQL roll it back), so a poisoned lock is safe to take over.
    pub fn store(&self) -> MutexGuard<'_, Database> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The engine now (a refresh may replace it for later steps).
    pub fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Who is who now, and who may see whom.
    pub fn directory(&self) -> Arc<Directory> {
        self.engine().shared_directory()
    }

    /// From now on, steps and transports see `directory`.
    pub fn replace_directory(&self, directory: Directory) {
        let mut engine = self.engine.write().unwrap_or_else(|p| p.into_inner());
        *engine = Arc::new(engine.with_directory(directory));
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
        f: impl FnOnce(&Engine, &mut dyn Store, Time) -> StepResult,
    ) -> Result<Option<Committed>, StoreError> {
        self.steps(|batch| batch.step(f))?
    }

    /// Runs `f`, which runs any number of steps through the [`Batch`], in one
    /// transaction with one fsync. Each step is kept or undone on its own
    /// (see [`Batch::step`]); when this returns Ok every kept step is durable,
    /// and only then are their SIP deliveries handed over and the outbox woken.
    /// When it returns Err (the commit failed) none of them is kept, whatever
    /// their own results said.
    ///
    /// `f` must not block on I/O (the store is held for all writers meanwhile)
    /// and must not call `step` or `steps` again: the store's lock is not
    /// reentrant.
    pub fn steps<T>(&self, f: impl FnOnce(&mut Batch<'_>) -> T) -> Result<T, StoreError> {
        let (value, queued_mails, sip) = {
            let mut store = self.store();
            let mut batch = Batch {
                hub: self,
                store: store.batch()?,
                queued_mails: 0,
                sip: Vec::new(),
                published: Vec::new(),
            };
            let value = f(&mut batch);
            let accounts: Vec<&str> = batch.published.iter().map(|r| r.account.as_str()).collect();
            batch.store.announce(&self.instance, &accounts)?;
            batch.store.commit()?;
            // Still under the store's lock: the feed gets changes in commit order.
            for record in batch.published {
                self.feed.push(record);
            }
            (value, batch.queued_mails, batch.sip)
        };
        if queued_mails > 0 {
            self.outbox_wake.notify_one();
        }
        self.forward_sip(sip);
        Ok(value)
    }

    /// Hands NOTIFYs to this instance's SIP agent (for a change committed
    /// through another instance, see `instances.rs`); its dialogs send them.
    pub fn hand_to_sip(&self, deliveries: Vec<Delivery>) {
        self.forward_sip(deliveries);
    }

    /// Moved, not copied: a fan-out to thousands of dialogs is as many
    /// deliveries, each with its presence.
    fn forward_sip(&self, deliveries: Vec<Delivery>) {
        if deliveries.is_empty() {
            return;
        }
        let guard = self.sip.lock().unwrap_or_else(|p| p.into_inner());
        for d in deliveries {
            let dropped = match guard.as_ref() {
                Some(tx) => tx.send(d).err().map(|refused| refused.0),
                None => Some(d),
            };
            if let Some(d) = dropped {
                tracing::warn!(to = %d.to, "SIP delivery dropped: SIP is not running");
            }
        }
    }
}

/// Steps waiting for one commit; see [`Hub::steps`].
#[derive(Debug)]
pub struct Batch<'h> {
    hub: &'h Hub,
    store: DatabaseBatch<'h>,
    queued_mails: usize,
    /// SIP deliveries of the kept steps, handed over after the commit.
    sip: Vec<Delivery>,
    /// Presence the kept steps saved, for the board's feed after the commit.
    published: Vec<PresenceRecord>,
}

impl Batch<'_> {
    /// This process's name among the instances on the store (see [`Hub::instance`]).
    pub fn instance(&self) -> &str {
        &self.hub.instance
    }

    /// Runs `f` like [`Hub::step`], in a savepoint of the batch: on Err its
    /// changes are undone and the other steps of the batch are not touched.
    /// A step sees the changes of the steps before it in the batch.
    pub fn step(
        &mut self,
        f: impl FnOnce(&Engine, &mut dyn Store, Time) -> StepResult,
    ) -> Result<Option<Committed>, StoreError> {
        let now = Utc::now();
        let hub = self.hub;
        let committed = self.store.step(|tx| -> Result<_, StoreError> {
            let Some(step) = f(&hub.engine(), tx, now)? else {
                return Ok(None);
            };
            let queued_mails =
                queue_deliveries(tx, &step, &hub.address, hub.signing_key.get(), now)?;
            Ok(Some(Committed { step, queued_mails }))
        })?;
        if let Some(c) = &committed {
            self.queued_mails += c.queued_mails;
            let sip = c.step.deliveries.iter().filter(|d| d.medium == Medium::Sip);
            self.sip.extend(sip.cloned());
            self.published.extend(c.step.published.clone());
        }
        Ok(committed)
    }
}
