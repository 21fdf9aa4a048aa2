//! The live feed of committed presence changes, for the web board: each
//! change gets the next number of this run, goes to every open board stream,
//! and the most recent ones are kept so that a browser reconnecting with
//! `Last-Event-ID` gets what it missed instead of reloading everything.
//!
//! Browsers never see the numbers themselves: a viewer's stream skips the
//! changes of people hidden from them, and counting the gaps between plain
//! numbers would tell them how often those people changed. Event ids are the
//! numbers under a keyed permutation that is new each run.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use mailpresence_protocol::model::AccountName;

use crate::store::PresenceRecord;

/// How many changes are kept for reconnecting browsers; one further back
/// gets a fresh board instead.
const KEPT: usize = 4096;
/// Changes waiting for a slow stream before it is told to start afresh.
const CHANNEL: usize = 1024;

/// One committed change of a person's row: their whole record as saved
/// (none when only what hangs beside it changed, such as a 伝言メモ, for
/// someone who never had presence).
#[derive(Debug, Clone)]
pub struct Change {
    /// Increasing within one run of the server (see [`Feed::event_id`]).
    pub id: u64,
    pub account: AccountName,
    pub record: Option<Arc<PresenceRecord>>,
}

#[derive(Debug)]
pub struct Feed {
    run_id: String,
    /// Keys the permutation of event ids; new each run.
    id_key: [u8; 32],
    sender: broadcast::Sender<Change>,
    /// The last id handed out and the changes kept, under one lock so that
    /// a reconnecting stream sees each change either here or on its channel.
    state: Mutex<(u64, VecDeque<Change>)>,
}

const ROUNDS: u8 = 4;

#[derive(Debug, Clone, Copy)]
enum Direction {
    Hide,
    Reveal,
}

/// What a reconnecting stream needs: the changes after its last id, or that
/// they are gone (another run of the server, or too long ago).
#[derive(Debug)]
pub enum Missed {
    Changes(Vec<Change>),
    TooOld,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    pub fn new() -> Self {
        Self {
            // Event ids carry the run: after a restart, old ids mean nothing.
            run_id: format!("{:016x}", rand::random::<u64>()),
            id_key: rand::random(),
            sender: broadcast::channel(CHANNEL).0,
            state: Mutex::new((0, VecDeque::with_capacity(KEPT))),
        }
    }

    /// The last id handed out (0: none yet).
    pub fn last_id(&self) -> u64 {
        self.lock().0
    }

    /// Change `n` as a browser's event id: `RUN-MASKED`.
    pub fn event_id(&self, n: u64) -> String {
        format!("{}-{:016x}", self.run_id, self.permute(n, Direction::Hide))
    }

    /// The change number of a browser's event id: `Some(n)` for this run's,
    /// `None` for another run's or a damaged one.
    pub fn change_number(&self, event_id: &str) -> Option<u64> {
        let (run, masked) = event_id.trim().split_once('-')?;
        if run != self.run_id || masked.len() != 16 {
            return None;
        }
        let masked = u64::from_str_radix(masked, 16).ok()?;
        Some(self.permute(masked, Direction::Reveal))
    }

    /// A four-round Feistel network over the two 32-bit halves, with SHA-256
    /// of the key, round and half as the round function: a permutation of
    /// u64 that only the key's holder can invert.
    fn permute(&self, value: u64, direction: Direction) -> u64 {
        let (mut left, mut right) = ((value >> 32) as u32, value as u32);
        for step in 0..ROUNDS {
            match direction {
                Direction::Hide => {
                    let mixed = left ^ self.round(step, right);
                    (left, right) = (right, mixed);
                }
                Direction::Reveal => {
                    let round = ROUNDS - 1 - step;
                    let mixed = right ^ self.round(round, left);
                    (left, right) = (mixed, left);
                }
            }
        }
        (u64::from(left) << 32) | u64::from(right)
    }

    fn round(&self, round: u8, half: u32) -> u32 {
        let digest = Sha256::new()
            .chain_update(self.id_key)
            .chain_update([round])
            .chain_update(half.to_be_bytes())
            .finalize();
        u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
    }

    /// Publishes a committed change to every open stream.
    pub fn push(&self, record: PresenceRecord) {
        self.push_person(record.account.clone(), Some(record));
    }

    /// Publishes that `account`'s row changed (their record as it is now,
    /// if any) to every open stream.
    pub fn push_person(&self, account: AccountName, record: Option<PresenceRecord>) {
        let mut state = self.lock();
        state.0 += 1;
        let change = Change {
            id: state.0,
            account,
            record: record.map(Arc::new),
        };
        if state.1.len() == KEPT {
            state.1.pop_front();
        }
        state.1.push_back(change.clone());
        // No receiver is fine: nobody has the board open.
        let _ = self.sender.send(change);
    }

    /// A new stream: its receiver, subscribed before the missed changes are
    /// read, so nothing falls between the two (a change in both is sent
    /// once: the stream skips ids it has already sent).
    pub fn subscribe(&self, after: Option<u64>) -> (broadcast::Receiver<Change>, Missed) {
        let state = self.lock();
        let receiver = self.sender.subscribe();
        let missed = match after {
            None => Missed::Changes(Vec::new()),
            Some(id) if id > state.0 => Missed::TooOld,
            Some(id) => match state.1.front() {
                Some(first) if first.id > id + 1 => Missed::TooOld,
                _ => Missed::Changes(state.1.iter().filter(|c| c.id > id).cloned().collect()),
            },
        };
        (receiver, missed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, VecDeque<Change>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Medium;
    use chrono::Utc;
    use mailpresence_protocol::model::{Activity, ActivityToken, Contact, PresenceFields};

    fn record(account: &str) -> PresenceRecord {
        PresenceRecord {
            account: account.parse().unwrap(),
            fields: PresenceFields::new(
                Contact::parse(""),
                Activity::token(ActivityToken::Available),
            ),
            source: Medium::Web,
            received_at: Utc::now(),
            location_expires_at: None,
        }
    }

    #[test]
    fn a_reconnecting_stream_gets_what_it_missed_or_hears_it_is_too_old() {
        let feed = Feed::new();
        for a in ["a", "b", "c"] {
            feed.push(record(a));
        }
        let (_, missed) = feed.subscribe(Some(1));
        let Missed::Changes(changes) = missed else {
            panic!("{missed:?}")
        };
        assert_eq!(changes.iter().map(|c| c.id).collect::<Vec<_>>(), [2, 3]);
        assert!(matches!(feed.subscribe(Some(9)).1, Missed::TooOld));
        for _ in 0..KEPT {
            feed.push(record("d"));
        }
        assert!(matches!(feed.subscribe(Some(1)).1, Missed::TooOld));
        let (mut live, _) = feed.subscribe(None);
        feed.push(record("e"));
        assert_eq!(live.try_recv().unwrap().account.as_str(), "e");
    }

    #[test]
    fn event_ids_hide_the_count_and_read_back_only_in_their_run() {
        let feed = Feed::new();
        let ids: Vec<String> = (0..1000).map(|n| feed.event_id(n)).collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(feed.change_number(id), Some(n as u64), "{id}");
        }
        let masked = |id: &String| u64::from_str_radix(&id[17..], 16).unwrap();
        let neighbours_apart = ids
            .windows(2)
            .filter(|w| masked(&w[1]).abs_diff(masked(&w[0])) < 1 << 40)
            .count();
        assert!(
            neighbours_apart < 5,
            "{neighbours_apart} of 999 close together"
        );
        let other_run = Feed::new();
        assert_ne!(other_run.change_number(&ids[5]), Some(5));
        for damaged in [
            "",
            "x",
            "abc-5",
            &ids[5][..20],
            &format!("{}-5", feed.run_id),
        ] {
            assert_eq!(feed.change_number(damaged), None, "{damaged}");
        }
    }
}
