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
//!
//! This file is the routing loop and what every request shares (answers,
//! authentication, Expires); `publish`, `subscribe` and `transaction` (our
//! NOTIFYs awaiting their answers) hold the rest.

mod dialogs;
mod publish;
mod registrar;
mod reply;
mod stored;
mod subscribe;
mod transaction;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailpresence_protocol::model::AccountName;
use mailpresence_protocol::pidf;
use mailpresence_protocol::summary::Lang;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, warn};

use self::dialogs::{Dialogs, Ending};
use self::publish::Publications;
use self::reply::{Handled, Reply};
use self::transaction::{Answered, Pending};
use super::digest::{Check, Nonces};
use super::held::{Held, Kind};
use super::message::{Message, SipError, event_package, has_param, param, uri_of};
use super::transport::{Inbound, Outbound, Peer};
use crate::config::SipConfig;
use crate::directory::{Person, sip_user_host};
use crate::engine::Delivery;
use crate::hub::{Batch, Hub};

const PIDF: &str = "application/pidf+xml";
const ALLOW: &str = "PUBLISH, SUBSCRIBE, NOTIFY, OPTIONS";
const ALLOW_WITH_REGISTER: &str = "PUBLISH, SUBSCRIBE, NOTIFY, OPTIONS, REGISTER";
/// The most messages (or deliveries) stored in one transaction: a bound on
/// how long an answer waits and how long the store is held from mail. A
/// group ends earlier when one peer's burst of answers is full (see `held`).
const MAX_GROUP: usize = 256;

#[derive(Debug)]
pub struct Agent {
    hub: Arc<Hub>,
    config: SipConfig,
    domain: String,
    advertise: String,
    /// `host:port` for TLS dialogs (the TLS port), when TLS is on.
    advertise_tls: Option<String>,
    lang: Lang,
    out: Held,
    publications: Publications,
    dialogs: Dialogs,
    /// Registered contacts, when this server is the registrar.
    bindings: registrar::Bindings,
    pending: HashMap<String, Pending>,
    /// Recent answers, for requests sent again (see `transaction::Answered`).
    answered: Answered,
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

impl Agent {
    pub fn new(
        hub: Arc<Hub>,
        config: SipConfig,
        domain: String,
        advertise: String,
        lang: Lang,
        out: Outbound,
    ) -> Self {
        let dialogs = Dialogs::resume(&hub);
        let nonces = Nonces::offering(&config.digest_algorithms);
        let publications = publish::resume(&hub);
        let bindings = if config.registrar {
            registrar::resume(&hub)
        } else {
            registrar::Bindings::new()
        };
        Self {
            hub,
            config,
            domain,
            advertise,
            advertise_tls: None,
            lang,
            out: Held::new(out),
            publications,
            dialogs,
            bindings,
            pending: HashMap::new(),
            answered: Answered::default(),
            nonces,
            made: Vec::new(),
        }
    }

    /// Where phones reach us over TLS (written in Via and Contact of TLS dialogs).
    pub fn advertising_tls(mut self, host_port: Option<String>) -> Self {
        self.advertise_tls = host_port;
        self
    }

    /// `host:port` as `peer` reaches us: the TLS port for TLS.
    fn advertised(&self, peer: &Peer) -> &str {
        match (peer, &self.advertise_tls) {
            (Peer::Tls { .. }, Some(tls)) => tls,
            _ => &self.advertise,
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
                    // The store rolled back with the group; memory follows.
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
                    Reply::new(500, "Server Internal Error"),
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
        if message.method() == Some("ACK") {
            return;
        }
        if let Some(again) =
            Answered::key(&message, &inbound.peer).and_then(|key| self.answered.get(&key))
        {
            debug!(peer = %inbound.peer.addr(), "request sent again; same answer");
            let again = again.to_vec();
            return self.out.hold(Kind::Response, &inbound.peer, again);
        }
        let handled = match check_request(&message) {
            Err(e) => Err(Reply::new(400, "Bad Request").because(e)),
            Ok(()) => self.route(&message, &inbound.peer, b),
        };
        let (Ok(reply) | Err(reply)) = handled;
        self.respond(&message, &inbound.peer, reply);
    }

    /// The handler of each method; every request gets exactly one answer.
    fn route(&mut self, req: &Message, peer: &Peer, b: &mut Batch<'_>) -> Handled {
        match req.method().unwrap_or_default() {
            "PUBLISH" => self.on_publish(req, peer, b),
            "SUBSCRIBE" => self.on_subscribe(req, peer, b),
            "REGISTER" if self.config.registrar => self.on_register(req, peer, b),
            "OPTIONS" => Ok(Reply::ok()
                .with("Allow", self.allow())
                .with("Accept", PIDF)
                .with("Allow-Events", "presence")),
            "NOTIFY" => Err(Reply::new(481, "Subscription Does Not Exist")),
            _ => Err(Reply::new(405, "Method Not Allowed").with("Allow", self.allow())),
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
            self.respond(
                &head,
                &inbound.peer,
                Reply::new(400, "Bad Request").because(error),
            );
        }
    }

    // ---- outbound -----------------------------------------------------------

    /// Answers `req` with `reply`; held until the group is stored. The one
    /// place a response is made.
    fn respond(&mut self, req: &Message, peer: &Peer, reply: Reply) {
        // RFC 3261 §8.2.6.2: every final answer carries our To-tag (kept when
        // the request's To already has one).
        let tag = reply.to_tag.unwrap_or_else(random_token);
        let mut response = Message::response_to(req, reply.code, reply.reason, Some(&tag));
        mark_via_received(&mut response, peer);
        response.push("Server", "mailpresence");
        for (name, value) in reply.headers {
            response.push(name, value);
        }
        let bytes = response.to_bytes();
        if let Some(key) = Answered::key(req, peer) {
            self.answered.remember(key, &bytes, Instant::now());
        }
        self.out.hold(Kind::Response, peer, bytes);
    }

    fn allow(&self) -> &'static str {
        if self.config.registrar {
            ALLOW_WITH_REGISTER
        } else {
            ALLOW
        }
    }

    /// Our Contact for a dialog with `peer`: on the transport the peer came on
    /// (RFC 3261 §8.1.1.8), so the phone keeps the dialog there.
    fn contact(&self, user: Option<&AccountName>, peer: &Peer) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        let transport = peer
            .uri_param()
            .map(|t| format!(";transport={t}"))
            .unwrap_or_default();
        format!("<sip:{user}{}{transport}>", self.advertised(peer))
    }

    // ---- time ---------------------------------------------------------------

    fn on_clock(&mut self, now: Instant, b: &mut Batch<'_>) {
        self.give_up_unanswered(now, b);
        self.retransmit(now);
        for id in self
            .dialogs
            .ids_where(|d| d.ending.is_none() && d.expires_at <= now)
        {
            self.end_dialog(&id, Ending::Timeout, b);
        }
        self.expire_publications(now, b);
        self.expire_bindings(now, b);
    }

    /// On a planned stop, subscriptions over UDP stay in the store and go on
    /// after the restart; those over TCP or TLS die with their connections,
    /// so their watchers are told to subscribe again (RFC 6665
    /// `deactivated`), which phones do without anyone's help.
    fn shut_down(&mut self, b: &mut Batch<'_>) {
        for id in self
            .dialogs
            .ids_where(|d| d.ending.is_none() && d.peer.is_reliable())
        {
            self.end_dialog(&id, Ending::Deactivated, b);
        }
    }

    // ---- helpers ------------------------------------------------------------

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

    /// Whether `req` may act for `person`: it comes from a trusted network,
    /// or carries `person`'s digest credentials. Otherwise the answer: 401
    /// with a challenge, or 403 when `person` has no password to prove.
    fn authorize(&mut self, req: &Message, peer: &Peer, person: &Person) -> Result<(), Reply> {
        if self.config.trusts(peer.addr().ip()) {
            return Ok(());
        }
        let Some(password) = &person.sip_password else {
            warn!(account = %person.account, peer = %peer.addr(), "SIP request refused: no sip_password and not from a trusted network");
            return Err(Reply::new(403, "Forbidden")
                .because("not from a trusted network and no password set"));
        };
        let user = sip_user_host(person.sip.as_deref().unwrap_or_default())
            .map(|(u, _)| u)
            .unwrap_or_else(|| person.account.to_string());
        let check = self
            .nonces
            .check(req, &self.domain, &user, password.expose());
        if check == Check::Valid {
            return Ok(());
        }
        debug!(account = %person.account, peer = %peer.addr(), ?check, "digest credentials not accepted");
        let challenges = self.nonces.challenges(&self.domain, check == Check::Stale);
        Err(challenges
            .into_iter()
            .fold(Reply::new(401, "Unauthorized"), |r, c| {
                r.with("WWW-Authenticate", c)
            }))
    }

    /// The Expires of a request, defaulted and capped; the answer when it is
    /// unreadable (400) or too brief (423).
    fn expires(&self, req: &Message) -> Result<u32, Reply> {
        let asked = req
            .expires()
            .map_err(|_| Reply::new(400, "Bad Request").because("Expires is not a number"))?;
        self.granted_expires(asked)
    }

    /// What is granted of an asked lifetime (none asked: the default).
    fn granted_expires(&self, asked: Option<u32>) -> Result<u32, Reply> {
        let e = asked
            .unwrap_or(self.config.default_expires)
            .min(self.config.max_expires);
        if e != 0 && e < self.config.min_expires {
            return Err(Reply::new(423, "Interval Too Brief")
                .with("Min-Expires", self.config.min_expires.to_string()));
        }
        Ok(e)
    }
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

fn random_token() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}
