//! SIP over UDP and TCP on one address. Inbound datagrams and TCP frames go to
//! the agent as raw bytes with where they came from; the agent answers through
//! [`Outbound`] on the same path (UDP source address and port, per RFC 3581;
//! the same TCP connection, which is how phones behind NAT or with GRUUs are
//! reached).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::message::{MAX_MESSAGE_BYTES, frame_len};

const UDP_RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

/// Where a message came from, and so where its answers go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Peer {
    Udp(SocketAddr),
    Tcp { conn: u64, addr: SocketAddr },
}

impl Peer {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::Udp(a) | Self::Tcp { addr: a, .. } => *a,
        }
    }

    /// The Via transport token.
    pub fn transport(&self) -> &'static str {
        match self {
            Self::Udp(_) => "UDP",
            Self::Tcp { .. } => "TCP",
        }
    }

    pub fn is_reliable(&self) -> bool {
        matches!(self, Self::Tcp { .. })
    }
}

/// One message as received.
#[derive(Debug)]
pub struct Inbound {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

type TcpWriters = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Vec<u8>>>>>;

/// The way out, cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbound {
    udp: Arc<UdpSocket>,
    tcp: TcpWriters,
}

impl Outbound {
    /// Sends `bytes` to `peer`; false when the TCP connection is gone.
    pub fn send(&self, peer: &Peer, bytes: Vec<u8>) -> bool {
        match peer {
            Peer::Udp(addr) => match self.udp.try_send_to(&bytes, *addr) {
                Ok(_) => true,
                Err(e) => {
                    debug!(%addr, error = %e, "UDP send failed");
                    // A full socket buffer is like a lost datagram: retransmission covers it.
                    true
                }
            },
            Peer::Tcp { conn, .. } => {
                let writers = self.tcp.lock().unwrap_or_else(|p| p.into_inner());
                writers.get(conn).is_some_and(|w| w.send(bytes).is_ok())
            }
        }
    }

    /// False when `peer`'s TCP connection is gone (UDP is always open).
    pub fn is_open(&self, peer: &Peer) -> bool {
        match peer {
            Peer::Udp(_) => true,
            Peer::Tcp { conn, .. } => self
                .tcp
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(conn),
        }
    }
}

/// Binds UDP and TCP on `listen` and starts reading. Messages arrive on the
/// returned channel until `shutdown`.
pub async fn bind(
    listen: SocketAddr,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(Outbound, mpsc::Receiver<Inbound>, SocketAddr)> {
    let (udp, tcp) = bind_pair(listen).await?;
    // A burst (a floor of phones re-subscribing after a restart) must wait in
    // the kernel rather than be dropped: ask for a large receive buffer (the
    // kernel caps it at net.core.rmem_max).
    let _ = socket2::SockRef::from(&udp).set_recv_buffer_size(UDP_RECEIVE_BUFFER);
    let udp = Arc::new(udp);
    let local = udp.local_addr()?;
    let (tx, rx) = mpsc::channel(1024);
    let writers: TcpWriters = Arc::default();
    tokio::spawn(read_udp(udp.clone(), tx.clone(), shutdown.clone()));
    tokio::spawn(accept_tcp(tcp, tx, writers.clone(), shutdown));
    Ok((Outbound { udp, tcp: writers }, rx, local))
}

/// UDP and TCP on the same port. When the OS picks the port (port 0), the
/// number it gave UDP may be taken for TCP by another program: pick again.
async fn bind_pair(listen: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut tries = 0;
    loop {
        let udp = UdpSocket::bind(listen).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e)
                if listen.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && tries < 20 =>
            {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn read_udp(
    socket: Arc<UdpSocket>,
    tx: mpsc::Sender<Inbound>,
    mut shutdown: watch::Receiver<bool>,
) {
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
                if tx
                    .send(Inbound {
                        peer: Peer::Udp(addr),
                        bytes: bytes.to_vec(),
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => debug!(error = %e, "UDP receive"),
        }
    }
}

async fn accept_tcp(
    listener: TcpListener,
    tx: mpsc::Sender<Inbound>,
    writers: TcpWriters,
    mut shutdown: watch::Receiver<bool>,
) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, addr)) => {
                let conn = NEXT.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve_tcp(stream, conn, addr, tx.clone(), writers.clone()));
            }
            Err(e) => {
                warn!(error = %e, "TCP accept");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// One TCP connection: frames in, queued writes out. A broken frame closes it
/// (the stream cannot be resynchronised).
async fn serve_tcp(
    stream: TcpStream,
    conn: u64,
    addr: SocketAddr,
    tx: mpsc::Sender<Inbound>,
    writers: TcpWriters,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    writers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(conn, out_tx.clone());
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    'read: loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        loop {
            // Keep-alive: a double CRLF ping is answered with one CRLF (RFC 5626).
            let blank = buf
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            if blank > 0 {
                if buf[..blank].windows(4).any(|w| w == b"\r\n\r\n") {
                    let _ = out_tx.send(b"\r\n".to_vec());
                }
                buf.drain(..blank);
            }
            match frame_len(&buf) {
                Ok(Some(len)) => {
                    let bytes: Vec<u8> = buf.drain(..len).collect();
                    if tx
                        .send(Inbound {
                            peer: Peer::Tcp { conn, addr },
                            bytes,
                        })
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                Ok(None) if buf.len() <= MAX_MESSAGE_BYTES => break,
                Ok(None) | Err(_) => {
                    debug!(%addr, "TCP stream broken; closing");
                    break 'read;
                }
            }
        }
    }
    writers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&conn);
    drop(out_tx);
    let _ = write_task.await;
}
