//! SIP over a byte stream, TCP or TLS: accepting connections within the
//! limits, cutting the stream into messages (Content-Length framing, CRLF
//! keep-alives), and one bounded write queue per connection. Every wait has
//! a deadline: a silent connection, a message that never completes, a TLS
//! handshake that never finishes and a peer that never reads are all closed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::limits::Limits;
use super::{Inbound, Peer};
use crate::admission::{Admission, Full, LogThrottle, Slot};
use crate::sip::message::{MAX_MESSAGE_BYTES, SipError, frame_len};

/// How often a repeated warning (refusals, accept failures) may be logged.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Accept failures such as "too many open files" are retried after a pause
/// that doubles from the first to the last of these.
const ACCEPT_PAUSE_FIRST: Duration = Duration::from_millis(50);
const ACCEPT_PAUSE_LAST: Duration = Duration::from_secs(1);

/// The write side of one open connection, as the agent reaches it.
#[derive(Debug)]
struct Writer {
    queue: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes handed over and not yet written.
    queued: Arc<AtomicUsize>,
    /// Tells the connection's reader to close.
    close: Arc<Notify>,
}

/// Every open stream connection by number, TCP and TLS alike.
#[derive(Debug)]
pub(super) struct Connections {
    writers: Mutex<HashMap<u64, Writer>>,
    write_queue_bytes: usize,
    overflow_log: LogThrottle,
}

impl Connections {
    pub(super) fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            writers: Mutex::default(),
            write_queue_bytes: limits.write_queue_bytes,
            overflow_log: LogThrottle::new(WARN_EVERY),
        })
    }

    /// Queues `bytes` for connection `conn`; false when it is gone, or is
    /// closed now because its queue would pass the bound.
    pub(super) fn send(&self, conn: u64, bytes: Vec<u8>) -> bool {
        let mut writers = self.lock();
        let Some(writer) = writers.get(&conn) else {
            return false;
        };
        let len = bytes.len();
        let queued = writer.queued.load(Ordering::Acquire) + len;
        if queued <= self.write_queue_bytes {
            writer.queued.fetch_add(len, Ordering::AcqRel);
            return writer.queue.send(bytes).is_ok();
        }
        // The peer does not read what it is sent: holding more for it would
        // let one phone take the server's memory.
        if let Some(writer) = writers.remove(&conn) {
            writer.close.notify_one();
        }
        drop(writers);
        if let Some(held) = self.overflow_log.ready() {
            warn!(
                conn,
                queued,
                limit = self.write_queue_bytes,
                similar_not_logged = held,
                "SIP connection does not read what it is sent; closed"
            );
        }
        false
    }

    pub(super) fn is_open(&self, conn: u64) -> bool {
        self.lock().contains_key(&conn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Writer>> {
        self.writers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What every stream listener of one server shares.
#[derive(Debug)]
pub(super) struct Streams {
    pub(super) limits: Limits,
    pub(super) admission: Arc<Admission>,
    pub(super) connections: Arc<Connections>,
    pub(super) inbound: mpsc::Sender<Inbound>,
    refused_log: LogThrottle,
    accept_log: LogThrottle,
}

impl Streams {
    pub(super) fn new(
        limits: Limits,
        connections: Arc<Connections>,
        inbound: mpsc::Sender<Inbound>,
    ) -> Arc<Self> {
        Arc::new(Self {
            admission: Admission::new(limits.max_connections, limits.max_connections_per_ip),
            limits,
            connections,
            inbound,
            refused_log: LogThrottle::new(WARN_EVERY),
            accept_log: LogThrottle::new(WARN_EVERY),
        })
    }
}

/// TCP, or TLS over TCP with the server's certificate.
#[derive(Clone)]
pub(super) enum Security {
    Plain,
    Tls(TlsAcceptor),
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain => "TCP",
            Self::Tls(_) => "TLS",
        })
    }
}

/// Accepts connections until shutdown, or until the agent is gone.
pub(super) async fn accept(
    listener: TcpListener,
    security: Security,
    streams: Arc<Streams>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut pause = ACCEPT_PAUSE_FIRST;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
            _ = streams.inbound.closed() => return,
        };
        match accepted {
            Ok((stream, addr)) => {
                pause = ACCEPT_PAUSE_FIRST;
                admit(stream, addr, &security, &streams);
            }
            // The connection died in the backlog; the listener is fine.
            Err(e) if is_about_one_connection(&e) => debug!(error = %e, "accept"),
            Err(e) => {
                // Most often out of file descriptors (EMFILE). The waiting
                // connection stays in the backlog and the listener stays
                // ready: retrying at once would spin. Pause, then go on.
                if let Some(held) = streams.accept_log.ready() {
                    warn!(
                        transport = ?security,
                        error = %e,
                        pause_ms = pause.as_millis() as u64,
                        similar_not_logged = held,
                        "cannot accept SIP connections; pausing"
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
                pause = (pause * 2).min(ACCEPT_PAUSE_LAST);
            }
        }
    }
}

fn is_about_one_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
}

/// Lets a new connection in when the limits allow; closes it at once when not.
fn admit(stream: TcpStream, addr: SocketAddr, security: &Security, streams: &Arc<Streams>) {
    match streams.admission.admit(addr.ip()) {
        Ok(slot) => {
            tokio::spawn(serve(stream, addr, security.clone(), streams.clone(), slot));
        }
        Err(refusal) => {
            drop(stream);
            if let Some(held) = streams.refused_log.ready() {
                let limit = match refusal {
                    Full::Total => "max_connections",
                    Full::PerAddress => "max_connections_per_ip",
                };
                warn!(%addr, limit, similar_not_logged = held, "SIP connection refused");
            }
        }
    }
}

async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    security: Security,
    streams: Arc<Streams>,
    slot: Slot,
) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let conn = NEXT.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    match security {
        Security::Plain => serve_stream(stream, Peer::Tcp { conn, addr }, &streams).await,
        Security::Tls(acceptor) => {
            let limit = streams.limits.message_timeout;
            match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => serve_stream(tls, Peer::Tls { conn, addr }, &streams).await,
                Ok(Err(e)) => debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => debug!(%addr, "TLS handshake not done in time; closed"),
            }
        }
    }
    drop(slot);
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closed {
    /// The peer closed it, or it broke.
    ByPeer,
    /// Nothing came for the idle timeout.
    Idle,
    /// A message was begun and not finished in time.
    SlowMessage,
    /// The stream could not be framed (no resynchronising it).
    Broken,
    /// Its write side failed or overflowed.
    ByWriter,
    /// The agent is gone (shutdown).
    AgentGone,
}

/// One connection: messages in to the agent, the queue out to the peer.
async fn serve_stream<S>(stream: S, peer: Peer, streams: &Streams)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(conn) = peer.connection() else {
        return;
    };
    let (reader, writer) = tokio::io::split(stream);
    let (queue, queue_rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let close = Arc::new(Notify::new());
    streams.connections.lock().insert(
        conn,
        Writer {
            queue,
            queued: queued.clone(),
            close: close.clone(),
        },
    );
    let limit = streams.limits.message_timeout;
    let mut write_task = tokio::spawn(write_queue(writer, queue_rx, queued, close.clone(), limit));
    let closed = read_messages(reader, &peer, streams, &close).await;
    debug!(peer = ?peer, reason = ?closed, "SIP connection closed");
    streams.connections.lock().remove(&conn);
    // Dropping the registered sender lets the writer finish what is queued
    // (a last answer), but a peer that does not take it is not waited for.
    if closed == Closed::ByWriter || tokio::time::timeout(limit, &mut write_task).await.is_err() {
        write_task.abort();
    }
}

/// Writes the queue out in order; a write the peer does not take in time,
/// or that fails, closes the connection.
async fn write_queue<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    close: Arc<Notify>,
    limit: Duration,
) {
    while let Some(bytes) = queue.recv().await {
        let written = tokio::time::timeout(limit, async {
            writer.write_all(&bytes).await?;
            // TLS holds records back until flushed; TCP's flush is free.
            writer.flush().await
        })
        .await;
        queued.fetch_sub(bytes.len(), Ordering::AcqRel);
        if !matches!(written, Ok(Ok(()))) {
            close.notify_one();
            return;
        }
    }
    // TLS close_notify, TCP FIN.
    let _ = tokio::time::timeout(limit, writer.shutdown()).await;
}

/// Reads messages until the connection ends, and says why it ended.
async fn read_messages<R: AsyncRead + Unpin>(
    mut reader: R,
    peer: &Peer,
    streams: &Streams,
    close: &Notify,
) -> Closed {
    let limits = &streams.limits;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    let mut idle_deadline = Instant::now() + limits.idle_timeout;
    // Set while a message is begun and not complete.
    let mut message_deadline: Option<Instant> = None;
    loop {
        let deadline = message_deadline.map_or(idle_deadline, |m| m.min(idle_deadline));
        let read = tokio::select! {
            r = reader.read(&mut chunk) => r,
            _ = tokio::time::sleep_until(deadline) => {
                return if message_deadline.is_some_and(|m| m <= Instant::now()) {
                    Closed::SlowMessage
                } else {
                    Closed::Idle
                };
            }
            _ = close.notified() => return Closed::ByWriter,
        };
        let n = match read {
            Ok(0) | Err(_) => return Closed::ByPeer,
            Ok(n) => n,
        };
        // Any byte, a keep-alive CRLF too, shows the peer is there.
        let now = Instant::now();
        idle_deadline = now + limits.idle_timeout;
        buf.extend_from_slice(&chunk[..n]);
        let took = match hand_over(&mut buf, peer, streams).await {
            Ok(took) => took,
            Err(closed) => return closed,
        };
        // The clock runs from the first byte of the message now at the
        // front: kept while it is the same message, new when one was taken.
        message_deadline = match message_deadline {
            _ if buf.is_empty() => None,
            Some(started) if !took => Some(started),
            _ => Some(now + limits.message_timeout),
        };
    }
}

/// Hands every complete message in `buf` to the agent and answers
/// keep-alives; true when anything was taken off the buffer.
async fn hand_over(buf: &mut Vec<u8>, peer: &Peer, streams: &Streams) -> Result<bool, Closed> {
    let mut took = false;
    loop {
        match next_piece(buf) {
            Ok(Some(Piece::Ping)) => {
                if let Some(conn) = peer.connection() {
                    streams.connections.send(conn, b"\r\n".to_vec());
                }
            }
            Ok(Some(Piece::Message(bytes))) => {
                let peer = peer.clone();
                if streams.inbound.send(Inbound { peer, bytes }).await.is_err() {
                    return Err(Closed::AgentGone);
                }
            }
            Ok(None) => return Ok(took),
            Err(e) => {
                debug!(peer = ?peer, error = %e, "SIP stream cannot be framed");
                return Err(Closed::Broken);
            }
        }
        took = true;
    }
}

/// What the front of a stream's buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Piece {
    /// A double-CRLF keep-alive (RFC 5626 §3.5.1), to be answered with CRLF.
    Ping,
    Message(Vec<u8>),
}

/// Takes the next keep-alive or whole message off the front of `buf`;
/// `None` when what is there is not complete yet.
pub(super) fn next_piece(buf: &mut Vec<u8>) -> Result<Option<Piece>, SipError> {
    let blank = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if blank > 0 {
        let ping = buf[..blank].windows(4).any(|w| w == b"\r\n\r\n");
        buf.drain(..blank);
        if ping {
            return Ok(Some(Piece::Ping));
        }
    }
    match frame_len(buf)? {
        Some(len) => Ok(Some(Piece::Message(buf.drain(..len).collect()))),
        None if buf.len() <= MAX_MESSAGE_BYTES => Ok(None),
        None => Err(SipError::TooLarge(buf.len())),
    }
}
