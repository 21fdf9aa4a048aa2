//! Accepting the board's connections: plain HTTP (for a reverse proxy in
//! front) or HTTPS with rustls. Each connection runs in its own task, with
//! a deadline for its TLS handshake and for each request's headers, and the
//! number of open connections is capped (board streams plus a margin), in all
//! and per source address (a reverse proxy, or loopback, only by the total).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::routes::router;
use super::state::{Web, WebError};
use crate::admission::{Admission, Full, LogThrottle};

/// A TLS handshake must be done within this.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// A request's headers must have arrived within this (slow senders are cut).
const HEADERS: Duration = Duration::from_secs(10);
/// Connections beyond the streams: page loads, changes, a stream's reconnect.
const SPARE_CONNECTIONS: usize = 256;
/// How often a refused or failed connection may be logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The board's socket, bound (so a taken port fails the server's start).
pub struct Listening {
    web: Arc<Web>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("listener", &self.listener)
            .field("https", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Binds the board's address and reads its certificate.
pub async fn bind(web: Arc<Web>) -> Result<Listening, WebError> {
    let address = web.config.listen;
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| WebError::Listen(address, e))?;
    let tls = match (&web.config.tls_certificate, &web.config.tls_key) {
        (Some(certificate), Some(key)) => {
            let mut config = (*crate::tls::server_config(certificate, key)?).clone();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(TlsAcceptor::from(Arc::new(config)))
        }
        _ => None,
    };
    Ok(Listening { web, listener, tls })
}

impl Listening {
    /// The bound address (the real port when the configuration said 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves the board until `shutdown`.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        serve(self, shutdown).await
    }
}

async fn serve(bound: Listening, mut shutdown: watch::Receiver<bool>) {
    let Listening { web, listener, tls } = bound;
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(%address, https = tls.is_some(), url = %web.config.public_url, "presence board listening");
    let app = router(web.clone(), shutdown.clone());
    tokio::spawn(super::office_clock::run_endings(
        web.clone(),
        shutdown.clone(),
    ));
    // A proxy carries everyone's connections, and so does this machine's
    // own (a proxy on loopback): bound by the total alone.
    let mut exempt = web.config.trusted_proxies.clone();
    exempt.extend([
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]);
    let admission = Admission::with_exempt(
        web.config.max_streams + SPARE_CONNECTIONS,
        web.config.connections_per_address,
        &exempt,
    );
    let (refused_log, accept_log) = (LogThrottle::new(WARN_EVERY), LogThrottle::new(WARN_EVERY));
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: wait, do not spin.
                    if let Some(held) = accept_log.ready() {
                        tracing::warn!(error = %e, similar_not_logged = held, "board: cannot accept a connection");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let permit = match admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                if let Some(held) = refused_log.ready() {
                    let limit = match full {
                        Full::Total => "max_streams + 256",
                        Full::PerAddress => "connections_per_address",
                    };
                    tracing::warn!(%peer, limit, similar_not_logged = held, "board: connection refused");
                }
                continue;
            }
        };
        let (app, tls, shutdown) = (app.clone(), tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(tcp, peer, app, shutdown).await,
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await
                {
                    Ok(Ok(stream)) => connection(stream, peer, app, shutdown).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "board: TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "board: TLS handshake too slow"),
                },
            }
        });
    }
}

/// One HTTP/1.1 connection, ended gracefully when the server stops.
async fn connection<S>(io: S, peer: SocketAddr, app: Router, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADERS)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "board: connection ended");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
