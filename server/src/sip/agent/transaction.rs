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

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
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

/// The most NOTIFYs resent, and the most given up on, in one tick of the
/// clock: the NOTIFYs of a fan-out to a thousand phones that went away all
/// come due in the same tick, and sending them all at once held the agent
/// for up to 20 ms while a live phone's request waited. The rest go in the
/// next ticks (100 ms apart).
const MOST_PER_TICK: usize = 256;

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
        let mut due = keys_where(&self.by_branch, |p| p.give_up_at <= now);
        due.truncate(MOST_PER_TICK);
        for branch in due {
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
        let due = |p: &Pending| p.next_at <= now && p.give_up_at > now && !p.peer.is_reliable();
        for p in self
            .by_branch
            .values_mut()
            .filter(|p| due(p) && answered(&p.dialog))
            .take(MOST_PER_TICK)
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
/// The most bytes the kept answers (with their keys) may take; the oldest go
/// first. A request is at most 64 KiB, so this holds at least 512 of the
/// largest; a phone's usual answer is under 1 KiB.
const MAX_ANSWERED_BYTES: usize = 32 * 1024 * 1024;

/// A request's transaction as the answer cache knows it: where it came from
/// (transport and address) and its RFC 3261 id (top Via branch, sent-by,
/// method). The source is part of it, so an answer is only ever sent again
/// to where its request came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TransactionKey {
    source: Peer,
    id: String,
}

/// A kept answer, with what tells its request sent again from another one
/// that merely shares its key: the request's length and a hash of its bytes.
#[derive(Debug)]
struct Kept {
    request_len: usize,
    request_hash: u64,
    answer: Vec<u8>,
}

/// The answer cache: our recent answers to requests over UDP, by
/// transaction: a phone whose answer was lost sends the same request again,
/// and gets the same answer again without it being handled twice (RFC 3261
/// §17.2.2) — a PUBLISH stored twice, or a digest answer refused as a replay.
///
/// It must not become an amplifier for a forged source address: a kept
/// answer is sent again only to the request's own source, and only for the
/// same bytes again (a phone resends its request unchanged). A short datagram
/// that merely shares a large request's key is not a retransmission: it is
/// handled as the new request it is, and answered for its own size. The
/// cache is bounded in entries and in bytes, oldest first.
#[derive(Debug, Default)]
pub(super) struct Answered {
    by_transaction: HashMap<TransactionKey, Kept>,
    order: VecDeque<(Instant, TransactionKey)>,
    /// What the kept answers and their keys weigh (see [`weight`]).
    bytes: usize,
    hasher: RandomState,
}

impl Answered {
    /// The transaction key of a request from `peer`, when it has an RFC 3261
    /// branch and came over UDP (over a stream, nothing is resent).
    pub(super) fn key(req: &Message, peer: &Peer) -> Option<TransactionKey> {
        if peer.is_reliable() {
            return None;
        }
        let via = req.header("Via")?;
        let branch = param(via, "branch").filter(|b| b.starts_with("z9hG4bK"))?;
        let sent_by = via.split(';').next().unwrap_or_default().trim();
        Some(TransactionKey {
            source: peer.clone(),
            id: format!("{branch} {sent_by} {}", req.method()?),
        })
    }

    /// The answer kept for `request` (its bytes), when it is one sent again.
    pub(super) fn again(&self, key: &TransactionKey, request: &[u8]) -> Option<&[u8]> {
        let kept = self.by_transaction.get(key)?;
        let same =
            kept.request_len == request.len() && kept.request_hash == self.hasher.hash_one(request);
        same.then_some(kept.answer.as_slice())
    }

    /// Keeps `answer` to `request` (its bytes) for Timer J.
    pub(super) fn remember(
        &mut self,
        key: TransactionKey,
        request: &[u8],
        answer: &[u8],
        now: Instant,
    ) {
        self.forget_old(now);
        let kept = Kept {
            request_len: request.len(),
            request_hash: self.hasher.hash_one(request),
            answer: answer.to_vec(),
        };
        let added = weight(&key, &kept);
        match self.by_transaction.entry(key) {
            Entry::Occupied(mut e) => {
                self.bytes -= weight(e.key(), e.get());
                e.insert(kept);
            }
            Entry::Vacant(e) => {
                self.order.push_back((now, e.key().clone()));
                e.insert(kept);
            }
        }
        self.bytes += added;
        while self.bytes > MAX_ANSWERED_BYTES || self.by_transaction.len() > MAX_ANSWERED {
            let Some((_, oldest)) = self.order.pop_front() else {
                break;
            };
            self.forget(&oldest);
        }
    }

    /// What the kept answers and their keys weigh now, in bytes.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < TIMER_J {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.forget(&key);
            }
        }
    }

    fn forget(&mut self, key: &TransactionKey) {
        if let Some(kept) = self.by_transaction.remove(key) {
            self.bytes -= weight(key, &kept);
        }
    }
}

/// What one kept answer weighs: its bytes, its key's text (held twice: in
/// the map and in the order) and the fixed size of each part.
fn weight(key: &TransactionKey, kept: &Kept) -> usize {
    const FIXED: usize = 2 * size_of::<TransactionKey>() + size_of::<Kept>() + size_of::<Instant>();
    FIXED + 2 * key.id.len() + kept.answer.len()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use super::{Answered, MAX_ANSWERED_BYTES, MOST_PER_TICK, NotifyTransactions, TransactionKey};
    use crate::sip::message::Message;
    use crate::sip::transport::Peer;

    fn request(branch: usize, padding: usize) -> Vec<u8> {
        format!(
            "PUBLISH sip:a@example.test SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-{branch}\r\n\
             Subject: {}\r\n\r\n",
            "x".repeat(padding)
        )
        .into_bytes()
    }

    fn key(request: &[u8], from: &str) -> TransactionKey {
        let from: SocketAddr = from.parse().unwrap();
        let message = Message::parse(request, false).unwrap();
        Answered::key(&message, &Peer::Udp(from)).unwrap()
    }

    #[test]
    fn a_tick_gives_up_on_a_bounded_number_of_notifys_and_the_rest_on_the_next() {
        let mut pending = NotifyTransactions::default();
        let phone = Peer::Udp("192.0.2.7:5060".parse().unwrap());
        let gone = MOST_PER_TICK + 10;
        for n in 0..gone {
            let (branch, dialog) = (format!("z9hG4bK-{n}"), format!("dialog-{n}"));
            pending.start(branch, &dialog, Vec::new(), phone.clone(), Duration::ZERO);
        }
        let later = Instant::now() + Duration::from_millis(1);
        let ticks: Vec<usize> = (0..3).map(|_| pending.give_up(later).len()).collect();
        assert_eq!(ticks, [MOST_PER_TICK, 10, 0]);
    }

    #[test]
    fn large_answers_stay_within_the_byte_bound_oldest_going_first() {
        let mut cache = Answered::default();
        let now = Instant::now();
        let answer = vec![b'a'; 60 * 1024];
        let filled = 2 * MAX_ANSWERED_BYTES / answer.len();
        for n in 0..filled {
            let req = request(n, 0);
            cache.remember(key(&req, "10.0.0.5:5060"), &req, &answer, now);
            assert!(
                cache.bytes() <= MAX_ANSWERED_BYTES,
                "{} bytes",
                cache.bytes()
            );
        }
        assert!(cache.bytes() > MAX_ANSWERED_BYTES - 2 * answer.len());
        let (first, last) = (request(0, 0), request(filled - 1, 0));
        assert!(cache.again(&key(&first, "10.0.0.5:5060"), &first).is_none());
        assert!(cache.again(&key(&last, "10.0.0.5:5060"), &last).is_some());
    }

    #[test]
    fn an_answer_is_sent_again_only_for_the_same_request_from_the_same_source() {
        let mut cache = Answered::default();
        let large = request(1, 60 * 1024);
        let phone = "10.0.0.5:5060";
        cache.remember(key(&large, phone), &large, &large, Instant::now());
        assert_eq!(cache.again(&key(&large, phone), &large), Some(&large[..]));

        assert!(cache.again(&key(&large, "10.0.0.9:5060"), &large).is_none());
        let short = request(1, 0);
        assert_eq!(key(&short, phone), key(&large, phone));
        assert!(cache.again(&key(&short, phone), &short).is_none());
    }
}
