//! The presence agent for desk phones: PUBLISH (RFC 3903), SUBSCRIBE/NOTIFY
//! (RFC 6665) for `Event: presence`, REGISTER when this server is the
//! registrar, OPTIONS. One task owns all SIP state and reacts to three
//! things: a message from the network, a delivery from the engine, the
//! clock. Presence itself lives in the engine and the store, like mail's.
//!
//! Messages that arrive while the agent is busy (storing the last group) are
//! taken together: all their engine steps run in one transaction, each in its
//! own savepoint, and what they cause — answers and NOTIFYs — is held until
//! that transaction is committed (one fsync for the whole group), then sent.
//!
//! The state is split by job, each part owning its maps behind a small API,
//! none reaching into another's; where one needs another's data, the router
//! passes it in or hands on what one returns:
//!
//! - `trust`: whether a request may act for a person (trusted networks,
//!   digest credentials and their nonces);
//! - `registrar`: REGISTER bindings (only when `[sip] registrar` is on);
//! - `publish`: publications, by entity-tag and by person;
//! - `subscribe`: subscription dialogs (`dialogs`) and the NOTIFYs they
//!   send (`notify`);
//! - `transaction`: our NOTIFYs awaiting answers, and the answer cache for
//!   requests sent again;
//! - `lifetime` (Expires), `reply` (what a handler answers), `stored` (what
//!   outlives a restart) serve them all.
//!
//! This file is the [`Agent`], the router: the loop, the groups, the clock.
//! `route` receives each message, checks what every request shares (headers,
//! event, who it is for, trust, Expires), dispatches by method and answers.

mod dialogs;
mod lifetime;
mod notify;
mod publish;
mod registrar;
mod reply;
mod route;
mod stored;
mod subscribe;
#[cfg(test)]
mod takeover_tests;
mod transaction;
mod trust;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailpresence_protocol::summary::Lang;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, trace};

use self::lifetime::Lifetimes;
use self::notify::Advertised;
use self::publish::Publications;
use self::registrar::Registrar;
use self::subscribe::{Outgoing, Subscriptions};
use self::transaction::{Answered, NotifyTransactions};
use self::trust::Trust;
use super::held::Held;
use super::transport::{Inbound, Outbound};
use crate::config::SipConfig;
use crate::engine::Delivery;
use crate::hub::{Batch, Hub};

const PIDF: &str = "application/pidf+xml";
/// The most messages (or deliveries) stored in one transaction: a bound on
/// how long an answer waits and how long the store is held from mail. A
/// group ends earlier when one peer's burst of answers is full (see `held`).
const MAX_GROUP: usize = 256;
/// The most queued deliveries ordered together (see `on_deliveries`): a
/// fan-out to up to this many watchers is ordered whole (a larger one in
/// slices), and memory holds no more than the queue already did.
const MAX_FAN_OUT_SORTED: usize = 20_000;

/// The router: receives each message, hands it to the part whose job it
/// is, and sends what comes back once the group is stored.
#[derive(Debug)]
pub struct Agent {
    hub: Arc<Hub>,
    config: SipConfig,
    out: Held,
    trust: Trust,
    lifetimes: Lifetimes,
    /// Registered contacts, when this server is the registrar.
    registrar: Registrar,
    publications: Publications,
    subscriptions: Subscriptions,
    /// Our NOTIFYs awaiting their answers.
    transactions: NotifyTransactions,
    /// Recent answers, for requests sent again (see `transaction::Answered`).
    answered: Answered,
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
        let trust = Trust::new(domain.clone(), &config.digest_algorithms);
        let here = Advertised::new(domain, advertise);
        let subscriptions = Subscriptions::resume(&hub, &config, here, lang);
        let publications = Publications::resume(&hub, config.max_publications_per_person);
        let lifetimes = Lifetimes::new(&config);
        let registrar = if config.registrar {
            Registrar::resume(&hub, lifetimes)
        } else {
            Registrar::new(lifetimes)
        };
        Self {
            hub,
            config,
            out: Held::new(out),
            trust,
            lifetimes,
            registrar,
            publications,
            subscriptions,
            transactions: NotifyTransactions::default(),
            answered: Answered::default(),
        }
    }

    /// Where phones reach us over TLS (written in Via and Contact of TLS dialogs).
    pub fn advertising_tls(mut self, host_port: Option<String>) -> Self {
        self.subscriptions.advertising_tls(host_port);
        self
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
                Some(first) = deliveries.recv() => self.on_deliveries(first, &mut deliveries),
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
        let started = Instant::now();
        let hub = Arc::clone(&self.hub);
        let mut handled = Duration::ZERO;
        if let Err(e) = hub.steps(|b| {
            f(self, b);
            handled = started.elapsed();
        }) {
            error!(error = %e, "SIP housekeeping not stored");
        }
        self.release_traced("group", started, handled);
    }

    /// Sends what the group held, and traces where its time went (handled,
    /// then committed, then sent; `SIP_LOG=…agent=trace` in bench/sip.sh).
    fn release_traced(&mut self, group: &str, started: Instant, handled: Duration) {
        let stored = started.elapsed();
        let released = self.out.release();
        trace!(
            handled_us = handled.as_micros(),
            stored_us = stored.as_micros(),
            released,
            sent_us = started.elapsed().as_micros(),
            "{group}"
        );
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

    /// Presence changes for SIP watchers: what is queued (a fan-out's
    /// NOTIFYs arrive together) is sent live watchers first, in groups.
    fn on_deliveries(&mut self, first: Delivery, queued: &mut mpsc::UnboundedReceiver<Delivery>) {
        let started = Instant::now();
        let mut fan_out = vec![first];
        while fan_out.len() < MAX_FAN_OUT_SORTED {
            match queued.try_recv() {
                Ok(d) => fan_out.push(d),
                Err(_) => break,
            }
        }
        self.subscriptions.live_first(&mut fan_out);
        let (deliveries, sorted) = (fan_out.len(), started.elapsed());
        let mut fan_out = fan_out.into_iter();
        let mut groups = 0;
        while let Some(first) = fan_out.next() {
            groups += 1;
            self.grouped(|agent, b| {
                agent.take_group(first, || fan_out.next(), b, Self::deliver);
            });
        }
        debug!(
            deliveries,
            groups,
            sorted_us = sorted.as_micros(),
            sent_us = started.elapsed().as_micros(),
            "fan-out sent"
        );
    }

    /// A group of messages, stored together; their answers go out after the
    /// commit, or, when it fails, every request is answered 500.
    fn on_messages(&mut self, first: Inbound, inbound: &mut mpsc::Receiver<Inbound>) {
        self.publications.begin_group();
        self.subscriptions.begin_group();
        let started = Instant::now();
        let hub = Arc::clone(&self.hub);
        let mut messages = Vec::new();
        let mut handled = Duration::ZERO;
        let stored = hub.steps(|b| {
            messages = self.take_group(first, || inbound.try_recv().ok(), b, Self::on_message);
            handled = started.elapsed();
        });
        if let Err(e) = stored {
            error!(error = %e, requests = messages.len(), "SIP requests not stored; answered 500");
            self.undo_group(&messages);
        }
        self.release_traced("message group", started, handled);
    }

    /// After a failed commit: forgets the group's dialogs and publications
    /// (the store rolled back with the group; memory follows) and answers
    /// its requests 500 in place of what was held for them.
    fn undo_group(&mut self, messages: &[Inbound]) {
        self.out.drop_responses();
        self.publications.undo_group();
        for dialog in self.subscriptions.undo_group() {
            self.transactions.forget_dialog(&dialog);
        }
        for inbound in messages {
            self.answer_500(inbound);
        }
    }

    /// The subscriptions, with what they send through lent for one step:
    /// the directory, the held output and the NOTIFY transactions.
    fn subscriptions(&mut self) -> (&mut Subscriptions, Outgoing<'_>) {
        let out = Outgoing {
            dir: self.hub.directory(),
            held: &mut self.out,
            transactions: &mut self.transactions,
        };
        (&mut self.subscriptions, out)
    }

    /// A presence change for a SIP watcher, from the engine.
    fn deliver(&mut self, delivery: &Delivery, b: &mut Batch<'_>) {
        let (subscriptions, mut out) = self.subscriptions();
        subscriptions.deliver(delivery, b, &mut out);
    }

    /// The timers: NOTIFYs given up on and resent, subscriptions,
    /// publications and bindings that expire.
    fn on_clock(&mut self, now: Instant, b: &mut Batch<'_>) {
        let unreachable = self.transactions.give_up(now);
        if !unreachable.is_empty() {
            let (subscriptions, mut out) = self.subscriptions();
            subscriptions.drop_watchers(unreachable.keys(), b, &mut out);
        }
        let subscriptions = &self.subscriptions;
        self.transactions
            .retransmit(now, &mut self.out, |id| subscriptions.watcher_answered(id));
        let (subscriptions, mut out) = self.subscriptions();
        let another_stopped = subscriptions.keep_alive(now, b, &mut out);
        subscriptions.expire(now, b, &mut out);
        if another_stopped {
            self.publications.adopt_orphans(b);
        }
        self.publications.expire(now, &self.hub.directory(), b);
        self.registrar.expire(now, b);
    }

    /// On a planned stop, the subscriptions that cannot outlive it end (see
    /// `Subscriptions::shut_down`).
    fn shut_down(&mut self, b: &mut Batch<'_>) {
        let (subscriptions, mut out) = self.subscriptions();
        subscriptions.shut_down(b, &mut out);
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
