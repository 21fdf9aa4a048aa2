//! The presence agent for desk phones: PUBLISH (RFC 3903), SUBSCRIBE/NOTIFY
//! (RFC 6665) for `Event: presence`, OPTIONS. One task owns all SIP state —
//! publications, subscription dialogs, NOTIFY transactions — and reacts to
//! three things: a message from the network, a delivery from the engine, the
//! clock. Presence itself lives in the engine and the store, like mail's.
//!
//! Messages that arrive while the agent is busy (storing the last group) are
//! taken together: all their engine steps run in one transaction, each in its
//! own savepoint, and what they cause — answers and NOTIFYs — is held until
//! that transaction is committed (one fsync for the whole group), then sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Local;
use mailpresence_core::mail::SubscribeMode;
use mailpresence_core::model::{AccountName, Activity, ActivityToken, PresenceFields};
use mailpresence_core::pidf;
use mailpresence_core::summary::Lang;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use super::digest::Nonces;
use super::held::{Held, Kind};
use super::message::{Message, SipError, event_package, has_param, param, uri_of};
use super::transport::{Inbound, Outbound, Peer};
use crate::config::SipConfig;
use crate::directory::{Person, sip_user_host};
use crate::engine::{Delivery, SubscribeRequest, Verdict};
use crate::hub::{Batch, Hub};
use crate::store::{Medium, StoreError};

const PIDF: &str = "application/pidf+xml";
const ALLOW: &str = "PUBLISH, SUBSCRIBE, NOTIFY, OPTIONS";
/// RFC 3261 T1 and T2: NOTIFY over UDP is resent after 0.5 s, 1 s, 2 s, 4 s, 4 s…
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// The most messages (or deliveries) stored in one transaction: a bound on
/// how long an answer waits and how long the store is held from mail. A
/// group ends earlier when one peer's burst of answers is full (see `held`).
const MAX_GROUP: usize = 256;

/// One phone's presence publication.
#[derive(Debug)]
struct Publication {
    account: AccountName,
    expires_at: Instant,
}

/// One watcher's subscription to one presentity.
#[derive(Debug)]
struct Dialog {
    call_id: String,
    /// Our To header (with our tag) and theirs (their From, with their tag).
    local_party: String,
    remote_party: String,
    /// Request-URI of our NOTIFYs: their Contact.
    remote_target: String,
    presentity: AccountName,
    watcher: AccountName,
    /// Where the SUBSCRIBE came from; NOTIFYs go there, not to the Contact
    /// (it may be a GRUU or a private address).
    peer: Peer,
    cseq: u32,
    expires_at: Instant,
    /// A final NOTIFY was sent; the dialog ends when it is answered.
    terminating: bool,
}

/// A NOTIFY waiting for its answer.
#[derive(Debug)]
struct Pending {
    dialog: String,
    bytes: Vec<u8>,
    peer: Peer,
    next_at: Instant,
    interval: Duration,
    give_up_at: Instant,
}

#[derive(Debug)]
pub struct Agent {
    hub: Arc<Hub>,
    config: SipConfig,
    domain: String,
    advertise: String,
    lang: Lang,
    out: Held,
    publications: HashMap<String, Publication>,
    dialogs: HashMap<String, Dialog>,
    pending: HashMap<String, Pending>,
    nonces: Nonces,
    /// Dialogs and publications made by the group being stored: undone if
    /// its commit fails, since their requests are then answered 500.
    made: Vec<Made>,
}

/// Something a group of messages added to the agent's memory.
#[derive(Debug)]
enum Made {
    Dialog(String),
    Publication(String),
}

/// What the agent answers a request with before anything else happens.
type Answer = (u16, &'static str);

impl Agent {
    pub fn new(
        hub: Arc<Hub>,
        config: SipConfig,
        domain: String,
        advertise: String,
        lang: Lang,
        out: Outbound,
    ) -> Self {
        Self {
            hub,
            config,
            domain,
            advertise,
            lang,
            out: Held::new(out),
            publications: HashMap::new(),
            dialogs: HashMap::new(),
            pending: HashMap::new(),
            nonces: Nonces::default(),
            made: Vec::new(),
        }
    }

    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut deliveries: mpsc::UnboundedReceiver<Delivery>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut clock = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                Some(first) = inbound.recv() => self.on_messages(first, &mut inbound),
                Some(first) = deliveries.recv() => self.grouped(|agent, b| {
                    agent.take_group(first, || deliveries.try_recv().ok(), b, Self::deliver);
                }),
                _ = clock.tick() => self.grouped(|agent, b| agent.on_clock(Instant::now(), b)),
                _ = shutdown.changed() => {
                    self.grouped(Self::shut_down);
                    return;
                }
            }
        }
    }

    /// Runs `f` as one group: its steps in one transaction, what it sends
    /// held until the commit. Nothing here answers a request, so a failed
    /// commit still lets the NOTIFYs go (they tell what was committed before).
    fn grouped(&mut self, f: impl FnOnce(&mut Self, &mut Batch<'_>)) {
        let hub = Arc::clone(&self.hub);
        if let Err(e) = hub.steps(|b| f(self, b)) {
            error!(error = %e, "SIP housekeeping not stored");
        }
        self.out.release();
    }

    /// Handles `first`, then what is already queued behind it (`next`: what
    /// arrived while the last group was stored), one by one while the group
    /// has room. Returns what it took.
    fn take_group<T>(
        &mut self,
        first: T,
        mut next: impl FnMut() -> Option<T>,
        b: &mut Batch<'_>,
        mut handle: impl FnMut(&mut Self, &T, &mut Batch<'_>),
    ) -> Vec<T> {
        let mut taken = Vec::new();
        let mut item = Some(first);
        while let Some(it) = item {
            handle(self, &it, b);
            taken.push(it);
            let room = taken.len() < MAX_GROUP && self.out.largest_burst() < Held::MAX_BURST;
            item = if room { next() } else { None };
        }
        taken
    }

    // ---- inbound ------------------------------------------------------------

    /// A group of messages, stored together; their answers go out after the
    /// commit, or, when it fails, every request is answered 500.
    fn on_messages(&mut self, first: Inbound, inbound: &mut mpsc::Receiver<Inbound>) {
        self.made.clear();
        let hub = Arc::clone(&self.hub);
        let mut messages = Vec::new();
        let stored = hub.steps(|b| {
            messages = self.take_group(first, || inbound.try_recv().ok(), b, Self::on_message);
        });
        if let Err(e) = stored {
            error!(error = %e, requests = messages.len(), "SIP requests not stored; answered 500");
            self.undo_group(&messages);
        }
        self.out.release();
    }

    /// After a failed commit: forgets the group's dialogs and publications and
    /// answers its requests 500 in place of what was held for them.
    fn undo_group(&mut self, messages: &[Inbound]) {
        self.out.drop_responses();
        for made in std::mem::take(&mut self.made) {
            match made {
                Made::Dialog(id) => {
                    self.dialogs.remove(&id);
                    self.pending.retain(|_, p| p.dialog != id);
                }
                Made::Publication(etag) => {
                    self.publications.remove(&etag);
                }
            }
        }
        for inbound in messages {
            let Ok(req) = Message::parse(&inbound.bytes, inbound.peer.is_reliable()) else {
                continue;
            };
            if req.method().is_some_and(|m| m != "ACK") && check_request(&req).is_ok() {
                self.respond(
                    &req,
                    &inbound.peer,
                    (500, "Server Internal Error"),
                    None,
                    |_| {},
                );
            }
        }
    }

    fn on_message(&mut self, inbound: &Inbound, b: &mut Batch<'_>) {
        let message = match Message::parse(&inbound.bytes, inbound.peer.is_reliable()) {
            Ok(m) => m,
            Err(e) => return self.on_broken(inbound, &e),
        };
        if message.status().is_some() {
            return self.on_response(&message, b);
        }
        if let Err(e) = check_request(&message) {
            return self.respond(&message, &inbound.peer, (400, "Bad Request"), None, |r| {
                r.push("Warning", format!("399 mailpresence \"{e}\""));
            });
        }
        match message.method().unwrap_or_default() {
            "PUBLISH" => self.on_publish(&message, &inbound.peer, b),
            "SUBSCRIBE" => self.on_subscribe(&message, &inbound.peer, b),
            "OPTIONS" => self.respond(&message, &inbound.peer, (200, "OK"), None, |r| {
                r.push("Allow", ALLOW)
                    .push("Accept", PIDF)
                    .push("Allow-Events", "presence");
            }),
            "ACK" => {}
            "NOTIFY" => self.respond(
                &message,
                &inbound.peer,
                (481, "Subscription Does Not Exist"),
                None,
                |_| {},
            ),
            _ => self.respond(
                &message,
                &inbound.peer,
                (405, "Method Not Allowed"),
                None,
                |r| {
                    r.push("Allow", ALLOW);
                },
            ),
        }
    }

    /// A message that does not parse: answered 400 when its head is readable
    /// enough to address an answer, dropped otherwise.
    fn on_broken(&mut self, inbound: &Inbound, error: &SipError) {
        debug!(peer = %inbound.peer.addr(), %error, "unreadable SIP message");
        let Some(head) = readable_head(&inbound.bytes) else {
            return;
        };
        if head.method().is_some() && head.method() != Some("ACK") && check_request(&head).is_ok() {
            self.respond(&head, &inbound.peer, (400, "Bad Request"), None, |r| {
                r.push("Warning", format!("399 mailpresence \"{error}\""));
            });
        }
    }

    fn on_publish(&mut self, req: &Message, peer: &Peer, b: &mut Batch<'_>) {
        if !is_presence_event(req) {
            return self.respond(req, peer, (489, "Bad Event"), None, |r| {
                r.push("Allow-Events", "presence");
            });
        }
        let Some(person) = self.presentity(req).cloned() else {
            return self.respond(req, peer, (404, "Not Found"), None, |_| {});
        };
        let publisher = req
            .header("From")
            .map(uri_of)
            .and_then(|u| self.hub.engine.directory().by_sip_uri(u));
        if publisher.is_none_or(|p| p.account != person.account) {
            warn!(presentity = %person.account, from = req.header("From").unwrap_or("-"), "PUBLISH for someone else refused");
            return self.respond(req, peer, (403, "Forbidden"), None, |_| {});
        }
        if !self.authorized(req, peer, &person) {
            return;
        }
        let expires = match self.expires(req) {
            Ok(e) => e,
            Err(answer) => return self.respond_expires(req, peer, answer),
        };
        let fields = match self.publish_body(req, &person) {
            Ok(f) => f,
            Err(answer) => {
                return self.respond(req, peer, answer, None, |r| {
                    r.push("Accept", PIDF);
                });
            }
        };
        let if_match = req.header("SIP-If-Match").map(str::trim).map(str::to_owned);
        if let Some(etag) = &if_match
            && self
                .publications
                .get(etag)
                .is_none_or(|p| p.account != person.account)
        {
            return self.respond(req, peer, (412, "Conditional Request Failed"), None, |_| {});
        }
        if if_match.is_none() && fields.is_none() {
            return self.respond(req, peer, (400, "Bad Request"), None, |r| {
                r.push(
                    "Warning",
                    "399 mailpresence \"an initial PUBLISH needs a PIDF body\"",
                );
            });
        }
        if let Some(old) = &if_match {
            self.publications.remove(old);
        }
        if expires == 0 {
            self.respond(req, peer, (200, "OK"), None, |r| {
                r.push("Expires", "0");
            });
            info!(account = %person.account, "publication removed");
            return self.publish_offline_unless_published(&person, b);
        }
        let etag = random_token();
        self.publications.insert(
            etag.clone(),
            Publication {
                account: person.account.clone(),
                expires_at: Instant::now() + Duration::from_secs(u64::from(expires)),
            },
        );
        self.made.push(Made::Publication(etag.clone()));
        if let Some(fields) = fields
            && let Err(e) = b.step(|engine, tx, now| {
                engine
                    .publish(tx, &person.account, fields, Medium::Sip, now)
                    .map(Some)
            })
        {
            warn!(error = %e, "PUBLISH not stored");
            self.publications.remove(&etag);
            return self.respond(req, peer, (500, "Server Internal Error"), None, |_| {});
        }
        info!(account = %person.account, expires, refresh = if_match.is_some(), "presence published over SIP");
        self.respond(req, peer, (200, "OK"), None, |r| {
            r.push("SIP-ETag", etag)
                .push("Expires", expires.to_string());
        });
    }

    /// The PIDF body of a PUBLISH as presence fields; `None` without a body.
    fn publish_body(
        &self,
        req: &Message,
        person: &Person,
    ) -> Result<Option<PresenceFields>, Answer> {
        if req.body.is_empty() {
            return Ok(None);
        }
        let content_type = req.header("Content-Type").unwrap_or_default();
        if !content_type.trim().to_ascii_lowercase().starts_with(PIDF) {
            return Err((415, "Unsupported Media Type"));
        }
        let mut decoded = pidf::decode(&req.body).map_err(|e| {
            debug!(error = %e, "bad PIDF in PUBLISH");
            (400, "Bad Request")
        })?;
        if decoded.fields.contact.is_empty() {
            decoded.fields.contact = person
                .sip
                .clone()
                .unwrap_or_else(|| person.account.to_string());
        }
        Ok(Some(decoded.fields))
    }

    fn on_subscribe(&mut self, req: &Message, peer: &Peer, b: &mut Batch<'_>) {
        if !is_presence_event(req) {
            return self.respond(req, peer, (489, "Bad Event"), None, |r| {
                r.push("Allow-Events", "presence");
            });
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
            return self.respond(req, peer, (406, "Not Acceptable"), None, |_| {});
        }
        let expires = match self.expires(req) {
            Ok(e) => e,
            Err(answer) => return self.respond_expires(req, peer, answer),
        };
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
            return self.respond(req, peer, (403, "Forbidden"), None, |_| {});
        };
        if !self.authorized(req, peer, &watcher) {
            return;
        }
        match req.header("To").and_then(|t| param(t, "tag")) {
            Some(tag) => {
                let id = dialog_id(req, tag);
                self.in_dialog_subscribe(req, peer, &id, expires, b);
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
    ) {
        let Some(presentity) = self.presentity(req).cloned() else {
            return self.respond(req, peer, (404, "Not Found"), None, |_| {});
        };
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
            Ok(None) => return,
            Err(e) => {
                self.dialogs.remove(&id);
                warn!(error = %e, "SUBSCRIBE not stored");
                return self.respond(req, peer, (500, "Server Internal Error"), None, |_| {});
            }
        };
        if let Verdict::Refused(why) = &step.verdict {
            self.dialogs.remove(&id);
            warn!(watcher = %watcher.account, presentity = %presentity.account, "SUBSCRIBE refused: {why}");
            return self.respond(req, peer, (403, "Forbidden"), None, |_| {});
        }
        info!(watcher = %watcher.account, presentity = %presentity.account, expires, "SIP subscription");
        self.respond_subscribe_ok(req, peer, &tag, expires);
        if !step
            .deliveries
            .iter()
            .any(|d| d.reference.as_deref() == Some(id.as_str()))
        {
            // No presence yet: the first NOTIFY has no body (RFC 6665 §4.2.2).
            self.send_notify(&id, None, b);
        }
    }

    /// `Expires: 0` outside a dialog: one NOTIFY with the state now, then done.
    fn fetch(
        &mut self,
        req: &Message,
        peer: &Peer,
        (watcher, presentity): (&Person, &Person),
        tag: &str,
        b: &mut Batch<'_>,
    ) {
        let mut view = Ok(None);
        let result = b.step(|engine, tx, now| {
            view = engine.current_view(tx, &watcher.account, &presentity.account, now)?;
            Ok(None)
        });
        let fields = match (result, view) {
            (Err(e), _) => {
                warn!(error = %e, "fetch failed");
                return self.respond(req, peer, (500, "Server Internal Error"), None, |_| {});
            }
            (Ok(_), Err(why)) => {
                warn!(watcher = %watcher.account, "fetch refused: {why}");
                return self.respond(req, peer, (403, "Forbidden"), None, |_| {});
            }
            (Ok(_), Ok(view)) => view.map(|n| n.presence),
        };
        let id = dialog_id(req, tag);
        let mut dialog = self.dialog(req, peer, tag, watcher, presentity, 0);
        dialog.terminating = true;
        self.dialogs.insert(id.clone(), dialog);
        self.made.push(Made::Dialog(id.clone()));
        self.respond_subscribe_ok(req, peer, tag, 0);
        self.send_notify(&id, fields.as_ref(), b);
    }

    fn in_dialog_subscribe(
        &mut self,
        req: &Message,
        peer: &Peer,
        id: &str,
        expires: u32,
        b: &mut Batch<'_>,
    ) {
        let Some(dialog) = self.dialogs.get_mut(id) else {
            return self.respond(
                req,
                peer,
                (481, "Subscription Does Not Exist"),
                None,
                |_| {},
            );
        };
        dialog.peer = peer.clone();
        let tag = param(&dialog.local_party, "tag")
            .unwrap_or_default()
            .to_owned();
        if expires == 0 {
            info!(watcher = %dialog.watcher, presentity = %dialog.presentity, "SIP subscription ended by the watcher");
            self.respond_subscribe_ok(req, peer, &tag, 0);
            return self.end_dialog(id, b);
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
        self.respond_subscribe_ok(req, peer, &tag, expires);
        match b.step(|engine, tx, now| engine.subscribe(tx, request, now).map(Some)) {
            Ok(Some(c)) if c.step.deliveries.is_empty() => self.send_notify(id, None, b),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "refresh not stored"),
        }
    }

    fn on_response(&mut self, response: &Message, b: &mut Batch<'_>) {
        let Some(branch) = response.header("Via").and_then(|v| param(v, "branch")) else {
            return;
        };
        let code = response.status().unwrap_or(0);
        if code < 200 {
            return;
        }
        let Some(pending) = self.pending.remove(branch) else {
            return;
        };
        let done = self
            .dialogs
            .get(&pending.dialog)
            .is_some_and(|d| d.terminating);
        if (200..300).contains(&code) {
            if done {
                self.dialogs.remove(&pending.dialog);
            }
        } else {
            info!(code, "NOTIFY refused by the watcher; subscription ended");
            self.drop_watcher(&pending.dialog, b);
        }
    }

    // ---- outbound -----------------------------------------------------------

    /// A presence change for a SIP watcher, from the engine.
    fn deliver(&mut self, delivery: &Delivery, b: &mut Batch<'_>) {
        let Some(id) = delivery.reference.as_deref() else {
            return;
        };
        if !self.dialogs.contains_key(id) {
            // The dialog is gone (restart, expiry): the request goes too.
            self.end_request(id, b);
            return;
        }
        self.send_notify(id, Some(&delivery.notify.presence), b);
    }

    /// Sends a NOTIFY in dialog `id`: active with the remaining time, or
    /// terminated when the dialog is ending. Held until the group is stored.
    fn send_notify(&mut self, id: &str, fields: Option<&PresenceFields>, b: &mut Batch<'_>) {
        let body = fields.and_then(|f| {
            let dialog = self.dialogs.get(id)?;
            Some(pidf::encode(&self.entity(&dialog.presentity), f, self.lang).into_bytes())
        });
        let Some(dialog) = self.dialogs.get_mut(id) else {
            return;
        };
        dialog.cseq = dialog.cseq.wrapping_add(1);
        let remaining = dialog
            .expires_at
            .saturating_duration_since(Instant::now())
            .as_secs();
        let state = if dialog.terminating || remaining == 0 {
            "terminated;reason=timeout".to_owned()
        } else {
            format!("active;expires={remaining}")
        };
        let branch = format!("z9hG4bK{}", random_token());
        let mut notify = Message::request("NOTIFY", &dialog.remote_target);
        notify
            .push(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    dialog.peer.transport(),
                    self.advertise
                ),
            )
            .push("Max-Forwards", "70")
            .push("From", dialog.local_party.clone())
            .push("To", dialog.remote_party.clone())
            .push("Call-ID", dialog.call_id.clone())
            .push("CSeq", format!("{} NOTIFY", dialog.cseq))
            .push(
                "Contact",
                format!("<sip:{}@{}>", dialog.presentity, self.advertise),
            )
            .push("Event", "presence")
            .push("Subscription-State", state);
        if let Some(body) = body {
            notify.set_body(PIDF, body);
        }
        let bytes = notify.to_bytes();
        let peer = dialog.peer.clone();
        if !self.out.can_reach(&peer) {
            info!(dialog = %id, "watcher's connection is gone; subscription ended");
            return self.drop_watcher(id, b);
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

    /// Answers `req`; held until the group is stored.
    fn respond(
        &mut self,
        req: &Message,
        peer: &Peer,
        (code, reason): Answer,
        to_tag: Option<&str>,
        extra: impl FnOnce(&mut Message),
    ) {
        let mut response = Message::response_to(req, code, reason, to_tag);
        mark_via_received(&mut response, peer);
        response.push("Server", "mailpresence");
        extra(&mut response);
        self.out.hold(Kind::Response, peer, response.to_bytes());
    }

    fn respond_subscribe_ok(&mut self, req: &Message, peer: &Peer, tag: &str, expires: u32) {
        let contact = format!("<sip:{}>", self.advertise);
        self.respond(req, peer, (200, "OK"), Some(tag), |r| {
            r.push("Expires", expires.to_string())
                .push("Contact", contact);
        });
    }

    fn respond_expires(&mut self, req: &Message, peer: &Peer, answer: Answer) {
        let min = self.config.min_expires;
        self.respond(req, peer, answer, None, |r| {
            if answer.0 == 423 {
                r.push("Min-Expires", min.to_string());
            }
        });
    }

    // ---- time ---------------------------------------------------------------

    fn on_clock(&mut self, now: Instant, b: &mut Batch<'_>) {
        self.give_up_unanswered(now, b);
        self.retransmit(now);
        for id in keys_where(&self.dialogs, |d| !d.terminating && d.expires_at <= now) {
            self.end_dialog(&id, b);
        }
        self.expire_publications(now, b);
    }

    /// A NOTIFY unanswered until its deadline: the watcher is unreachable.
    fn give_up_unanswered(&mut self, now: Instant, b: &mut Batch<'_>) {
        for branch in keys_where(&self.pending, |p| p.give_up_at <= now) {
            if let Some(p) = self.pending.remove(&branch) {
                warn!(dialog = %p.dialog, peer = %p.peer.addr(), "watcher does not answer NOTIFY; dropped");
                self.drop_watcher(&p.dialog, b);
            }
        }
    }

    /// RFC 3261 Timer E: resend over UDP, doubling the wait up to T2.
    fn retransmit(&mut self, now: Instant) {
        for p in self
            .pending
            .values_mut()
            .filter(|p| !p.peer.is_reliable() && p.next_at <= now)
        {
            self.out.send_now(&p.peer, p.bytes.clone());
            p.interval = (p.interval * 2).min(T2);
            p.next_at = now + p.interval;
        }
    }

    fn expire_publications(&mut self, now: Instant, b: &mut Batch<'_>) {
        for etag in keys_where(&self.publications, |p| p.expires_at <= now) {
            if let Some(p) = self.publications.remove(&etag)
                && let Some(person) = self.hub.engine.directory().person(&p.account).cloned()
            {
                info!(account = %p.account, "publication expired");
                self.publish_offline_unless_published(&person, b);
            }
        }
    }

    /// Ends a subscription: its request goes, and a last NOTIFY
    /// (`terminated`) carries the state now. The dialog goes when it is answered.
    fn end_dialog(&mut self, id: &str, b: &mut Batch<'_>) {
        let Some(d) = self.dialogs.get_mut(id) else {
            return;
        };
        d.terminating = true;
        let (watcher, presentity) = (d.watcher.clone(), d.presentity.clone());
        let fields = view(&watcher, &presentity, b);
        self.end_request(id, b);
        self.send_notify(id, fields.as_ref(), b);
    }

    /// On shutdown every watcher hears that its subscription ends.
    fn shut_down(&mut self, b: &mut Batch<'_>) {
        let ids: Vec<String> = self.dialogs.keys().cloned().collect();
        for id in ids {
            if let Some(d) = self.dialogs.get_mut(&id) {
                d.terminating = true;
            }
            self.send_notify(&id, None, b);
        }
    }

    // ---- helpers ------------------------------------------------------------

    fn dialog(
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
            terminating: false,
        }
    }

    /// The person a request is about: its Request-URI's user (or the To URI's).
    fn presentity(&self, req: &Message) -> Option<&Person> {
        let dir = self.hub.engine.directory();
        let ruri = match &req.start {
            super::message::StartLine::Request { uri, .. } => uri.as_str(),
            super::message::StartLine::Response { .. } => return None,
        };
        [ruri, req.header("To").map(uri_of).unwrap_or_default()]
            .into_iter()
            .filter_map(sip_user_host)
            .find_map(|(user, _)| dir.by_sip_user(&user))
    }

    fn entity(&self, account: &AccountName) -> String {
        self.hub
            .engine
            .directory()
            .person(account)
            .and_then(|p| p.sip.clone())
            .unwrap_or_else(|| pidf::entity_for(account, &self.domain))
    }

    /// Checks digest credentials when `person` has a SIP password; answers 401
    /// (and returns false) when they are missing or wrong.
    fn authorized(&mut self, req: &Message, peer: &Peer, person: &Person) -> bool {
        let Some(password) = &person.sip_password else {
            return true;
        };
        let user = sip_user_host(person.sip.as_deref().unwrap_or_default())
            .map(|(u, _)| u)
            .unwrap_or_else(|| person.account.to_string());
        if self.nonces.verify(req, &self.domain, &user, password) {
            return true;
        }
        let challenge = self.nonces.challenge(&self.domain);
        self.respond(req, peer, (401, "Unauthorized"), None, |r| {
            r.push("WWW-Authenticate", challenge);
        });
        false
    }

    /// The Expires of a request, defaulted and capped; an answer when it is
    /// unreadable (400) or too brief (423).
    fn expires(&self, req: &Message) -> Result<u32, Answer> {
        let asked = req.expires().map_err(|_| (400, "Bad Request"))?;
        let e = asked
            .unwrap_or(self.config.default_expires)
            .min(self.config.max_expires);
        if e != 0 && e < self.config.min_expires {
            return Err((423, "Interval Too Brief"));
        }
        Ok(e)
    }

    /// When a phone's last publication ends, its person is offline.
    fn publish_offline_unless_published(&self, person: &Person, b: &mut Batch<'_>) {
        if self
            .publications
            .values()
            .any(|p| p.account == person.account)
        {
            return;
        }
        let contact = person
            .sip
            .clone()
            .or_else(|| person.mail.clone())
            .unwrap_or_default();
        let mut fields = PresenceFields::new(contact, Activity::token(ActivityToken::Offline));
        fields.updated = Some(Local::now().fixed_offset());
        if let Err(e) = b.step(|engine, tx, now| {
            engine
                .publish(tx, &person.account, fields, Medium::Sip, now)
                .map(Some)
        }) {
            warn!(error = %e, "offline state not stored");
        }
    }

    fn end_request(&self, id: &str, b: &mut Batch<'_>) {
        let result = b.step(|engine, tx, _| {
            engine.end_request(tx, id)?;
            Ok::<_, StoreError>(None)
        });
        if let Err(e) = result {
            warn!(error = %e, "request not removed");
        }
    }

    fn drop_watcher(&mut self, id: &str, b: &mut Batch<'_>) {
        self.dialogs.remove(id);
        self.pending.retain(|_, p| p.dialog != id);
        self.end_request(id, b);
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

fn is_presence_event(req: &Message) -> bool {
    req.header("Event")
        .map(event_package)
        .is_some_and(|e| e.eq_ignore_ascii_case("presence"))
}

/// The headers every request must have to be answered at all.
fn check_request(req: &Message) -> Result<(), SipError> {
    for name in ["Via", "From", "To", "Call-ID"] {
        req.required(name)?;
    }
    let (_, method) = req.cseq()?;
    if Some(method) != req.method() {
        return Err(SipError::BadHeader("CSeq"));
    }
    Ok(())
}

/// The start line and headers of a message whose body is broken.
fn readable_head(bytes: &[u8]) -> Option<Message> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let mut head = bytes[..end].to_vec();
    head.extend_from_slice(b"\r\n\r\n");
    let text = String::from_utf8(head).ok()?;
    let without_length: String = text
        .split("\r\n")
        .filter(|l| {
            let name = l.split(':').next().unwrap_or_default().trim();
            !(name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    Message::parse(without_length.as_bytes(), true).ok()
}

/// RFC 3581: the top Via of a response says where the request really came from.
fn mark_via_received(response: &mut Message, peer: &Peer) {
    if let Some((_, via)) = response.headers.iter_mut().find(|(n, _)| n == "Via") {
        let addr = peer.addr();
        if has_param(via, "rport") && param(via, "rport") == Some("") {
            let parts: Vec<String> = via
                .split(';')
                .map(|p| {
                    if p.trim().eq_ignore_ascii_case("rport") {
                        format!("rport={}", addr.port())
                    } else {
                        p.to_owned()
                    }
                })
                .collect();
            *via = parts.join(";");
        }
        if param(via, "received").is_none() {
            via.push_str(&format!(";received={}", addr.ip()));
        }
    }
}

/// The keys of the entries that `matches`.
fn keys_where<V>(map: &HashMap<String, V>, matches: impl Fn(&V) -> bool) -> Vec<String> {
    map.iter()
        .filter(|(_, v)| matches(v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Call-ID, our tag and theirs name a dialog.
fn dialog_id(req: &Message, local_tag: &str) -> String {
    let remote_tag = req
        .header("From")
        .and_then(|f| param(f, "tag"))
        .unwrap_or_default();
    format!(
        "{};{local_tag};{remote_tag}",
        req.header("Call-ID").unwrap_or_default()
    )
}

fn random_token() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}
