//! The stream transports against real loopback sockets: the bounds on
//! connections, the idle and slow-message timeouts, the write-queue bound,
//! and SIP over TLS with a certificate made for the test.
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};

use super::stream::{Piece, next_piece};
use super::*;
use crate::tls::test_certificate;

const OPTIONS: &[u8] = b"OPTIONS sip:desk@example.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKt\r\nCall-ID: t@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

/// A server on loopback with `limits` and, with `tls`, a TLS port too.
struct Server {
    out: Outbound,
    inbound: mpsc::Receiver<Inbound>,
    tcp: SocketAddr,
    tls: Option<SocketAddr>,
    _stop: watch::Sender<bool>,
}

async fn server(limits: Limits, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let (stop, shutdown) = watch::channel(false);
    let settings = Settings {
        limits,
        tls: tls.map(|config| TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            config,
        }),
    };
    let bound = bind_with("127.0.0.1:0".parse().unwrap(), settings, shutdown)
        .await
        .unwrap();
    Server {
        out: bound.out,
        inbound: bound.inbound,
        tcp: bound.local,
        tls: bound.tls_local,
        _stop: stop,
    }
}

impl Server {
    async fn next_message(&mut self) -> Inbound {
        tokio::time::timeout(Duration::from_secs(5), self.inbound.recv())
            .await
            .expect("a message within 5 s")
            .expect("the transport runs")
    }
}

/// A connection to `to` from the loopback address `from` (127.0.0.x).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// How long until the server closes `stream` (reading and dropping what it
/// sends); `None` when it is still open after `within`.
async fn closed_after<S: AsyncRead + Unpin>(stream: &mut S, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let end = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    end.await.ok().map(|()| start.elapsed())
}

/// True when a message sent on `stream` reaches the agent.
async fn is_served(server: &mut Server, stream: &mut TcpStream) -> bool {
    stream.write_all(OPTIONS).await.is_ok()
        && tokio::time::timeout(Duration::from_secs(2), server.inbound.recv())
            .await
            .is_ok_and(|m| m.is_some())
}

fn limits() -> Limits {
    Limits {
        max_connections: 10,
        max_connections_per_ip: 2,
        ..Limits::default()
    }
}

#[tokio::test]
async fn one_address_gets_its_share_of_connections_and_the_rest_are_closed_at_once() {
    let mut server = server(limits(), None).await;
    let mut first = connect_from([127, 0, 0, 1], server.tcp).await;
    let mut second = connect_from([127, 0, 0, 1], server.tcp).await;
    assert!(is_served(&mut server, &mut first).await);
    assert!(is_served(&mut server, &mut second).await);

    let mut third = connect_from([127, 0, 0, 1], server.tcp).await;
    let closed = closed_after(&mut third, Duration::from_secs(2)).await;
    assert!(
        closed.is_some(),
        "the third connection from one address stays open"
    );

    // Another address is let in, and a freed place is given again.
    let mut elsewhere = connect_from([127, 0, 0, 2], server.tcp).await;
    assert!(is_served(&mut server, &mut elsewhere).await);
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut next = connect_from([127, 0, 0, 1], server.tcp).await;
        if is_served(&mut server, &mut next).await {
            again = Some(next);
            break;
        }
    }
    assert!(
        again.is_some(),
        "the place of a closed connection is not given again"
    );
}

#[tokio::test]
async fn the_total_holds_across_addresses() {
    let limits = Limits {
        max_connections: 3,
        max_connections_per_ip: 3,
        ..Limits::default()
    };
    let mut server = server(limits, None).await;
    let mut open = Vec::new();
    for host in 1..=3 {
        let mut stream = connect_from([127, 0, 0, host], server.tcp).await;
        assert!(is_served(&mut server, &mut stream).await);
        open.push(stream);
    }
    let mut fourth = connect_from([127, 0, 0, 4], server.tcp).await;
    assert!(
        closed_after(&mut fourth, Duration::from_secs(2))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_silent_connection_is_closed_and_keep_alives_keep_it_open() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(400),
        ..limits()
    };
    let server = server(limits, None).await;
    let mut silent = TcpStream::connect(server.tcp).await.unwrap();
    let closed = closed_after(&mut silent, Duration::from_secs(3)).await;
    let closed = closed.expect("a silent connection stays open");
    assert!(
        closed >= Duration::from_millis(350),
        "closed after {closed:?}"
    );

    let mut alive = TcpStream::connect(server.tcp).await.unwrap();
    let mut pong = [0u8; 2];
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        alive.write_all(b"\r\n\r\n").await.unwrap();
        // Each ping is answered with one CRLF (RFC 5626).
        let read = tokio::time::timeout(Duration::from_secs(1), alive.read_exact(&mut pong));
        assert!(read.await.is_ok_and(|r| r.is_ok()), "no pong");
        assert_eq!(&pong, b"\r\n");
    }
    // 1.2 s of keep-alives every 150 ms: longer than the idle timeout.
    assert!(
        closed_after(&mut alive, Duration::from_secs(3))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_message_sent_one_byte_at_a_time_is_cut_off() {
    let limits = Limits {
        message_timeout: Duration::from_millis(600),
        ..limits()
    };
    let mut server = server(limits, None).await;
    let mut slow = TcpStream::connect(server.tcp).await.unwrap();
    let start = Instant::now();
    let mut cut_off = false;
    for byte in OPTIONS {
        if slow.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if start.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    // Either a write failed, or the connection reads as closed now.
    let closed = cut_off
        || closed_after(&mut slow, Duration::from_millis(500))
            .await
            .is_some();
    assert!(closed, "a 1-byte-per-50-ms sender is still connected");
    assert!(
        server.inbound.try_recv().is_err(),
        "the slow message reached the agent"
    );

    // A whole message at normal speed, then one after a pause longer than
    // the message timeout: both served (the clock runs per message).
    let mut normal = TcpStream::connect(server.tcp).await.unwrap();
    assert!(is_served(&mut server, &mut normal).await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(is_served(&mut server, &mut normal).await);
}

#[tokio::test]
async fn a_peer_that_never_reads_is_disconnected_before_its_queue_grows_past_the_bound() {
    let limits = Limits {
        write_queue_bytes: 64 * 1024,
        // Long: the queue bound, not the write timeout, must act here.
        message_timeout: Duration::from_secs(30),
        ..limits()
    };
    let mut server = server(limits, None).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut deaf = socket.connect(server.tcp).await.unwrap();
    deaf.write_all(OPTIONS).await.unwrap();
    let peer = server.next_message().await.peer;
    assert!(server.out.is_open(&peer));

    let start = Instant::now();
    let chunk = vec![b'x'; 8 * 1024];
    let mut accepted = 0usize;
    while server.out.send(&peer, chunk.clone()) {
        accepted += chunk.len();
        assert!(accepted < 64 * 1024 * 1024, "64 MiB queued for a deaf peer");
        // Lets the writer move what the kernel takes.
        tokio::task::yield_now().await;
    }
    eprintln!(
        "accepted {accepted} bytes for a deaf peer before closing it ({:?})",
        start.elapsed()
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(!server.out.is_open(&peer));
    assert!(!server.out.send(&peer, b"late".to_vec()));
}

#[tokio::test]
async fn sip_over_tls_delivers_both_ways_and_says_tls() {
    let made = test_certificate::make();
    let config = tls::server_config(&made.certificate, &made.key).unwrap();
    let mut server = server(limits(), Some(config)).await;
    let mut phone = tls_client(&made, server.tls.unwrap()).await;
    phone.write_all(OPTIONS).await.unwrap();
    phone.flush().await.unwrap();
    let message = server.next_message().await;
    assert_eq!(message.bytes, OPTIONS);
    assert_eq!(message.peer.transport(), "TLS");
    assert_eq!(message.peer.uri_param(), Some("tls"));
    assert!(message.peer.is_reliable());

    let answer = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert!(server.out.send(&message.peer, answer.to_vec()));
    let mut got = vec![0u8; answer.len()];
    let read = tokio::time::timeout(Duration::from_secs(5), phone.read_exact(&mut got));
    read.await.unwrap().unwrap();
    assert_eq!(got, answer);
}

#[tokio::test]
async fn a_tls_handshake_that_never_comes_is_given_up_and_frees_its_place() {
    let made = test_certificate::make();
    let config = tls::server_config(&made.certificate, &made.key).unwrap();
    let limits = Limits {
        max_connections_per_ip: 1,
        message_timeout: Duration::from_millis(500),
        ..limits()
    };
    let server = server(limits, Some(config)).await;
    let tls_port = server.tls.unwrap();
    let mut silent = TcpStream::connect(tls_port).await.unwrap();
    // Holding the only place of 127.0.0.1, the TCP side too.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut refused = TcpStream::connect(server.tcp).await.unwrap();
    assert!(
        closed_after(&mut refused, Duration::from_secs(2))
            .await
            .is_some()
    );
    let closed = closed_after(&mut silent, Duration::from_secs(3)).await;
    assert!(
        closed.is_some(),
        "a connection without a handshake stays open"
    );
    // Its place is free again: a real TLS client is served.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut phone = tls_client(&made, tls_port).await;
    phone.write_all(OPTIONS).await.unwrap();
    phone.flush().await.unwrap();
    let mut server = server;
    assert_eq!(server.next_message().await.peer.transport(), "TLS");
}

async fn tls_client(
    made: &test_certificate::TestCertificate,
    to: SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(made.der.clone()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(to).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

#[test]
fn keep_alives_and_pipelined_messages_are_taken_apart() {
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(OPTIONS);
    buf.extend_from_slice(OPTIONS);
    buf.extend_from_slice(&OPTIONS[..10]);
    assert_eq!(next_piece(&mut buf).unwrap(), Some(Piece::Ping));
    assert_eq!(
        next_piece(&mut buf).unwrap(),
        Some(Piece::Message(OPTIONS.to_vec()))
    );
    assert_eq!(
        next_piece(&mut buf).unwrap(),
        Some(Piece::Message(OPTIONS.to_vec()))
    );
    assert_eq!(next_piece(&mut buf).unwrap(), None);
    assert_eq!(buf, &OPTIONS[..10]);
}

#[test]
fn a_lone_crlf_is_dropped_without_an_answer_and_an_endless_head_is_refused() {
    let mut buf = b"\r\n".to_vec();
    assert_eq!(next_piece(&mut buf).unwrap(), None);
    assert!(buf.is_empty());
    let mut endless = vec![b'A'; crate::sip::message::MAX_MESSAGE_BYTES + 1];
    assert!(next_piece(&mut endless).is_err());
}
