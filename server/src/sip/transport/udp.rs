//! SIP over UDP: one datagram is one message (RFC 3261 §18.3); answers go
//! back to the datagram's source address and port (RFC 3581).

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::debug;

use super::{Inbound, Peer};

/// Asked of the kernel for the receive buffer (it caps it at net.core.rmem_max).
pub(super) const RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

/// Hands every datagram but keep-alives to the agent until shutdown.
pub(super) async fn read(
    socket: Arc<UdpSocket>,
    tx: mpsc::Sender<Inbound>,
    mut shutdown: watch::Receiver<bool>,
) {
    // The largest UDP payload; a datagram is read whole or not at all.
    let mut buf = vec![0u8; 65_536];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.changed() => return,
        };
        match received {
            Ok((n, addr)) => {
                let bytes = &buf[..n];
                // CRLF keep-alives (RFC 5626) carry nothing.
                if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                let inbound = Inbound {
                    peer: Peer::Udp(addr),
                    bytes: bytes.to_vec(),
                };
                if tx.send(inbound).await.is_err() {
                    return;
                }
            }
            Err(e) => debug!(error = %e, "UDP receive"),
        }
    }
}

/// Sends one datagram without waiting: a full socket buffer is like a lost
/// datagram, which retransmission covers.
pub(super) fn send(socket: &UdpSocket, addr: std::net::SocketAddr, bytes: &[u8]) {
    if let Err(e) = socket.try_send_to(bytes, addr) {
        debug!(%addr, error = %e, "UDP send failed");
    }
}
