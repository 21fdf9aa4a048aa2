//! The live feed of committed presence changes, for the web board: each
//! change gets the next number of this run, goes to every open board stream,
//! and the most recent ones are kept so that a browser reconnecting with
//! `Last-Event-ID` gets what it missed instead of reloading everything.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::store::PresenceRecord;

/// How many changes are kept for reconnecting browsers; one further back
/// gets a fresh board instead.
const KEPT: usize = 4096;
/// Changes waiting for a slow stream before it is told to start afresh.
const CHANNEL: usize = 1024;

/// One committed change: the person's whole record as saved.
#[derive(Debug, Clone)]
pub struct Change {
    /// Increasing within one run of the server (see [`Feed::run_id`]).
    pub id: u64,
    pub record: Arc<PresenceRecord>,
}

#[derive(Debug)]
pub struct Feed {
    run_id: String,
    sender: broadcast::Sender<Change>,
    /// The last id handed out and the changes kept, under one lock so that
    /// a reconnecting stream sees each change either here or on its channel.
    state: Mutex<(u64, VecDeque<Change>)>,
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
            sender: broadcast::channel(CHANNEL).0,
            state: Mutex::new((0, VecDeque::with_capacity(KEPT))),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The last id handed out (0: none yet).
    pub fn last_id(&self) -> u64 {
        self.lock().0
    }

    /// Publishes a committed change to every open stream.
    pub fn push(&self, record: PresenceRecord) {
        let mut state = self.lock();
        state.0 += 1;
        let change = Change {
            id: state.0,
            record: Arc::new(record),
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
        assert_eq!(live.try_recv().unwrap().record.account.as_str(), "e");
    }
}
