//! What the agent sends, held back until the store has committed the steps
//! that caused it: a 200 OK to a PUBLISH promises that the presence is on
//! disk, and a NOTIFY must not announce a change that a power cut could still
//! undo. The agent runs a group of messages in one transaction, then releases
//! everything it held for them at once.

use tracing::debug;

use super::transport::{Outbound, Peer};

/// Whether a held message answers a request (and so says whether that request
/// was stored) or is a request of ours (a NOTIFY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Response,
    Request,
}

#[derive(Debug)]
pub struct Held {
    out: Outbound,
    queue: Vec<(Kind, Peer, Vec<u8>)>,
}

impl Held {
    pub fn new(out: Outbound) -> Self {
        Self {
            out,
            queue: Vec::new(),
        }
    }

    /// Keeps `bytes` for `peer` until [`Held::release`].
    pub fn hold(&mut self, kind: Kind, peer: &Peer, bytes: Vec<u8>) {
        self.queue.push((kind, peer.clone(), bytes));
    }

    /// Whether a message for `peer` can still be sent (a TCP connection may be gone).
    pub fn can_reach(&self, peer: &Peer) -> bool {
        self.out.is_open(peer)
    }

    /// Sends everything held, in the order it was held.
    pub fn release(&mut self) {
        for (_, peer, bytes) in self.queue.drain(..) {
            if !self.out.send(&peer, bytes) {
                debug!(peer = %peer.addr(), "not sent: connection gone");
            }
        }
    }

    /// Forgets the held responses: what they said was not stored. Our own
    /// requests stay.
    pub fn drop_responses(&mut self) {
        self.queue.retain(|(kind, ..)| *kind == Kind::Request);
    }

    /// Sends `bytes` now, holding nothing: for what needs no commit
    /// (retransmissions of NOTIFYs already released).
    pub fn send_now(&self, peer: &Peer, bytes: Vec<u8>) {
        self.out.send(peer, bytes);
    }
}
