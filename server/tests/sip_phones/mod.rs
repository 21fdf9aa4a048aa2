//! Desk phones on loopback UDP against an in-process SIP agent: a server
//! for alice, bob and carol (who may all see each other; loopback is a
//! trusted network over UDP, registrar on), a phone that sends requests and
//! receives what comes, and readers for the messages. Shared by the SIP
//! agent's tests; each uses its own part of it.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailpresence_protocol::summary::Lang;
use mailpresence_server::config::{self, PresencePolicy, Rule, SipConfig};
use mailpresence_server::directory::Directory;
use mailpresence_server::engine::Engine;
use mailpresence_server::hub::Hub;
use mailpresence_server::sip::{agent::Agent, transport};
use mailpresence_server::store::{Database, PgStore, PostgresSettings, SqliteStore};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

/// Stores of `n` instances on one fresh schema of the test PostgreSQL
/// (MAILPRESENCE_POSTGRES_URL; scripts/test.sh starts one).
pub fn shared_postgres(n: usize) -> Vec<PgStore> {
    let url = std::env::var("MAILPRESENCE_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "MAILPRESENCE_POSTGRES_URL is not set: two instances share a PostgreSQL. Start one \
             with\n  eval \"$(scripts/postgres-server.sh start /tmp/mailpresence-postgres)\""
        )
    });
    let mut settings = PostgresSettings::new(url);
    settings.schema = Some(format!("sip_{:016x}", rand::random::<u64>()));
    (0..n)
        .map(|_| PgStore::open(settings.clone()).unwrap())
        .collect()
}

/// How long any answer may take before the test gives up (not a speed check).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running agent for alice and bob (who may see each other), registrar on.
pub struct Server {
    _dir: tempfile::TempDir,
    pub addr: SocketAddr,
    _stop: watch::Sender<bool>,
}

pub async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("presence.db")).unwrap();
    server_on(store, dir).await
}

/// The same agent on `store` (PostgreSQL, for two instances on one), its
/// files in `dir`.
pub async fn server_on(store: impl Into<Database>, dir: tempfile::TempDir) -> Server {
    let people: Vec<_> = ["alice", "bob", "carol"].map(person).into();
    let rules = [Rule {
        watchers: vec!["*".into()],
        may_see: vec!["*".into()],
        location: false,
    }];
    let engine = Engine::new(
        Directory::from_config(&people, &rules),
        PresencePolicy::default(),
        "presence@example.test",
    );
    let hub: Arc<Hub> = Hub::new(store, engine, "presence@example.test".into());
    let config: SipConfig = toml::from_str(
        r#"listen = "127.0.0.1:0"
           trusted_networks = ["127.0.0.0/8"]
           trusted_over_udp = true
           registrar = true"#,
    )
    .unwrap();
    let (stop, shutdown) = watch::channel(false);
    let (out, inbound, addr) = transport::bind(config.listen, shutdown.clone())
        .await
        .unwrap();
    let (deliveries_tx, deliveries) = mpsc::unbounded_channel();
    hub.connect_sip(deliveries_tx);
    let agent = Agent::new(
        hub,
        config,
        "example.test".into(),
        addr.to_string(),
        Lang::En,
        out,
    );
    tokio::spawn(agent.run(inbound, deliveries, shutdown));
    Server {
        _dir: dir,
        addr,
        _stop: stop,
    }
}

pub fn person(account: &str) -> config::Person {
    config::Person {
        sip: Some(format!("sip:{account}@example.test")),
        account: account.into(),
        name: String::new(),
        mail: None,
        sip_password: None,
        reading: None,
        extension: None,
        mobile: None,
        department: None,
        groups: Vec::new(),
    }
}

/// A phone on a UDP socket of its own, talking to the server.
pub struct Phone {
    pub socket: UdpSocket,
    server: SocketAddr,
    sent: u32,
}

impl Phone {
    pub async fn new(server: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Self {
            socket,
            server,
            sent: 0,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Sends a request (a fresh branch and CSeq each time) and returns it.
    pub async fn request(
        &mut self,
        method: &str,
        ruri: &str,
        headers: &[&str],
        body: &str,
    ) -> String {
        self.sent += 1;
        let (n, phone) = (self.sent, self.addr());
        let mut text = format!(
            "{method} {ruri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {phone};branch=z9hG4bK-{n};rport\r\n\
             Max-Forwards: 70\r\n\
             CSeq: {n} {method}\r\n"
        );
        for h in headers {
            text.push_str(h);
            text.push_str("\r\n");
        }
        if !body.is_empty() {
            text.push_str("Content-Type: application/pidf+xml\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.send(&text).await;
        text
    }

    pub async fn send(&self, text: &str) {
        self.socket
            .send_to(text.as_bytes(), self.server)
            .await
            .unwrap();
    }

    pub async fn receive(&self) -> String {
        let mut buf = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(PATIENCE, self.socket.recv_from(&mut buf))
            .await
            .expect("a message in time")
            .unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    /// Bob's phone subscribes to alice's presence (Call-ID `watch`, its
    /// Contact this phone): the 200 OK, and the first NOTIFY, answered 200.
    pub async fn bob_watches_alice(&mut self) -> (String, String) {
        let contact = format!("Contact: <sip:bob@{}>", self.addr());
        let open = [
            FROM_BOB,
            TO_ALICE,
            "Call-ID: watch",
            "Event: presence",
            contact.as_str(),
        ];
        self.request("SUBSCRIBE", ALICE, &open, "").await;
        self.answer_and_notify().await
    }

    /// The answer to the last request, and the NOTIFY that came with it (answered 200).
    pub async fn answer_and_notify(&self) -> (String, String) {
        let (first, second) = (self.receive().await, self.receive().await);
        let (answer, notify) = if first.starts_with("NOTIFY") {
            (second, first)
        } else {
            (first, second)
        };
        assert!(notify.starts_with("NOTIFY "), "{notify}");
        self.send(&ok_to(&notify)).await;
        (answer, notify)
    }
}

pub fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_default()
}

pub fn headers<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .collect()
}

pub fn status(message: &str) -> u16 {
    message.split(' ').nth(1).unwrap().parse().unwrap()
}

pub fn ok_to(notify: &str) -> String {
    let mut answer = String::from("SIP/2.0 200 OK\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        answer.push_str(&format!("{name}: {}\r\n", header(notify, name)));
    }
    answer + "Content-Length: 0\r\n\r\n"
}

/// The NOTIFY says its subscription is active for `seconds` (a second may
/// have passed since it was granted).
pub fn assert_active(notify: &str, seconds: u64) {
    let state = header(notify, "Subscription-State");
    let left: u64 = state
        .strip_prefix("active;expires=")
        .unwrap()
        .parse()
        .unwrap();
    assert!((seconds - 2..=seconds).contains(&left), "{state}");
}

pub fn pidf(account: &str, note: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:{account}@example.test"><tuple id="t"><status><basic>open</basic></status><note>{note}</note></tuple></presence>"#
    )
}

pub const ALICE: &str = "sip:alice@example.test";
pub const FROM_ALICE: &str = "From: <sip:alice@example.test>;tag=a";
pub const TO_ALICE: &str = "To: <sip:alice@example.test>";
pub const FROM_BOB: &str = "From: <sip:bob@example.test>;tag=b";
