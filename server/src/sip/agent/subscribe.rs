//! The subscriptions: SUBSCRIBE/NOTIFY (RFC 6665) for `Event: presence`, a
//! desk phone watching a colleague. A subscription is a dialog; each
//! presence change the engine delivers for it goes out as a NOTIFY, whose
//! answer the transaction layer (`transaction`) waits for.
//!
//! [`Subscriptions`] owns the dialogs (see `dialogs`), their bounds, the
//! addresses our NOTIFYs name (see `notify`) and the dialogs the group being
//! stored opened. The router has checked a SUBSCRIBE's event, Accept and
//! Expires, found its watcher and checked their trust (digest) before it
//! comes here, and tells a new subscription (with its presentity) from one
//! in an existing dialog, which only that dialog's watcher may touch. What
//! it sends, it sends through [`Outgoing`], lent by the router for the step.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{AccountName, PresenceFields};
use mailpresence_protocol::summary::Lang;
use tracing::{info, warn};

mod takeover;

use super::dialogs::{Dialog, Dialogs, Ending};
use super::notify::{self, Advertised, LastBody};
use super::random_token;
use super::reply::{Handled, Reply};
use super::stored;
use super::transaction::NotifyTransactions;
use crate::config::SipConfig;
use crate::directory::{Directory, Person};
use crate::engine::{Delivery, SubscribeRequest, Verdict};
use crate::hub::{Batch, Hub};
use crate::sip::held::{Held, Kind};
use crate::sip::message::{Message, param, uri_of};
use crate::sip::transport::Peer;
use crate::store::{Medium, StoreError};

/// What a subscription step uses beside its own state, lent by the router:
/// the directory (a presentity's PIDF entity), the output held until the
/// commit, and the NOTIFY transactions that wait for answers.
pub(super) struct Outgoing<'a> {
    /// The directory of this step (shared: a refresh does not change it mid-step).
    pub(super) dir: std::sync::Arc<Directory>,
    pub(super) held: &'a mut Held,
    pub(super) transactions: &'a mut NotifyTransactions,
}

/// The live subscription dialogs and what governs them.
#[derive(Debug)]
pub(super) struct Subscriptions {
    dialogs: Dialogs,
    here: Advertised,
    lang: Lang,
    /// The PIDF body of the last NOTIFY, for the next of a fan-out.
    last_body: LastBody,
    /// Bounds on dialogs: in all, and per watcher.
    max_dialogs: usize,
    max_per_watcher: usize,
    /// A NOTIFY unanswered this long drops its watcher.
    notify_timeout: Duration,
    /// Dialogs opened by the group being stored: forgotten if its commit
    /// fails, since their SUBSCRIBEs are then answered 500.
    made: Vec<String>,
    /// The store is shared with other instances (PostgreSQL): this one
    /// beats its heartbeat, takes over the dialogs of one whose heartbeat
    /// stopped, and lets go of those another took over.
    shared: bool,
    last_beat: Option<Instant>,
    /// The instances whose heartbeat was live at the last beat.
    live: HashSet<String>,
}

impl Subscriptions {
    /// The subscriptions stored by an earlier run, or by an instance on the
    /// shared store whose heartbeat stopped, still live: this instance takes
    /// them over.
    pub(super) fn resume(hub: &Hub, config: &SipConfig, here: Advertised, lang: Lang) -> Self {
        let mut dialogs = Dialogs::default();
        if let Err(e) = hub.steps(|b| dialogs.adopt_orphans(b)) {
            warn!(error = %e, "stored SIP subscriptions not taken over; phones renew them on their refresh");
        }
        Self {
            dialogs,
            here,
            lang,
            last_body: LastBody::default(),
            max_dialogs: config.max_dialogs,
            max_per_watcher: config.max_dialogs_per_watcher,
            notify_timeout: Duration::from_secs(config.notify_timeout_secs),
            made: Vec::new(),
            shared: hub.store().is_shared(),
            last_beat: None,
            live: HashSet::new(),
        }
    }

    /// Where phones reach us over TLS (written in Via and Contact of TLS dialogs).
    pub(super) fn advertising_tls(&mut self, host_port: Option<String>) {
        self.here.set_tls(host_port);
    }

    /// A group of requests begins: nothing is opened by it yet.
    pub(super) fn begin_group(&mut self) {
        self.made.clear();
    }

    /// The group's commit failed: the dialogs it opened go from memory too
    /// (the store rolled them back). Returns their ids, whose NOTIFYs are no
    /// longer awaited.
    pub(super) fn undo_group(&mut self) -> Vec<String> {
        let made = std::mem::take(&mut self.made);
        for id in &made {
            self.dialogs.remove(id);
        }
        made
    }

    /// A SUBSCRIBE outside a dialog from `watcher` for `presentity`: opens a
    /// subscription, or with `Expires: 0` fetches the state once.
    pub(super) fn open(
        &mut self,
        req: &Message,
        peer: &Peer,
        (watcher, presentity): (&Person, &Person),
        expires: u32,
        b: &mut Batch<'_>,
        out: &mut Outgoing<'_>,
    ) -> Handled {
        self.room_for_dialog(&watcher.account)?;
        let tag = random_token();
        if expires == 0 {
            return self.fetch(req, peer, (watcher, presentity), &tag, b, out);
        }
        let id = dialog_id(req, &tag);
        let request = SubscribeRequest {
            watcher: watcher.account.clone(),
            notifiers: vec![presentity.account.clone()],
            medium: Medium::Sip,
            deliver_to: req
                .header("From")
                .map(uri_of)
                .unwrap_or_default()
                .to_owned(),
            mode: SubscribeMode::Watch,
            expires_secs: Some(u64::from(expires)),
            reference: Some(id.clone()),
        };
        // The dialog exists before the engine runs, so that the NOTIFY it
        // causes finds it.
        let parties = (&watcher.account, &presentity.account);
        let dialog = Dialog::opened_by(req, peer, &tag, parties, expires);
        self.dialogs.insert(id.clone(), dialog);
        self.made.push(id.clone());
        let committed = b.step(|engine, tx, now| engine.subscribe(tx, request, now).map(Some));
        let step = match committed {
            Ok(Some(c)) => c.step,
            Ok(None) | Err(_) => {
                self.dialogs.remove(&id);
                warn!(error = ?committed.err(), "SUBSCRIBE not stored");
                return Err(Reply::new(500, "Server Internal Error"));
            }
        };
        if let Verdict::Refused(why) = &step.verdict {
            self.dialogs.remove(&id);
            warn!(watcher = %watcher.account, presentity = %presentity.account, "SUBSCRIBE refused: {why}");
            return Err(Reply::new(403, "Forbidden"));
        }
        info!(watcher = %watcher.account, presentity = %presentity.account, expires, "SIP subscription");
        self.dialogs.store(&id, b);
        if !step
            .deliveries
            .iter()
            .any(|d| d.reference.as_deref() == Some(id.as_str()))
        {
            // No presence yet: the first NOTIFY has no body (RFC 6665 §4.2.2).
            self.send_notify(&id, None, b, out);
        }
        Ok(self.subscribe_ok(peer, &tag, expires))
    }

    /// `Expires: 0` outside a dialog: one NOTIFY with the state now, then done.
    fn fetch(
        &mut self,
        req: &Message,
        peer: &Peer,
        (watcher, presentity): (&Person, &Person),
        tag: &str,
        b: &mut Batch<'_>,
        out: &mut Outgoing<'_>,
    ) -> Handled {
        let mut view = Ok(None);
        let result = b.step(|engine, tx, now| {
            view = engine.current_view(tx, &watcher.account, &presentity.account, now)?;
            Ok(None)
        });
        let fields = match (result, view) {
            (Err(e), _) => {
                warn!(error = %e, "fetch failed");
                return Err(Reply::new(500, "Server Internal Error"));
            }
            (Ok(_), Err(why)) => {
                warn!(watcher = %watcher.account, "fetch refused: {why}");
                return Err(Reply::new(403, "Forbidden"));
            }
            (Ok(_), Ok(view)) => view.map(|n| n.presence),
        };
        let id = dialog_id(req, tag);
        let parties = (&watcher.account, &presentity.account);
        let mut dialog = Dialog::opened_by(req, peer, tag, parties, 0);
        dialog.ending = Some(Ending::Timeout);
        self.dialogs.insert(id.clone(), dialog);
        self.made.push(id.clone());
        self.send_notify(&id, fields.as_ref(), b, out);
        Ok(self.subscribe_ok(peer, tag, 0))
    }

    /// A SUBSCRIBE in dialog `id` from `watcher`: a refresh, or with
    /// Expires 0 the end. Only the dialog's own watcher may: its Call-ID and
    /// tags are no secret (a colleague's phone on the same LAN sees them), and
    /// a refresh moves the dialog's NOTIFYs to the request's source.
    pub(super) fn refresh(
        &mut self,
        peer: &Peer,
        watcher: &Person,
        id: &str,
        expires: u32,
        b: &mut Batch<'_>,
        out: &mut Outgoing<'_>,
    ) -> Handled {
        // A dialog another instance held (it died, or the refresh came
        // this way): this one takes it over with the refresh.
        let adopted = !self.dialogs.contains(id) && self.dialogs.adopt(id, b);
        let dialog = self
            .dialogs
            .get_mut(id)
            .ok_or_else(|| Reply::new(481, "Subscription Does Not Exist"))?;
        if dialog.watcher != watcher.account {
            warn!(watcher = %dialog.watcher, from = %watcher.account, peer = %peer.addr(), "SUBSCRIBE in someone else's dialog refused");
            if adopted {
                self.dialogs.remove(id);
            }
            return Err(Reply::new(403, "Forbidden").because("not this dialog's watcher"));
        }
        if dialog.peer != *peer {
            // A new address is unproven until it answers a NOTIFY: until
            // then no NOTIFY to it is sent again (Timer E), so a refresh
            // "from" someone else's address cannot aim retransmissions there.
            dialog.answered = false;
        }
        dialog.peer = peer.clone();
        let tag = param(&dialog.local_party, "tag")
            .unwrap_or_default()
            .to_owned();
        if expires == 0 {
            info!(watcher = %dialog.watcher, presentity = %dialog.presentity, "SIP subscription ended by the watcher");
            self.end_dialog(id, Ending::Timeout, b, out);
            return Ok(self.subscribe_ok(peer, &tag, 0));
        }
        dialog.expires_at = Instant::now() + Duration::from_secs(u64::from(expires));
        dialog.heard_at = Instant::now();
        let request = SubscribeRequest {
            watcher: dialog.watcher.clone(),
            notifiers: vec![dialog.presentity.clone()],
            medium: Medium::Sip,
            deliver_to: uri_of(&dialog.remote_party).to_owned(),
            mode: SubscribeMode::Watch,
            expires_secs: Some(u64::from(expires)),
            reference: Some(id.to_owned()),
        };
        self.dialogs.store(id, b);
        match b.step(|engine, tx, now| engine.subscribe(tx, request, now).map(Some)) {
            Ok(Some(c)) if c.step.deliveries.is_empty() => self.send_notify(id, None, b, out),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "refresh not stored"),
        }
        Ok(self.subscribe_ok(peer, &tag, expires))
    }

    /// A presence change for a SIP watcher, from the engine.
    pub(super) fn deliver(
        &mut self,
        delivery: &Delivery,
        b: &mut Batch<'_>,
        out: &mut Outgoing<'_>,
    ) {
        let Some(id) = delivery.reference.as_deref() else {
            return;
        };
        if !self.dialogs.contains(id) {
            // Another instance on the shared store holds the dialog (its
            // record is live there): it sends the NOTIFY when the change
            // reaches it (`instances.rs`); the request stays.
            if held_elsewhere(id, b) {
                return;
            }
            // The dialog is gone (restart, expiry): the request goes too.
            end_request(id, b);
            return;
        }
        if self.let_go_if_taken(id, b, out) {
            return;
        }
        if let Some(dialog) = self.dialogs.get_mut(id).filter(|d| d.awaiting) {
            // One NOTIFY at a time in a dialog: the newest state goes when
            // the one in flight is answered (see `notify_answered`). A phone
            // that went away costs one NOTIFY until it is given up on, and a
            // fan-out does not send to it again.
            dialog.behind = true;
            return;
        }
        self.send_notify(id, Some(&delivery.notify.presence), b, out);
    }

    /// Sends a NOTIFY in dialog `id` (see `notify::write`). Held until the
    /// group is stored; its transaction then waits for the answer.
    fn send_notify(
        &mut self,
        id: &str,
        fields: Option<&PresenceFields>,
        b: &mut Batch<'_>,
        out: &mut Outgoing<'_>,
    ) {
        let Some(dialog) = self.dialogs.get_mut(id) else {
            return;
        };
        let (branch, bytes) = notify::write(
            dialog,
            &self.here,
            &out.dir,
            fields,
            &mut self.last_body,
            self.lang,
        );
        let peer = dialog.peer.clone();
        let ending = dialog.ending.is_some();
        if !out.held.can_reach(&peer) {
            info!(dialog = %id, "watcher's connection is gone; subscription ended");
            return self.drop_watcher(id, b, out);
        }
        dialog.awaiting = true;
        if !ending && dialog.cseq > dialog.cseq_reserved {
            // The CSeq left the stored block: a resumed dialog must not send
            // an old one again, so the next block is stored with this NOTIFY.
            self.dialogs.store(id, b);
        }
        out.held.hold(Kind::Request, &peer, bytes.clone());
        out.transactions
            .start(branch, id, bytes, peer, self.notify_timeout);
    }

    /// The 200 OK that opens (or refreshes) a subscription dialog.
    fn subscribe_ok(&self, peer: &Peer, tag: &str, expires: u32) -> Reply {
        Reply::ok()
            .tagged(tag)
            .with("Expires", expires.to_string())
            .with("Contact", self.here.contact(None, peer))
    }

    /// The final answer `code` to a NOTIFY in dialog `id`: a success proves
    /// the watcher's address (or ends an ending dialog); a refusal ends it.
    pub(super) fn notify_answered(
        &mut self,
        id: &str,
        code: u16,
        b: &mut Batch<'_>,
        out: &mut Outgoing<'_>,
    ) {
        if self.let_go_if_taken(id, b, out) {
            return;
        }
        if (200..300).contains(&code) {
            let Some(dialog) = self.dialogs.get_mut(id) else {
                return;
            };
            dialog.heard_at = Instant::now();
            dialog.awaiting = false;
            if dialog.ending.is_some() {
                return self.forget_dialog(id, b, out);
            }
            let first_answer = !std::mem::replace(&mut dialog.answered, true);
            let behind = std::mem::take(&mut dialog.behind)
                .then(|| (dialog.watcher.clone(), dialog.presentity.clone()));
            if first_answer {
                self.dialogs.store(id, b);
            }
            if let Some((watcher, presentity)) = behind {
                let fields = view(&watcher, &presentity, b);
                self.send_notify(id, fields.as_ref(), b, out);
            }
        } else {
            info!(code, "NOTIFY refused by the watcher; subscription ended");
            self.drop_watcher(id, b, out);
        }
    }

    /// Orders a fan-out's deliveries so that the watchers heard from most
    /// recently come first: a phone that went away without unsubscribing
    /// keeps its dialog until a NOTIFY to it times out, and the live ones
    /// must not wait behind it. Deliveries for no known dialog keep their
    /// place at the end (they only end their request).
    pub(super) fn live_first(&self, deliveries: &mut [Delivery]) {
        recently_heard_first(deliveries, |d| {
            let id = d.reference.as_deref()?;
            self.dialogs.get(id).map(|dialog| dialog.heard_at)
        });
    }

    /// Whether the watcher of dialog `id` has answered one of our NOTIFYs
    /// (so a lost one may be resent there; see `Dialog::answered`).
    pub(super) fn watcher_answered(&self, id: &str) -> bool {
        self.dialogs.get(id).is_some_and(|d| d.answered)
    }

    /// Subscriptions whose time is up end.
    pub(super) fn expire(&mut self, now: Instant, b: &mut Batch<'_>, out: &mut Outgoing<'_>) {
        for id in self
            .dialogs
            .ids_where(|d| d.ending.is_none() && d.expires_at <= now)
        {
            self.end_dialog(&id, Ending::Timeout, b, out);
        }
    }

    /// On a planned stop, subscriptions over UDP stay in the store and go on
    /// after the restart; those over TCP or TLS die with their connections,
    /// so their watchers are told to subscribe again (RFC 6665
    /// `deactivated`), which phones do without anyone's help.
    pub(super) fn shut_down(&mut self, b: &mut Batch<'_>, out: &mut Outgoing<'_>) {
        for id in self
            .dialogs
            .ids_where(|d| d.ending.is_none() && d.peer.is_reliable())
        {
            self.end_dialog(&id, Ending::Deactivated, b, out);
        }
    }

    /// Ends a subscription: its request goes, and a last NOTIFY
    /// (`terminated`, for `why`) carries the state now. The dialog goes when
    /// that is answered.
    fn end_dialog(&mut self, id: &str, why: Ending, b: &mut Batch<'_>, out: &mut Outgoing<'_>) {
        if self.let_go_if_taken(id, b, out) {
            return;
        }
        let Some(d) = self.dialogs.get_mut(id) else {
            return;
        };
        d.ending = Some(why);
        let (watcher, presentity) = (d.watcher.clone(), d.presentity.clone());
        let fields = view(&watcher, &presentity, b);
        end_request(id, b);
        Dialogs::forget_stored(id, b);
        self.send_notify(id, fields.as_ref(), b, out);
    }

    /// Whether `watcher` may open one more dialog; the answer when not.
    fn room_for_dialog(&self, watcher: &AccountName) -> Result<(), Reply> {
        if self.dialogs.len() >= self.max_dialogs {
            warn!(
                dialogs = self.dialogs.len(),
                "SIP subscriptions at their limit; SUBSCRIBE refused"
            );
            return Err(Reply::new(503, "Service Unavailable").with("Retry-After", "60"));
        }
        if self.dialogs.of_watcher(watcher) >= self.max_per_watcher {
            warn!(%watcher, "too many SIP subscriptions from one watcher; SUBSCRIBE refused");
            return Err(Reply::new(403, "Forbidden").because("too many subscriptions"));
        }
        Ok(())
    }

    /// Forgets dialog `id`: from memory, its NOTIFYs awaiting an answer, and
    /// the store.
    fn forget_dialog(&mut self, id: &str, b: &mut Batch<'_>, out: &mut Outgoing<'_>) {
        self.dialogs.remove(id);
        out.transactions.forget_dialog(id);
        Dialogs::forget_stored(id, b);
    }

    fn drop_watcher(&mut self, id: &str, b: &mut Batch<'_>, out: &mut Outgoing<'_>) {
        if self.let_go_if_taken(id, b, out) {
            return;
        }
        self.forget_dialog(id, b, out);
        end_request(id, b);
    }

    /// [`Self::drop_watcher`] for many dialogs at once, with one pass over
    /// the NOTIFYs awaiting an answer instead of one per dialog.
    pub(super) fn drop_watchers<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a String> + Clone,
        b: &mut Batch<'_>,
        out: &mut Outgoing<'_>,
    ) {
        let gone: HashSet<&String> = ids.clone().into_iter().collect();
        out.transactions.forget_dialogs(&gone);
        for id in ids {
            // One another instance took over is its own again (its record
            // and request stay); the check reads the store only when shared.
            if self.shared && self.dialogs.taken_elsewhere(id, b) {
                self.dialogs.remove(id);
                continue;
            }
            self.dialogs.remove(id);
            Dialogs::forget_stored(id, b);
            end_request(id, b);
        }
    }
}

/// The engine's request behind dialog `id` goes (no more deliveries for it).
/// Whether dialog `id` is live in the store though not held here: another
/// instance on the same database holds it. (Alone, every live dialog of the
/// store is held here since the start.)
fn held_elsewhere(id: &str, b: &mut Batch<'_>) -> bool {
    let mut live = false;
    let read = b.step(|_, tx, now| {
        live = tx.live_record(stored::DIALOG, id, now)?.is_some();
        Ok(None)
    });
    read.is_ok() && live
}

fn end_request(id: &str, b: &mut Batch<'_>) {
    let result = b.step(|engine, tx, _| {
        engine.end_request(tx, id)?;
        Ok::<_, StoreError>(None)
    });
    if let Err(e) = result {
        warn!(error = %e, "request not removed");
    }
}

/// What `watcher` may see of `presentity` now, read in the group's transaction.
fn view(
    watcher: &AccountName,
    presentity: &AccountName,
    b: &mut Batch<'_>,
) -> Option<PresenceFields> {
    let mut view = None;
    let result = b.step(|engine, tx, now| {
        if let Ok(v) = engine.current_view(tx, watcher, presentity, now)? {
            view = v;
        }
        Ok(None)
    });
    if let Err(e) = result {
        warn!(error = %e, "presence not readable");
    }
    view.map(|n| n.presence)
}

/// Call-ID, our tag and theirs name a dialog.
pub(super) fn dialog_id(req: &Message, local_tag: &str) -> String {
    let remote_tag = req
        .header("From")
        .and_then(|f| param(f, "tag"))
        .unwrap_or_default();
    format!(
        "{};{local_tag};{remote_tag}",
        req.header("Call-ID").unwrap_or_default()
    )
}

/// Sorts `items` by when their watcher was last heard, most recent first;
/// those never heard (`None`) last. Stable: equals keep their order.
fn recently_heard_first<T>(items: &mut [T], heard_at: impl Fn(&T) -> Option<Instant>) {
    items.sort_by_cached_key(|item| std::cmp::Reverse(heard_at(item)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fan_out_goes_to_the_most_recently_heard_watchers_first() {
        let start = Instant::now();
        let at = |secs| Some(start + Duration::from_secs(secs));
        // (name, last heard): two phones gone since an earlier fan-out, two live ones,
        // one delivery for a dialog no longer known.
        let mut fan_out = vec![
            ("gone-early", at(1)),
            ("live-a", at(60)),
            ("unknown", None),
            ("gone-later", at(5)),
            ("live-b", at(60)),
        ];
        recently_heard_first(&mut fan_out, |(_, heard)| *heard);
        let order: Vec<_> = fan_out.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            order,
            ["live-a", "live-b", "gone-later", "gone-early", "unknown"]
        );
    }
}
