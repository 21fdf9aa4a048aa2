//! SUBSCRIBE/NOTIFY (RFC 6665) for `Event: presence`: a desk phone watches a
//! colleague. A subscription is a dialog; each presence change the engine
//! delivers for it goes out as a NOTIFY (see `transaction` for its answer).

use std::time::{Duration, Instant};

use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{AccountName, PresenceFields};
use mailpresence_protocol::pidf;
use tracing::{info, warn};

use super::dialogs::{Dialog, Ending};
use super::reply::{Handled, Reply};
use super::transaction::{Pending, T1};
use super::{Agent, Made, PIDF, is_presence_event, random_token};
use crate::directory::Person;
use crate::engine::{Delivery, SubscribeRequest, Verdict};
use crate::hub::Batch;
use crate::sip::held::Kind;
use crate::sip::message::{Message, param, uri_of};
use crate::sip::transport::Peer;
use crate::store::{Medium, StoreError};

impl Agent {
    pub(super) fn on_subscribe(
        &mut self,
        req: &Message,
        peer: &Peer,
        b: &mut Batch<'_>,
    ) -> Handled {
        if !is_presence_event(req) {
            return Err(Reply::new(489, "Bad Event").with("Allow-Events", "presence"));
        }
        if let Some(accept) = req.header("Accept")
            && !accept.is_empty()
            && !accept.split(',').any(|a| {
                matches!(
                    a.trim().split(';').next(),
                    Some(PIDF | "*/*" | "application/*")
                )
            })
        {
            return Err(Reply::new(406, "Not Acceptable"));
        }
        let expires = self.expires(req)?;
        let watcher = req
            .header("From")
            .map(uri_of)
            .and_then(|u| self.hub.engine.directory().by_sip_uri(u))
            .cloned();
        let Some(watcher) = watcher else {
            warn!(
                from = req.header("From").unwrap_or("-"),
                "SUBSCRIBE from someone not in the directory"
            );
            return Err(Reply::new(403, "Forbidden"));
        };
        self.authorize(req, peer, &watcher)?;
        match req.header("To").and_then(|t| param(t, "tag")) {
            Some(tag) => {
                let id = dialog_id(req, tag);
                self.in_dialog_subscribe(peer, &id, expires, b)
            }
            None => self.new_subscription(req, peer, &watcher, expires, b),
        }
    }

    fn new_subscription(
        &mut self,
        req: &Message,
        peer: &Peer,
        watcher: &Person,
        expires: u32,
        b: &mut Batch<'_>,
    ) -> Handled {
        let presentity = self
            .presentity(req)
            .cloned()
            .ok_or_else(|| Reply::new(404, "Not Found"))?;
        self.room_for_dialog(&watcher.account)?;
        let tag = random_token();
        if expires == 0 {
            return self.fetch(req, peer, (watcher, &presentity), &tag, b);
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
        self.dialogs.insert(
            id.clone(),
            self.dialog(req, peer, &tag, watcher, &presentity, expires),
        );
        self.made.push(Made::Dialog(id.clone()));
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
        self.store_dialog(&id, b);
        if !step
            .deliveries
            .iter()
            .any(|d| d.reference.as_deref() == Some(id.as_str()))
        {
            // No presence yet: the first NOTIFY has no body (RFC 6665 §4.2.2).
            self.send_notify(&id, None, b);
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
        let mut dialog = self.dialog(req, peer, tag, watcher, presentity, 0);
        dialog.ending = Some(Ending::Timeout);
        self.dialogs.insert(id.clone(), dialog);
        self.made.push(Made::Dialog(id.clone()));
        self.send_notify(&id, fields.as_ref(), b);
        Ok(self.subscribe_ok(peer, tag, 0))
    }

    /// A refresh (or, with Expires 0, the end) of an existing subscription.
    fn in_dialog_subscribe(
        &mut self,
        peer: &Peer,
        id: &str,
        expires: u32,
        b: &mut Batch<'_>,
    ) -> Handled {
        let dialog = self
            .dialogs
            .get_mut(id)
            .ok_or_else(|| Reply::new(481, "Subscription Does Not Exist"))?;
        dialog.peer = peer.clone();
        let tag = param(&dialog.local_party, "tag")
            .unwrap_or_default()
            .to_owned();
        if expires == 0 {
            info!(watcher = %dialog.watcher, presentity = %dialog.presentity, "SIP subscription ended by the watcher");
            self.end_dialog(id, Ending::Timeout, b);
            return Ok(self.subscribe_ok(peer, &tag, 0));
        }
        dialog.expires_at = Instant::now() + Duration::from_secs(u64::from(expires));
        let request = SubscribeRequest {
            watcher: dialog.watcher.clone(),
            notifiers: vec![dialog.presentity.clone()],
            medium: Medium::Sip,
            deliver_to: uri_of(&dialog.remote_party).to_owned(),
            mode: SubscribeMode::Watch,
            expires_secs: Some(u64::from(expires)),
            reference: Some(id.to_owned()),
        };
        self.store_dialog(id, b);
        match b.step(|engine, tx, now| engine.subscribe(tx, request, now).map(Some)) {
            Ok(Some(c)) if c.step.deliveries.is_empty() => self.send_notify(id, None, b),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "refresh not stored"),
        }
        Ok(self.subscribe_ok(peer, &tag, expires))
    }

    /// A presence change for a SIP watcher, from the engine.
    pub(super) fn deliver(&mut self, delivery: &Delivery, b: &mut Batch<'_>) {
        let Some(id) = delivery.reference.as_deref() else {
            return;
        };
        if !self.dialogs.contains(id) {
            // The dialog is gone (restart, expiry): the request goes too.
            self.end_request(id, b);
            return;
        }
        self.send_notify(id, Some(&delivery.notify.presence), b);
    }

    /// Sends a NOTIFY in dialog `id`: active with the remaining time, or
    /// terminated when the dialog is ending. Held until the group is stored.
    pub(super) fn send_notify(
        &mut self,
        id: &str,
        fields: Option<&PresenceFields>,
        b: &mut Batch<'_>,
    ) {
        let body = fields.and_then(|f| {
            let dialog = self.dialogs.get(id)?;
            Some(pidf::encode(&self.entity(&dialog.presentity), f, self.lang).into_bytes())
        });
        let (contact, via_host) = match self.dialogs.get(id) {
            Some(d) => (
                self.contact(Some(&d.presentity), &d.peer),
                self.advertised(&d.peer).to_owned(),
            ),
            None => return,
        };
        let Some(dialog) = self.dialogs.get_mut(id) else {
            return;
        };
        dialog.cseq = dialog.cseq.wrapping_add(1);
        let remaining = dialog
            .expires_at
            .saturating_duration_since(Instant::now())
            .as_secs();
        let state = match dialog.ending {
            Some(ending) => ending.subscription_state(),
            None if remaining == 0 => Ending::Timeout.subscription_state(),
            None => format!("active;expires={remaining}"),
        };
        let branch = format!("z9hG4bK{}", random_token());
        let mut notify = Message::request("NOTIFY", &dialog.remote_target);
        notify
            .push(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    dialog.peer.transport(),
                    via_host
                ),
            )
            .push("Max-Forwards", "70")
            .push("From", dialog.local_party.clone())
            .push("To", dialog.remote_party.clone())
            .push("Call-ID", dialog.call_id.clone())
            .push("CSeq", format!("{} NOTIFY", dialog.cseq))
            .push("Contact", contact)
            .push("Event", "presence")
            .push("Subscription-State", state);
        if let Some(body) = body {
            notify.set_body(PIDF, body);
        }
        let bytes = notify.to_bytes();
        let peer = dialog.peer.clone();
        let ending = dialog.ending.is_some();
        if !self.out.can_reach(&peer) {
            info!(dialog = %id, "watcher's connection is gone; subscription ended");
            return self.drop_watcher(id, b);
        }
        if !ending {
            // The CSeq moved on: a resumed dialog must not send an old one again.
            self.store_dialog(id, b);
        }
        self.out.hold(Kind::Request, &peer, bytes.clone());
        let now = Instant::now();
        self.pending.insert(
            branch,
            Pending {
                dialog: id.to_owned(),
                bytes,
                next_at: now + T1,
                interval: T1,
                give_up_at: now + Duration::from_secs(self.config.notify_timeout_secs),
                peer,
            },
        );
    }

    /// The 200 OK that opens (or refreshes) a subscription dialog.
    fn subscribe_ok(&self, peer: &Peer, tag: &str, expires: u32) -> Reply {
        Reply::ok()
            .tagged(tag)
            .with("Expires", expires.to_string())
            .with("Contact", self.contact(None, peer))
    }

    /// Ends a subscription: its request goes, and a last NOTIFY
    /// (`terminated`, for `why`) carries the state now. The dialog goes when
    /// that is answered.
    pub(super) fn end_dialog(&mut self, id: &str, why: Ending, b: &mut Batch<'_>) {
        let Some(d) = self.dialogs.get_mut(id) else {
            return;
        };
        d.ending = Some(why);
        let (watcher, presentity) = (d.watcher.clone(), d.presentity.clone());
        let fields = view(&watcher, &presentity, b);
        self.end_request(id, b);
        self.forget_stored_dialog(id, b);
        self.send_notify(id, fields.as_ref(), b);
    }

    /// Whether `watcher` may open one more dialog; the answer when not.
    fn room_for_dialog(&self, watcher: &AccountName) -> Result<(), Reply> {
        if self.dialogs.len() >= self.config.max_dialogs {
            warn!(
                dialogs = self.dialogs.len(),
                "SIP subscriptions at their limit; SUBSCRIBE refused"
            );
            return Err(Reply::new(503, "Service Unavailable").with("Retry-After", "60"));
        }
        if self.dialogs.of_watcher(watcher) >= self.config.max_dialogs_per_watcher {
            warn!(%watcher, "too many SIP subscriptions from one watcher; SUBSCRIBE refused");
            return Err(Reply::new(403, "Forbidden").because("too many subscriptions"));
        }
        Ok(())
    }

    pub(super) fn dialog(
        &self,
        req: &Message,
        peer: &Peer,
        tag: &str,
        watcher: &Person,
        presentity: &Person,
        expires: u32,
    ) -> Dialog {
        let to = req.header("To").unwrap_or_default();
        let from = req.header("From").unwrap_or_default();
        Dialog {
            call_id: req.header("Call-ID").unwrap_or_default().to_owned(),
            local_party: format!("{to};tag={tag}"),
            remote_party: from.to_owned(),
            remote_target: req
                .header("Contact")
                .map(uri_of)
                .unwrap_or_else(|| uri_of(from))
                .to_owned(),
            presentity: presentity.account.clone(),
            watcher: watcher.account.clone(),
            peer: peer.clone(),
            cseq: 0,
            expires_at: Instant::now() + Duration::from_secs(u64::from(expires)),
            answered: false,
            ending: None,
        }
    }

    pub(super) fn end_request(&self, id: &str, b: &mut Batch<'_>) {
        let result = b.step(|engine, tx, _| {
            engine.end_request(tx, id)?;
            Ok::<_, StoreError>(None)
        });
        if let Err(e) = result {
            warn!(error = %e, "request not removed");
        }
    }

    pub(super) fn drop_watcher(&mut self, id: &str, b: &mut Batch<'_>) {
        self.forget_dialog(id, b);
        self.end_request(id, b);
    }

    /// [`Self::drop_watcher`] for many dialogs at once, with one pass over
    /// the NOTIFYs awaiting an answer instead of one per dialog.
    pub(super) fn drop_watchers<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a String> + Clone,
        b: &mut Batch<'_>,
    ) {
        let gone: std::collections::HashSet<&String> = ids.clone().into_iter().collect();
        self.pending.retain(|_, p| !gone.contains(&p.dialog));
        for id in ids {
            self.dialogs.remove(id);
            self.forget_stored_dialog(id, b);
            self.end_request(id, b);
        }
    }
}

/// What `watcher` may see of `presentity` now, read in the group's transaction.
pub(super) fn view(
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
