//! Subscriptions changing hands between instances on a shared store (see
//! `dialogs`): this instance's heartbeat, taking over the dialogs of one
//! whose heartbeat stopped, and letting go of a dialog another took over.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{Outgoing, Subscriptions, stored, view};
use crate::hub::Batch;

/// How often an instance on a shared store writes its heartbeat, and how
/// long one lasts: the others take over its dialogs at most this long (plus
/// one beat) after it died.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
const HEARTBEAT_LASTS: Duration = Duration::from_secs(3);

impl Subscriptions {
    /// On a shared store, once a second: this instance's heartbeat, and when
    /// another instance's stopped since the last beat, its dialogs taken over
    /// (each told the state now, which it may have missed meanwhile).
    /// Returns whether another instance's heartbeat stopped, so that its
    /// other SIP state (publications) is taken over too.
    pub(in crate::sip::agent) fn keep_alive(
        &mut self,
        now: Instant,
        b: &mut Batch<'_>,
        out: &mut Outgoing<'_>,
    ) -> bool {
        if !self.shared
            || self
                .last_beat
                .is_some_and(|at| now.duration_since(at) < HEARTBEAT_EVERY)
        {
            return false;
        }
        self.last_beat = Some(now);
        let me = b.instance().to_owned();
        let mut live = HashSet::new();
        let beat = b.step(|_, tx, now| {
            let lasts = chrono::Duration::from_std(HEARTBEAT_LASTS).unwrap_or_default();
            tx.put_record(stored::INSTANCE, &me, "{}", now + lasts)?;
            live = tx
                .records(stored::INSTANCE, now)?
                .into_iter()
                .map(|(instance, ..)| instance)
                .collect();
            Ok(None)
        });
        if let Err(e) = beat {
            warn!(error = %e, "heartbeat not stored");
            return false;
        }
        let stopped: Vec<&String> = self.live.iter().filter(|i| !live.contains(*i)).collect();
        if stopped.is_empty() {
            self.live = live;
            return false;
        }
        info!(instances = ?stopped, "another instance's heartbeat stopped; taking over its SIP subscriptions");
        self.live = live;
        for id in self.dialogs.adopt_orphans(b) {
            let Some(d) = self.dialogs.get(&id) else {
                continue;
            };
            let (watcher, presentity) = (d.watcher.clone(), d.presentity.clone());
            let fields = view(&watcher, &presentity, b);
            self.send_notify(&id, fields.as_ref(), b, out);
        }
        true
    }

    /// Whether dialog `id` was taken over by another instance (on its
    /// refresh there): then this one forgets it, sending nothing more in it
    /// and leaving its record and request to the new owner.
    pub(super) fn let_go_if_taken(
        &mut self,
        id: &str,
        b: &mut Batch<'_>,
        out: &mut Outgoing<'_>,
    ) -> bool {
        if !self.shared || !self.dialogs.taken_elsewhere(id, b) {
            return false;
        }
        info!(dialog = %id, "SIP subscription taken over by another instance; let go");
        self.dialogs.remove(id);
        out.transactions.forget_dialog(id);
        true
    }
}
