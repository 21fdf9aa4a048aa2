//! A bare SIP endpoint on UDP, for what SIPp cannot do easily (hostile
//! input, silence, exact timing), and reading a header from what it got.

use std::time::Duration;

/// A bare SIP endpoint on UDP, for what SIPp cannot do easily: hostile input,
/// silence, exact timing.
#[derive(Debug)]
pub struct RawSip {
    pub socket: tokio::net::UdpSocket,
    pub server: std::net::SocketAddr,
}

impl RawSip {
    pub async fn new(server: std::net::SocketAddr) -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self { socket, server }
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("addr").port()
    }

    /// Sends a message written with `\n` line ends (turned into CRLF).
    pub async fn send_text(&self, text: &str) {
        self.send_bytes(text.replace('\n', "\r\n").as_bytes()).await;
    }

    pub async fn send_bytes(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).await.expect("send");
    }

    /// The next message within `timeout`.
    pub async fn recv(&self, timeout: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65_536];
        match tokio::time::timeout(timeout, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            _ => None,
        }
    }

    /// The status code of the next response within two seconds.
    pub async fn status(&self) -> Option<u16> {
        let text = self.recv(Duration::from_secs(2)).await?;
        text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }
}

/// A header's value in a message's text.
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
