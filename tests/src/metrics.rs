//! Reading the server's `/metrics` as a monitoring system would.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::World;

/// GET `path` on 127.0.0.1:`port`; the status line and the body.
pub async fn http_get(port: u16, path: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("send");
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut text))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// The value of the sample line `name` (with its labels) in a scrape.
pub fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

impl World {
    /// The server's `/metrics` now (a world made `with_metrics`).
    pub async fn scrape(&self) -> String {
        let port = self.metrics_port.expect("metrics enabled");
        let (status, body) = http_get(port, "/metrics").await;
        assert!(status.contains("200"), "{status}");
        body
    }
}
