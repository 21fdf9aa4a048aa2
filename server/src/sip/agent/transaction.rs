//! The transaction layer (RFC 3261 §17), below the dialogs: what the agent
//! remembers of single request/answer exchanges, apart from what they are about.
//!
//! - [`NotifyTransactions`], our NOTIFYs awaiting their answers (client
//!   transactions, §17.1.2): each is resent over UDP (Timer E) and given up
//!   on after a deadline (Timer F). It knows each NOTIFY's dialog only by
//!   id; what an answer or a give-up means for the subscription is decided
//!   by the dialogs' owner, `Subscriptions`, which the router hands it to.
//! - [`Answered`], the answer cache (server transactions, §17.2.2): a request
//!   sent again gets the same answer without being handled twice.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::keys_where;
use crate::sip::held::Held;
use crate::sip::message::{Message, param};
use crate::sip::transport::Peer;

/// RFC 3261 T1 and T2: NOTIFY over UDP is resent after 0.5 s, 1 s, 2 s, 4 s, 4 s…
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

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

/// Our NOTIFYs awaiting their answers, by the branch of their Via.
#[derive(Debug, Default)]
pub(super) struct NotifyTransactions {
    by_branch: HashMap<String, Pending>,
}

impl NotifyTransactions {
    /// Starts the transaction of a NOTIFY in `dialog`, sent (held) as
    /// `bytes` to `peer`: it waits for its answer until `timeout` has passed.
    pub(super) fn start(
        &mut self,
        branch: String,
        dialog: &str,
        bytes: Vec<u8>,
        peer: Peer,
        timeout: Duration,
    ) {
        let now = Instant::now();
        self.by_branch.insert(
            branch,
            Pending {
                dialog: dialog.to_owned(),
                bytes,
                next_at: now + T1,
                interval: T1,
                give_up_at: now + timeout,
                peer,
            },
        );
    }

    /// A response from the network: when it is the final answer to one of
    /// our NOTIFYs, that transaction ends, and its dialog and the answer's
    /// status come back.
    pub(super) fn on_response(&mut self, response: &Message) -> Option<(String, u16)> {
        let branch = response.header("Via").and_then(|v| param(v, "branch"))?;
        let code = response.status().unwrap_or(0);
        if code < 200 {
            return None;
        }
        let pending = self.by_branch.remove(branch)?;
        Some((pending.dialog, code))
    }

    /// The NOTIFYs unanswered until their deadline end; the dialogs whose
    /// watchers are unreachable come back, with where they were. A fan-out
    /// to a thousand phones that went away gives up on a thousand dialogs
    /// in one tick, so this logs one line, not one per phone.
    pub(super) fn give_up(&mut self, now: Instant) -> HashMap<String, SocketAddr> {
        let mut unreachable = HashMap::new();
        for branch in keys_where(&self.by_branch, |p| p.give_up_at <= now) {
            if let Some(p) = self.by_branch.remove(&branch) {
                debug!(dialog = %p.dialog, peer = %p.peer.addr(), "NOTIFY unanswered");
                unreachable.insert(p.dialog, p.peer.addr());
            }
        }
        match unreachable.len() {
            0 => {}
            1 => {
                for (dialog, peer) in &unreachable {
                    warn!(%dialog, %peer, "watcher does not answer NOTIFY; dropped");
                }
            }
            n => warn!(watchers = n, "watchers do not answer NOTIFY; all dropped"),
        }
        unreachable
    }

    /// RFC 3261 Timer E: resend over UDP, doubling the wait up to T2 — only
    /// to watchers that have answered us before (`answered`, the dialogs'
    /// owner's word; see `Dialog::answered`).
    pub(super) fn retransmit(
        &mut self,
        now: Instant,
        out: &mut Held,
        answered: impl Fn(&str) -> bool,
    ) {
        for p in self
            .by_branch
            .values_mut()
            .filter(|p| !p.peer.is_reliable() && p.next_at <= now && answered(&p.dialog))
        {
            out.send_now(&p.peer, p.bytes.clone());
            p.interval = (p.interval * 2).min(T2);
            p.next_at = now + p.interval;
        }
    }

    /// The NOTIFYs of dialog `id` are no longer awaited (it is gone).
    pub(super) fn forget_dialog(&mut self, id: &str) {
        self.by_branch.retain(|_, p| p.dialog != id);
    }

    /// [`Self::forget_dialog`] for many dialogs, in one pass.
    pub(super) fn forget_dialogs(&mut self, ids: &HashSet<&String>) {
        self.by_branch.retain(|_, p| !ids.contains(&p.dialog));
    }
}

/// How long an answer is kept for a retransmitted request: RFC 3261 Timer J
/// (64 × T1) for non-INVITE server transactions over UDP.
const TIMER_J: Duration = Duration::from_secs(32);
/// The most answers kept; the oldest go first under a flood.
const MAX_ANSWERED: usize = 16_384;

/// The answer cache: our recent answers to requests over UDP, by
/// transaction (top Via branch, sent-by and method): a phone whose answer was
/// lost sends the same request again, and gets the same answer again without
/// it being handled twice (RFC 3261 §17.2.2) — a PUBLISH stored twice, or a
/// digest answer refused as a replay.
#[derive(Debug, Default)]
pub(super) struct Answered {
    by_transaction: HashMap<String, Vec<u8>>,
    order: VecDeque<(Instant, String)>,
}

impl Answered {
    /// The transaction key of a request, when it has an RFC 3261 branch.
    pub(super) fn key(req: &Message, peer: &Peer) -> Option<String> {
        if peer.is_reliable() {
            return None;
        }
        let via = req.header("Via")?;
        let branch = param(via, "branch").filter(|b| b.starts_with("z9hG4bK"))?;
        let sent_by = via.split(';').next().unwrap_or_default().trim();
        Some(format!("{branch} {sent_by} {}", req.method()?))
    }

    pub(super) fn get(&self, key: &str) -> Option<&[u8]> {
        self.by_transaction.get(key).map(Vec::as_slice)
    }

    pub(super) fn remember(&mut self, key: String, answer: &[u8], now: Instant) {
        self.forget_old(now);
        if self.by_transaction.len() >= MAX_ANSWERED
            && let Some((_, oldest)) = self.order.pop_front()
        {
            self.by_transaction.remove(&oldest);
        }
        if self
            .by_transaction
            .insert(key.clone(), answer.to_vec())
            .is_none()
        {
            self.order.push_back((now, key));
        }
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < TIMER_J {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.by_transaction.remove(&key);
            }
        }
    }
}
