//! What the agent sends, held back until the store has committed the steps
//! that caused it: a 200 OK to a PUBLISH promises that the presence is on
//! disk, and a NOTIFY must not announce a change that a power cut could still
//! undo. The agent runs a group of messages in one transaction, then releases
//! everything it held for them at once.
//!
//! Released at once, a group's datagrams for one UDP peer arrive as one burst.
//! A peer that receives for many phones (a proxy, an SBC, SIPp) drops what
//! does not fit in its receive buffer, and each drop costs a retransmission
//! 500 ms later; so the agent ends a group before any one peer's burst
//! outgrows [`Held::MAX_BURST`].

use std::collections::HashMap;
use std::net::SocketAddr;

use tracing::debug;

use super::transport::{Outbound, Peer};

/// Whether a held message answers a request (and so says whether that request
/// was stored) or is a request of ours (a NOTIFY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Response,
    Request,
}

/// What a datagram costs in a Linux receive buffer beyond its bytes (its
/// socket buffer's bookkeeping: a 350-byte datagram counts as 1,280).
const DATAGRAM_OVERHEAD: usize = 1024;

#[derive(Debug)]
pub struct Held {
    out: Outbound,
    queue: Vec<(Kind, Peer, Vec<u8>)>,
    /// Receive-buffer bytes of the held datagrams, per UDP peer.
    burst: HashMap<SocketAddr, usize>,
    largest_burst: usize,
}

impl Held {
    /// The most receive-buffer bytes one UDP peer gets in one release: half
    /// of what SIPp's socket holds (64 KB asked, 128 KB granted), a quarter of
    /// Linux's default receive buffer.
    pub const MAX_BURST: usize = 64 * 1024;

    pub fn new(out: Outbound) -> Self {
        Self {
            out,
            queue: Vec::new(),
            burst: HashMap::new(),
            largest_burst: 0,
        }
    }

    /// Keeps `bytes` for `peer` until [`Held::release`].
    pub fn hold(&mut self, kind: Kind, peer: &Peer, bytes: Vec<u8>) {
        if let Peer::Udp(addr) = peer {
            let burst = self.burst.entry(*addr).or_default();
            *burst += bytes.len() + DATAGRAM_OVERHEAD;
            self.largest_burst = self.largest_burst.max(*burst);
        }
        self.queue.push((kind, peer.clone(), bytes));
    }

    /// Receive-buffer bytes of the largest burst held for one UDP peer.
    pub fn largest_burst(&self) -> usize {
        self.largest_burst
    }

    /// Whether a message for `peer` can still be sent (a TCP connection may be gone).
    pub fn can_reach(&self, peer: &Peer) -> bool {
        self.out.is_open(peer)
    }

    /// Sends everything held: the answers first, then our requests, each in
    /// the order held — so a phone hears the 200 OK to its SUBSCRIBE before
    /// the NOTIFY that the same request caused (RFC 6665 allows either, but
    /// some phones drop a NOTIFY for a dialog they do not know yet).
    /// Returns how many messages went.
    pub fn release(&mut self) -> usize {
        // A stable sort: responses keep their order, requests theirs.
        self.queue.sort_by_key(|(kind, ..)| *kind == Kind::Request);
        let released = self.queue.len();
        for (_, peer, bytes) in self.queue.drain(..) {
            if !self.out.send(&peer, bytes) {
                debug!(peer = %peer.addr(), "not sent: connection gone");
            }
        }
        self.burst.clear();
        self.largest_burst = 0;
        released
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use std::time::Duration;

    use tokio::net::UdpSocket;
    use tokio::sync::watch;

    use super::*;
    use crate::sip::transport;

    async fn received(socket: &UdpSocket) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let wait = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf));
        let (n, _) = wait.await.expect("a datagram").unwrap();
        buf.truncate(n);
        buf
    }

    #[tokio::test]
    async fn nothing_leaves_before_release_then_all_in_order_and_answers_can_be_withdrawn() {
        let (_stop, shutdown) = watch::channel(false);
        let listen = "127.0.0.1:0".parse().unwrap();
        let (out, _inbound, _) = transport::bind(listen, shutdown).await.unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let peer = Peer::Udp(phone.local_addr().unwrap());
        let mut held = Held::new(out);
        // Lets the runtime learn that the new socket is writable: sends are
        // non-blocking and a socket not yet known writable drops them.
        tokio::task::yield_now().await;

        held.hold(Kind::Response, &peer, b"200 OK".to_vec());
        held.hold(Kind::Request, &peer, b"NOTIFY".to_vec());
        let mut buf = [0u8; 64];
        assert!(
            phone.try_recv_from(&mut buf).is_err(),
            "sent before release"
        );
        assert_eq!(held.largest_burst(), 12 + 2 * DATAGRAM_OVERHEAD);
        held.release();
        assert_eq!(received(&phone).await, b"200 OK");
        assert_eq!(received(&phone).await, b"NOTIFY");
        assert_eq!(held.largest_burst(), 0);

        // A group whose commit failed: its answers go, its NOTIFY stays.
        held.hold(Kind::Response, &peer, b"200 OK".to_vec());
        held.hold(Kind::Request, &peer, b"NOTIFY again".to_vec());
        held.drop_responses();
        held.release();
        assert_eq!(received(&phone).await, b"NOTIFY again");
    }
}
