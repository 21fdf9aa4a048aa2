//! SIP over UDP and TCP on one address, and optionally TLS on another.
//! Inbound datagrams and stream messages go to the agent as raw bytes with
//! where they came from; the agent answers through [`Outbound`] on the same
//! path (UDP source address and port, per RFC 3581; the same TCP or TLS
//! connection, which is how phones behind NAT or with GRUUs are reached).
//! `udp` and `stream` carry the bytes, `limits` bounds what one peer can
//! hold; the certificate for TLS is read by the server's shared `crate::tls`.

mod limits;
mod stream;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

pub use limits::Limits;
use stream::{Connections, Security, Streams};

use crate::config::SipConfig;
use crate::tls::{self, TlsSetupError};

/// Where a message came from, and so where its answers go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Peer {
    Udp(SocketAddr),
    Tcp { conn: u64, addr: SocketAddr },
    Tls { conn: u64, addr: SocketAddr },
}

impl Peer {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::Udp(a) | Self::Tcp { addr: a, .. } | Self::Tls { addr: a, .. } => *a,
        }
    }

    /// The Via transport token.
    pub fn transport(&self) -> &'static str {
        match self {
            Self::Udp(_) => "UDP",
            Self::Tcp { .. } => "TCP",
            Self::Tls { .. } => "TLS",
        }
    }

    /// The `transport=` URI parameter for a Contact that keeps the dialog on
    /// this transport; none for UDP, the default.
    pub fn uri_param(&self) -> Option<&'static str> {
        match self {
            Self::Udp(_) => None,
            Self::Tcp { .. } => Some("tcp"),
            Self::Tls { .. } => Some("tls"),
        }
    }

    /// Stream transports deliver in order or not at all: no retransmission.
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Self::Udp(_))
    }

    /// The number of the TCP or TLS connection.
    pub fn connection(&self) -> Option<u64> {
        match self {
            Self::Udp(_) => None,
            Self::Tcp { conn, .. } | Self::Tls { conn, .. } => Some(*conn),
        }
    }
}

/// One message as received.
#[derive(Debug)]
pub struct Inbound {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

/// The way out, cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbound {
    udp: Arc<UdpSocket>,
    streams: Arc<Connections>,
}

impl Outbound {
    /// Sends `bytes` to `peer`; false when its connection is gone, or was
    /// closed because it does not take what it is sent.
    pub fn send(&self, peer: &Peer, bytes: Vec<u8>) -> bool {
        match peer {
            Peer::Udp(addr) => {
                udp::send(&self.udp, *addr, &bytes);
                true
            }
            Peer::Tcp { conn, .. } | Peer::Tls { conn, .. } => self.streams.send(*conn, bytes),
        }
    }

    /// False when `peer`'s connection is gone (UDP is always open).
    pub fn is_open(&self, peer: &Peer) -> bool {
        peer.connection()
            .is_none_or(|conn| self.streams.is_open(conn))
    }
}

/// How the transports are set up: the bounds, and TLS when wanted.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub limits: Limits,
    pub tls: Option<TlsSettings>,
}

/// SIP over TLS: where, and with which certificate.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub listen: SocketAddr,
    pub config: Arc<rustls::ServerConfig>,
}

impl Settings {
    /// The `[sip]` section's bounds and TLS, its certificate read.
    pub fn from_config(sip: &SipConfig) -> Result<Self, TlsSetupError> {
        let limits = Limits {
            max_connections: sip.max_connections,
            max_connections_per_ip: sip.max_connections_per_ip,
            idle_timeout: std::time::Duration::from_secs(sip.connection_idle_timeout_secs),
            message_timeout: std::time::Duration::from_secs(sip.message_timeout_secs),
            write_queue_bytes: sip.connection_write_queue_bytes,
        };
        let tls = match (&sip.tls_listen, &sip.tls_certificate, &sip.tls_key) {
            (Some(listen), Some(certificate), Some(key)) => Some(TlsSettings {
                listen: *listen,
                config: tls::server_config(certificate, key)?,
            }),
            (Some(_), _, _) => {
                return Err(TlsSetupError::Setup(
                    "tls_listen needs tls_certificate and tls_key".into(),
                ));
            }
            _ => None,
        };
        Ok(Self { limits, tls })
    }
}

/// The bound transports.
#[derive(Debug)]
pub struct Bound {
    pub out: Outbound,
    /// Every message received, in order per connection.
    pub inbound: mpsc::Receiver<Inbound>,
    /// The UDP and TCP address (the port the OS chose, for port 0).
    pub local: SocketAddr,
    /// The TLS address, when TLS is on.
    pub tls_local: Option<SocketAddr>,
}

/// Binds UDP and TCP on `listen` with the default bounds and no TLS.
/// Messages arrive on the returned channel until `shutdown`.
pub async fn bind(
    listen: SocketAddr,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(Outbound, mpsc::Receiver<Inbound>, SocketAddr)> {
    let bound = bind_with(listen, Settings::default(), shutdown).await?;
    Ok((bound.out, bound.inbound, bound.local))
}

/// Binds UDP and TCP on `listen`, and TLS when `settings` has it, and starts
/// reading. Messages arrive on `Bound::inbound` until `shutdown`.
pub async fn bind_with(
    listen: SocketAddr,
    settings: Settings,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<Bound> {
    let (udp, tcp) = bind_pair(listen).await?;
    // A burst (a floor of phones re-subscribing after a restart) must wait in
    // the kernel rather than be dropped: ask for a large receive buffer.
    let _ = socket2::SockRef::from(&udp).set_recv_buffer_size(udp::RECEIVE_BUFFER);
    let tls = match &settings.tls {
        Some(t) => Some((bind_tls(t.listen).await?, t.config.clone())),
        None => None,
    };
    check_file_limit(&settings.limits);
    let udp = Arc::new(udp);
    let local = udp.local_addr()?;
    let (tx, inbound) = mpsc::channel(1024);
    let connections = Connections::new(&settings.limits);
    let streams = Streams::new(settings.limits, connections.clone(), tx.clone());
    tokio::spawn(udp::read(udp.clone(), tx, shutdown.clone()));
    tokio::spawn(stream::accept(
        tcp,
        Security::Plain,
        streams.clone(),
        shutdown.clone(),
    ));
    let mut tls_local = None;
    if let Some((listener, config)) = tls {
        tls_local = Some(listener.local_addr()?);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(stream::accept(
            listener,
            Security::Tls(acceptor),
            streams,
            shutdown,
        ));
    }
    let out = Outbound {
        udp,
        streams: connections,
    };
    Ok(Bound {
        out,
        inbound,
        local,
        tls_local,
    })
}

async fn bind_tls(listen: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("TLS on {listen}: {e}")))
}

/// Every connection takes a file descriptor: a soft limit below
/// `max_connections` would turn the bound into "too many open files".
fn check_file_limit(limits: &Limits) {
    // The store, the mail connections and the sockets need some too.
    const OTHER_FILES: u64 = 64;
    match limits::raise_file_limit() {
        Some(files) if files < limits.max_connections as u64 + OTHER_FILES => warn!(
            open_files = files,
            max_connections = limits.max_connections,
            "the open-file limit is below max_connections; raise it (LimitNOFILE=) or lower max_connections"
        ),
        files => debug!(open_files = ?files, "open-file limit"),
    }
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

#[cfg(test)]
mod tests;
