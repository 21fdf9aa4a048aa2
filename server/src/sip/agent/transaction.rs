//! The NOTIFY transactions (RFC 3261 §17.1.2): each NOTIFY waits for its
//! answer, is resent over UDP (Timer E) and given up on after a deadline
//! (Timer F), which ends the subscription.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::{Agent, keys_where};
use crate::hub::Batch;
use crate::sip::message::{Message, param};
use crate::sip::transport::Peer;

/// RFC 3261 T1 and T2: NOTIFY over UDP is resent after 0.5 s, 1 s, 2 s, 4 s, 4 s…
pub(super) const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

/// A NOTIFY waiting for its answer.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) dialog: String,
    pub(super) bytes: Vec<u8>,
    pub(super) peer: Peer,
    pub(super) next_at: Instant,
    pub(super) interval: Duration,
    pub(super) give_up_at: Instant,
}

impl Agent {
    pub(super) fn on_response(&mut self, response: &Message, b: &mut Batch<'_>) {
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
        if (200..300).contains(&code) {
            let Some(dialog) = self.dialogs.get_mut(&pending.dialog) else {
                return;
            };
            if dialog.ending.is_some() {
                self.forget_dialog(&pending.dialog, b);
            } else if !dialog.answered {
                dialog.answered = true;
                self.store_dialog(&pending.dialog, b);
            }
        } else {
            info!(code, "NOTIFY refused by the watcher; subscription ended");
            self.drop_watcher(&pending.dialog, b);
        }
    }

    /// A NOTIFY unanswered until its deadline: the watcher is unreachable.
    /// A fan-out to a thousand phones that went away gives up on a thousand
    /// dialogs in one tick, so their other NOTIFYs are dropped in one pass.
    pub(super) fn give_up_unanswered(&mut self, now: Instant, b: &mut Batch<'_>) {
        let mut unreachable = HashMap::new();
        for branch in keys_where(&self.pending, |p| p.give_up_at <= now) {
            if let Some(p) = self.pending.remove(&branch) {
                debug!(dialog = %p.dialog, peer = %p.peer.addr(), "NOTIFY unanswered");
                unreachable.insert(p.dialog, p.peer.addr());
            }
        }
        match unreachable.len() {
            0 => return,
            1 => {
                for (dialog, peer) in &unreachable {
                    warn!(%dialog, %peer, "watcher does not answer NOTIFY; dropped");
                }
            }
            // One line, not one per phone.
            n => warn!(watchers = n, "watchers do not answer NOTIFY; all dropped"),
        }
        self.drop_watchers(unreachable.keys(), b);
    }

    /// RFC 3261 Timer E: resend over UDP, doubling the wait up to T2 — only
    /// to watchers that have answered us before (see `Dialog::answered`).
    pub(super) fn retransmit(&mut self, now: Instant) {
        let dialogs = &self.dialogs;
        for p in self.pending.values_mut().filter(|p| {
            !p.peer.is_reliable()
                && p.next_at <= now
                && dialogs.get(&p.dialog).is_some_and(|d| d.answered)
        }) {
            self.out.send_now(&p.peer, p.bytes.clone());
            p.interval = (p.interval * 2).min(T2);
            p.next_at = now + p.interval;
        }
    }
}

/// How long an answer is kept for a retransmitted request: RFC 3261 Timer J
/// (64 × T1) for non-INVITE server transactions over UDP.
const TIMER_J: Duration = Duration::from_secs(32);
/// The most answers kept; the oldest go first under a flood.
const MAX_ANSWERED: usize = 16_384;

/// Our recent answers to requests over UDP, by transaction (top Via branch,
/// sent-by and method): a phone whose answer was lost sends the same request
/// again, and gets the same answer again without it being handled twice
/// (RFC 3261 §17.2.2) — a PUBLISH stored twice, or a digest answer refused
/// as a replay.
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
