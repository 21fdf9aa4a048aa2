//! The subscription dialogs (RFC 6665 §4.1: one per watcher and presentity,
//! named by Call-ID and both tags), counted per watcher for the bounds, and
//! what of them is stored so that a restart does not end them: a UDP dialog
//! is kept in SQLite (written with the group that changes it) and resumed
//! when the server starts again; a TCP or TLS dialog dies with its
//! connection, so a planned shutdown ends it with a reason that makes the
//! phone subscribe again. [`Dialogs`] is the map; `Subscriptions` owns it
//! and decides what happens to a dialog.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mailpresence_protocol::model::AccountName;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::stored;
use crate::hub::{Batch, Hub};
use crate::sip::message::{Message, uri_of};
use crate::sip::transport::Peer;

/// How a dialog ends; the reason goes into the last NOTIFY's
/// Subscription-State (RFC 6665 §4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Expired, withdrawn by the watcher, or a fetch: no retry expected.
    Timeout,
    /// The server stops and cannot keep the dialog: subscribe again now
    /// (RFC 6665 `deactivated`, meant for moving subscriptions). Not
    /// `probation` with `retry-after`: baresip 1.0 waits at least 300 s
    /// after that, whatever `retry-after` says; after `deactivated`, 5 s.
    Deactivated,
}

impl Ending {
    pub(super) fn subscription_state(self) -> String {
        match self {
            Self::Timeout => "terminated;reason=timeout".into(),
            Self::Deactivated => "terminated;reason=deactivated".into(),
        }
    }
}

/// One watcher's subscription to one presentity.
#[derive(Debug)]
pub(super) struct Dialog {
    pub(super) call_id: String,
    /// Our To header (with our tag) and theirs (their From, with their tag).
    pub(super) local_party: String,
    pub(super) remote_party: String,
    /// Request-URI of our NOTIFYs: their Contact.
    pub(super) remote_target: String,
    pub(super) presentity: AccountName,
    pub(super) watcher: AccountName,
    /// Where the SUBSCRIBE came from; NOTIFYs go there, not to the Contact
    /// (it may be a GRUU or a private address).
    pub(super) peer: Peer,
    pub(super) cseq: u32,
    pub(super) expires_at: Instant,
    /// The watcher has answered one of our NOTIFYs: its address is proven to
    /// be its own, so a lost NOTIFY may be resent there. Until then we send
    /// each NOTIFY once, so that a SUBSCRIBE with a forged source cannot turn
    /// the server into a datagram cannon aimed at someone else.
    pub(super) answered: bool,
    /// When the watcher was last heard from in this dialog (its SUBSCRIBE,
    /// a refresh, an answered NOTIFY): a fan-out goes to the most recently
    /// heard first, so live phones do not wait behind dead ones.
    pub(super) heard_at: Instant,
    /// A final NOTIFY was sent; the dialog ends when it is answered.
    pub(super) ending: Option<Ending>,
}

impl Dialog {
    /// The dialog a SUBSCRIBE from `peer` opens, with our `tag`, lasting `expires`.
    pub(super) fn opened_by(
        req: &Message,
        peer: &Peer,
        tag: &str,
        (watcher, presentity): (&AccountName, &AccountName),
        expires: u32,
    ) -> Self {
        let to = req.header("To").unwrap_or_default();
        let from = req.header("From").unwrap_or_default();
        Self {
            call_id: req.header("Call-ID").unwrap_or_default().to_owned(),
            local_party: format!("{to};tag={tag}"),
            remote_party: from.to_owned(),
            remote_target: req
                .header("Contact")
                .map(uri_of)
                .unwrap_or_else(|| uri_of(from))
                .to_owned(),
            presentity: presentity.clone(),
            watcher: watcher.clone(),
            peer: peer.clone(),
            cseq: 0,
            expires_at: Instant::now() + Duration::from_secs(u64::from(expires)),
            answered: false,
            heard_at: Instant::now(),
            ending: None,
        }
    }
}

/// What a stored dialog holds (its expiry is the store row's).
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    call_id: String,
    local_party: String,
    remote_party: String,
    remote_target: String,
    presentity: AccountName,
    watcher: AccountName,
    peer: SocketAddr,
    cseq: u32,
    answered: bool,
}

/// The live dialogs by id, counted per watcher for the bounds.
#[derive(Debug, Default)]
pub(super) struct Dialogs {
    by_id: HashMap<String, Dialog>,
    per_watcher: HashMap<AccountName, usize>,
}

impl Dialogs {
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn of_watcher(&self, watcher: &AccountName) -> usize {
        self.per_watcher.get(watcher).copied().unwrap_or(0)
    }

    pub(super) fn get(&self, id: &str) -> Option<&Dialog> {
        self.by_id.get(id)
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut Dialog> {
        self.by_id.get_mut(id)
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub(super) fn insert(&mut self, id: String, dialog: Dialog) {
        *self.per_watcher.entry(dialog.watcher.clone()).or_default() += 1;
        if let Some(old) = self.by_id.insert(id, dialog) {
            self.uncount(&old.watcher);
        }
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<Dialog> {
        let dialog = self.by_id.remove(id)?;
        self.uncount(&dialog.watcher);
        Some(dialog)
    }

    fn uncount(&mut self, watcher: &AccountName) {
        if let Some(n) = self.per_watcher.get_mut(watcher) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_watcher.remove(watcher);
            }
        }
    }

    /// The ids of the dialogs that `matches`.
    pub(super) fn ids_where(&self, matches: impl Fn(&Dialog) -> bool) -> Vec<String> {
        self.by_id
            .iter()
            .filter(|(_, d)| matches(d))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The dialogs stored by an earlier run, still live.
    pub(super) fn resume(hub: &Hub) -> Self {
        let mut dialogs = Self::default();
        for (id, s, left) in stored::load::<Stored>(hub, stored::DIALOG) {
            dialogs.insert(
                id,
                Dialog {
                    call_id: s.call_id,
                    local_party: s.local_party,
                    remote_party: s.remote_party,
                    remote_target: s.remote_target,
                    presentity: s.presentity,
                    watcher: s.watcher,
                    peer: Peer::Udp(s.peer),
                    cseq: s.cseq,
                    expires_at: Instant::now() + left,
                    answered: s.answered,
                    // Not kept across a restart: all resumed dialogs rank
                    // alike, behind any opened or answered since.
                    heard_at: Instant::now(),
                    ending: None,
                },
            );
        }
        if dialogs.len() > 0 {
            info!(
                subscriptions = dialogs.len(),
                "SIP subscriptions resumed from the store"
            );
        }
        dialogs
    }

    /// Writes dialog `id` to the store with the group, when it can outlive a
    /// restart (UDP, not ending).
    pub(super) fn store(&self, id: &str, b: &mut Batch<'_>) {
        let Some(d) = self.by_id.get(id) else {
            return;
        };
        let Peer::Udp(peer) = d.peer else {
            return;
        };
        if d.ending.is_some() {
            return;
        }
        let record = Stored {
            call_id: d.call_id.clone(),
            local_party: d.local_party.clone(),
            remote_party: d.remote_party.clone(),
            remote_target: d.remote_target.clone(),
            presentity: d.presentity.clone(),
            watcher: d.watcher.clone(),
            peer,
            cseq: d.cseq,
            answered: d.answered,
        };
        let left = d.expires_at.saturating_duration_since(Instant::now());
        stored::put(b, stored::DIALOG, id, &record, left);
    }

    /// Removes dialog `id` from the store only (it is ending, or gone).
    pub(super) fn forget_stored(id: &str, b: &mut Batch<'_>) {
        stored::delete(b, stored::DIALOG, id);
    }
}
