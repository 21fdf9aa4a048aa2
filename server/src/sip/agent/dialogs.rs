//! The subscription dialogs (RFC 6665 §4.1: one per watcher and presentity,
//! named by Call-ID and both tags), counted per watcher for the bounds, and
//! what of them is stored so that a restart does not end them: a UDP dialog
//! is kept in SQLite (written with the group that changes it) and resumed
//! when the server starts again; a TCP or TLS dialog dies with its
//! connection, so a planned shutdown ends it with a reason that makes the
//! phone subscribe again. [`Dialogs`] is the map; `Subscriptions` owns it
//! and decides what happens to a dialog.
//!
//! On a store shared by instances each stored dialog names the instance
//! that holds it (`owner`), the only one that sends NOTIFYs in it. A dialog
//! changes hands in a transaction of the store (they take turns): a
//! refresh that reaches another instance moves it there, and so does an
//! instance whose heartbeat is gone (see `Subscriptions::keep_alive`); the
//! one that held it finds the new owner in the record before its next
//! NOTIFY and lets go.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mailpresence_protocol::model::AccountName;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::stored;
use crate::hub::Batch;
use crate::sip::message::{Message, uri_of};
use crate::sip::transport::Peer;
use crate::store::{StoreError, Time};

/// CSeqs of NOTIFYs reserved in the store at a time (see `Dialogs::store`):
/// a fan-out's NOTIFY writes its dialog to the store once in this many.
const CSEQ_BLOCK: u32 = 100;

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
    /// The CSeq of our last NOTIFY in this dialog.
    pub(super) cseq: u32,
    /// The highest CSeq the store allows this dialog: the stored record
    /// holds it, so a dialog resumed after a restart or taken over goes on
    /// above any CSeq it may have used. Reserved a block at a time (see
    /// `Dialogs::store`): most NOTIFYs write nothing before they go.
    pub(super) cseq_reserved: u32,
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
    /// A NOTIFY of ours in this dialog awaits its answer. Until it comes no
    /// other is sent (`behind` notes the change instead): a phone that went
    /// away gets one NOTIFY, resent until given up on, not one per change.
    pub(super) awaiting: bool,
    /// Presence changed while a NOTIFY was awaited: the newest state goes
    /// when it is answered.
    pub(super) behind: bool,
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
            cseq_reserved: 0,
            expires_at: Instant::now() + Duration::from_secs(u64::from(expires)),
            answered: false,
            heard_at: Instant::now(),
            awaiting: false,
            behind: false,
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
    /// The instance that holds the dialog (empty in records of a store
    /// written before instances shared one: whoever starts takes them).
    #[serde(default)]
    owner: String,
}

impl stored::Held for Stored {
    fn owner(&self) -> &str {
        &self.owner
    }
    fn set_owner(&mut self, instance: &str) {
        instance.clone_into(&mut self.owner);
    }
}

impl Stored {
    fn into_dialog(self, left: Duration) -> Dialog {
        Dialog {
            call_id: self.call_id,
            local_party: self.local_party,
            remote_party: self.remote_party,
            remote_target: self.remote_target,
            presentity: self.presentity,
            watcher: self.watcher,
            peer: Peer::Udp(self.peer),
            cseq: self.cseq,
            cseq_reserved: self.cseq,
            expires_at: Instant::now() + left,
            answered: self.answered,
            // Not kept in the store: all taken-over dialogs rank alike,
            // behind any opened or answered since.
            heard_at: Instant::now(),
            // A NOTIFY the other instance awaited is its own; the next change is sent.
            awaiting: false,
            behind: false,
            ending: None,
        }
    }
}

/// The stored dialog `id`, with its expiry, if it is live and readable.
fn read_stored(
    tx: &dyn crate::store::Store,
    id: &str,
    now: Time,
) -> Result<Option<Stored>, StoreError> {
    let Some(json) = tx.live_record(stored::DIALOG, id, now)? else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&json).ok())
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

    /// Takes over the stored dialogs whose instance is gone — one whose
    /// heartbeat is not live, an earlier run of this server's — in one step
    /// of the group, so that two instances cannot both take one. Returns the
    /// ids taken.
    pub(super) fn adopt_orphans(&mut self, b: &mut Batch<'_>) -> Vec<String> {
        let adopted = match stored::adopt_orphans::<Stored>(b, stored::DIALOG) {
            Ok(adopted) => adopted,
            Err(e) => {
                warn!(error = %e, "stored SIP subscriptions not readable; phones renew them on their refresh");
                return Vec::new();
            }
        };
        let ids: Vec<String> = adopted.iter().map(|(id, ..)| id.clone()).collect();
        for (id, s, left) in adopted {
            self.insert(id, s.into_dialog(left));
        }
        if !ids.is_empty() {
            info!(
                subscriptions = ids.len(),
                "SIP subscriptions taken over from the store"
            );
        }
        ids
    }

    /// Takes stored dialog `id` into memory, held by another instance or
    /// by none: a refresh for it reached this one. The caller stores it
    /// (as this instance's, with the refresh's expiry) in the same group, so
    /// it changes hands in one transaction. Whether there was one.
    pub(super) fn adopt(&mut self, id: &str, b: &mut Batch<'_>) -> bool {
        let mut found = None;
        let result = b.step(|_, tx, now| {
            found = read_stored(tx, id, now)?;
            Ok(None)
        });
        let (Ok(_), Some(s)) = (result, found) else {
            return false;
        };
        info!(dialog = %id, from = %s.owner, "SIP subscription taken over on its refresh");
        self.insert(id.to_owned(), s.into_dialog(Duration::ZERO));
        true
    }

    /// Whether dialog `id`, held here, was taken over by another instance
    /// since (its record names another owner). Only stored (UDP) dialogs
    /// can be.
    pub(super) fn taken_elsewhere(&self, id: &str, b: &mut Batch<'_>) -> bool {
        if !self
            .by_id
            .get(id)
            .is_some_and(|d| matches!(d.peer, Peer::Udp(_)))
        {
            return false;
        }
        let me = b.instance().to_owned();
        let mut other = false;
        let read = b.step(|_, tx, now| {
            if let Some(s) = read_stored(tx, id, now)? {
                other = !s.owner.is_empty() && s.owner != me;
            }
            Ok(None)
        });
        read.is_ok() && other
    }

    /// Writes dialog `id` to the store with the group, when it can outlive a
    /// restart (UDP, not ending), with the next block of CSeqs reserved
    /// when the last is used up. The record's CSeq is the top of the block:
    /// after a restart the dialog's CSeq jumps, which a phone takes (RFC
    /// 3261 §12.2.2: a UAS should accept a CSeq more than one higher).
    pub(super) fn store(&mut self, id: &str, b: &mut Batch<'_>) {
        let Some(d) = self.by_id.get_mut(id) else {
            return;
        };
        if d.cseq >= d.cseq_reserved {
            d.cseq_reserved = d.cseq.saturating_add(CSEQ_BLOCK);
        }
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
            cseq: d.cseq_reserved,
            answered: d.answered,
            owner: b.instance().to_owned(),
        };
        let left = d.expires_at.saturating_duration_since(Instant::now());
        stored::put(b, stored::DIALOG, id, &record, left);
    }

    /// Removes dialog `id` from the store only (it is ending, or gone).
    pub(super) fn forget_stored(id: &str, b: &mut Batch<'_>) {
        stored::delete(b, stored::DIALOG, id);
    }
}
