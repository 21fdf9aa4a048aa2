//! Serving `/metrics` on its own address (`[metrics] listen`), apart from
//! the board: a monitoring network reaches it, the desk users' browsers do
//! not. Plain HTTP/1.1, a deadline for each request's headers, a whole answer
//! within a deadline, and few connections at a time: a scraper needs one.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::hub::Hub;
use crate::status;
use crate::store::StorePlace;
use crate::supervisor::Loops;

/// A request's headers must have arrived within this.
const HEADERS: Duration = Duration::from_secs(10);
/// Reading the counts from the store must be done within this.
const ANSWER: Duration = Duration::from_secs(10);
/// Scrapers served at once (Prometheus uses one connection per target).
const CONNECTIONS: usize = 8;

/// What a scrape reads.
#[derive(Debug, Clone)]
pub struct Sources {
    pub hub: Arc<Hub>,
    pub loops: Arc<Loops>,
    pub store: StorePlace,
}

/// The metrics socket, bound (a taken port fails the server's start).
#[derive(Debug)]
pub struct MetricsListener {
    listener: TcpListener,
    sources: Sources,
}

pub async fn bind(address: SocketAddr, sources: Sources) -> std::io::Result<MetricsListener> {
    Ok(MetricsListener {
        listener: TcpListener::bind(address).await?,
        sources,
    })
}

impl MetricsListener {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves scrapes until `shutdown`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(CONNECTIONS));
        tracing::info!(address = ?self.listener.local_addr().ok(), "metrics listening");
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(error = %e, "metrics: cannot accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => return,
            };
            // Full: the connection is dropped at once rather than queued.
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue;
            };
            let sources = self.sources.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let service = hyper::service::service_fn(move |req| answer(req, sources.clone()));
                // One request per connection: an idle keep-alive would hold
                // one of the few slots for as long as its peer likes.
                let served = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADERS)
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(tcp), service);
                if let Err(e) = served.await {
                    tracing::debug!(%peer, error = %e, "metrics: connection ended");
                }
            });
        }
    }
}

async fn answer(req: Request<Incoming>, sources: Sources) -> Result<Response<Body>, Infallible> {
    if req.uri().path() != "/metrics" {
        return Ok(plain(StatusCode::NOT_FOUND, "not found: try /metrics\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n"));
    }
    // The store is read on a blocking thread, never on the async workers.
    let place = sources.store.clone();
    let read = tokio::task::spawn_blocking(move || status::read(&place));
    let status = match tokio::time::timeout(ANSWER, read).await {
        Ok(Ok(Ok(mut s))) => {
            // This process knows its loops first-hand.
            s.loops = sources.loops.snapshot();
            s
        }
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "metrics: cannot read the store");
            return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "store unreadable\n"));
        }
        _ => return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "store busy\n")),
    };
    let text = sources.hub.metrics.render(&status, chrono::Utc::now());
    let mut response = Response::new(Body::from(text));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    Ok(response)
}

fn plain(code: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = code;
    response
}
