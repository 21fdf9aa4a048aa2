//! The router's way with one message: a response goes to the transaction
//! layer; a request sent again (the same bytes from the same source) gets its
//! cached answer; any other request is checked for what every request
//! shares (its headers, its event, whom it is for, their trust — a trusted
//! network or digest credentials — and its Expires), then handed by method
//! to the part whose job it is: the publications, the subscription dialogs,
//! or the registrar. Every request gets exactly one answer, made here by
//! `respond`.

use std::time::Instant;

use tracing::{debug, warn};

use super::reply::{Handled, Reply};
use super::subscribe::{Outgoing, dialog_id};
use super::transaction::Answered;
use super::{Agent, PIDF};
use crate::directory::{Directory, Person, sip_user_host};
use crate::hub::Batch;
use crate::sip::held::Kind;
use crate::sip::message::{Message, SipError, StartLine, event_package, has_param, param, uri_of};
use crate::sip::transport::{Inbound, Peer};

const ALLOW: &str = "PUBLISH, SUBSCRIBE, NOTIFY, OPTIONS";
const ALLOW_WITH_REGISTER: &str = "PUBLISH, SUBSCRIBE, NOTIFY, OPTIONS, REGISTER";

impl Agent {
    /// Whether `peer` is in `[sip] trusted_networks`, as its transport lets
    /// the source address be believed (a UDP datagram's only with
    /// `trusted_over_udp`).
    fn is_on_trusted_network(&self, peer: &Peer) -> bool {
        self.config
            .trusts(peer.addr().ip(), matches!(peer, Peer::Udp(_)))
    }

    pub(super) fn on_message(&mut self, inbound: &Inbound, b: &mut Batch<'_>) {
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
        if let Some(again) = Answered::key(&message, &inbound.peer)
            .and_then(|key| self.answered.again(&key, &inbound.bytes))
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
        self.respond(&message, inbound, reply);
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

    /// A response: the answer to one of our NOTIFYs, whose transaction ends
    /// and whose dialog learns of it.
    fn on_response(&mut self, response: &Message, b: &mut Batch<'_>) {
        let Some((dialog, code)) = self.transactions.on_response(response) else {
            return;
        };
        let (subscriptions, mut out) = self.subscriptions();
        subscriptions.notify_answered(&dialog, code, b, &mut out);
    }

    /// A PUBLISH about its presentity, from that person, who is trusted.
    fn on_publish(&mut self, req: &Message, peer: &Peer, b: &mut Batch<'_>) -> Handled {
        if !is_presence_event(req) {
            return Err(Reply::new(489, "Bad Event").with("Allow-Events", "presence"));
        }
        let directory = self.hub.directory();
        let dir = &*directory;
        let person = presentity(dir, req).ok_or_else(|| Reply::new(404, "Not Found"))?;
        let publisher = req
            .header("From")
            .map(uri_of)
            .and_then(|u| dir.by_sip_uri(u));
        if publisher.is_none_or(|p| p.account != person.account) {
            warn!(presentity = %person.account, from = req.header("From").unwrap_or("-"), "PUBLISH for someone else refused");
            return Err(Reply::new(403, "Forbidden"));
        }
        let trusted = self.is_on_trusted_network(peer);
        self.trust.authorize(req, peer, person, trusted)?;
        let expires = self.lifetimes.of_request(req)?;
        self.publications.publish(req, person, expires, b)
    }

    /// A SUBSCRIBE from a watcher who is trusted: a new subscription (or a
    /// fetch) when its To has no tag, else one in an existing dialog.
    fn on_subscribe(&mut self, req: &Message, peer: &Peer, b: &mut Batch<'_>) -> Handled {
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
        let expires = self.lifetimes.of_request(req)?;
        let directory = self.hub.directory();
        let dir = &*directory;
        let watcher = req
            .header("From")
            .map(uri_of)
            .and_then(|u| dir.by_sip_uri(u));
        let Some(watcher) = watcher else {
            warn!(
                from = req.header("From").unwrap_or("-"),
                "SUBSCRIBE from someone not in the directory"
            );
            return Err(Reply::new(403, "Forbidden"));
        };
        let trusted = self.is_on_trusted_network(peer);
        self.trust.authorize(req, peer, watcher, trusted)?;
        let mut out = Outgoing {
            dir: directory.clone(),
            held: &mut self.out,
            transactions: &mut self.transactions,
        };
        match req.header("To").and_then(|t| param(t, "tag")) {
            Some(tag) => {
                let id = dialog_id(req, tag);
                self.subscriptions
                    .refresh(peer, watcher, &id, expires, b, &mut out)
            }
            None => {
                let presentity =
                    presentity(dir, req).ok_or_else(|| Reply::new(404, "Not Found"))?;
                let parties = (watcher, presentity);
                self.subscriptions
                    .open(req, peer, parties, expires, b, &mut out)
            }
        }
    }

    /// A REGISTER for its To URI (the address of record, which must be
    /// someone's), from a trusted source or with that person's credentials.
    fn on_register(&mut self, req: &Message, peer: &Peer, b: &mut Batch<'_>) -> Handled {
        let directory = self.hub.directory();
        let dir = &*directory;
        let person = req.header("To").map(uri_of).and_then(|u| dir.by_sip_uri(u));
        let person = person.ok_or_else(|| Reply::new(404, "Not Found"))?;
        let trusted = self.is_on_trusted_network(peer);
        self.trust.authorize(req, peer, person, trusted)?;
        self.registrar.register(req, person, b)
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
                inbound,
                Reply::new(400, "Bad Request").because(error),
            );
        }
    }

    /// A request of a group whose commit failed: answered 500 (when it is
    /// one that gets an answer at all).
    pub(super) fn answer_500(&mut self, inbound: &Inbound) {
        let Ok(req) = Message::parse(&inbound.bytes, inbound.peer.is_reliable()) else {
            return;
        };
        if req.method().is_some_and(|m| m != "ACK") && check_request(&req).is_ok() {
            self.respond(&req, inbound, Reply::new(500, "Server Internal Error"));
        }
    }

    /// Answers `req` (read from `inbound`) with `reply`; held until the
    /// group is stored, and kept for the request sent again. The one place a
    /// response is made. An answer copies of its request only the headers
    /// RFC 3261 §8.2.6.2 asks for, so it outweighs its request by no more
    /// than what we add (a tag, challenges, a Contact).
    fn respond(&mut self, req: &Message, inbound: &Inbound, reply: Reply) {
        let peer = &inbound.peer;
        // RFC 3261 §8.2.6.2: every final answer carries our To-tag (kept when
        // the request's To already has one).
        let tag = reply.to_tag.unwrap_or_else(super::random_token);
        let mut response = Message::response_to(req, reply.code, reply.reason, Some(&tag));
        mark_via_received(&mut response, peer);
        response.push("Server", "mailpresence");
        for (name, value) in reply.headers {
            response.push(name, value);
        }
        self.hub.metrics.sip_answer(req.method(), reply.code);
        let bytes = response.to_bytes();
        if let Some(key) = Answered::key(req, peer) {
            self.answered
                .remember(key, &inbound.bytes, &bytes, Instant::now());
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
}

/// The person a request is about: its Request-URI's user (or the To URI's).
fn presentity<'d>(dir: &'d Directory, req: &Message) -> Option<&'d Person> {
    let ruri = match &req.start {
        StartLine::Request { uri, .. } => uri.as_str(),
        StartLine::Response { .. } => return None,
    };
    [ruri, req.header("To").map(uri_of).unwrap_or_default()]
        .into_iter()
        .filter_map(sip_user_host)
        .find_map(|(user, _)| dir.by_sip_user(&user))
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
