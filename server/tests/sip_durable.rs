//! The SIP agent with group commits, in process over loopback UDP: a desk
//! phone's 200 OK to PUBLISH means its presence is stored; a PUBLISH whose
//! step fails is answered 500 while the others of its burst are stored; a
//! watcher's NOTIFY, held until the commit, goes out and, once the watcher
//! has answered one, is resent until answered.
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mailpresence_protocol::summary::Lang;
use mailpresence_server::config::{self, PresencePolicy, Rule, SipConfig};
use mailpresence_server::directory::Directory;
use mailpresence_server::engine::Engine;
use mailpresence_server::hub::Hub;
use mailpresence_server::sip::{agent::Agent, transport};
use mailpresence_server::store::{SqliteStore, Store};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const PHONES: usize = 20;
/// How long any answer may take before the test gives up (not a speed check).
const PATIENCE: Duration = Duration::from_secs(20);

/// The presence server's store and SIP agent, u0…u19 in its directory.
struct Server {
    _dir: tempfile::TempDir,
    db: PathBuf,
    hub: Arc<Hub>,
    stop: watch::Sender<bool>,
    running: Option<JoinHandle<()>>,
}

impl Server {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("presence.db");
        let people: Vec<_> = (0..PHONES).map(|i| person(format!("u{i}"))).collect();
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
        let store = SqliteStore::open(&db).unwrap();
        let hub = Hub::new(store, engine, "presence@example.test".into());
        Self {
            _dir: dir,
            db,
            hub,
            stop: watch::channel(false).0,
            running: None,
        }
    }

    /// Makes the database refuse presence for `account` (a step that fails).
    fn refuse(&self, account: &str) {
        rusqlite::Connection::open(&self.db)
            .unwrap()
            .execute_batch(&format!(
                "CREATE TRIGGER refuse BEFORE INSERT ON presence WHEN NEW.account = '{account}'
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
            ))
            .unwrap();
    }

    /// Starts the agent; returns where it listens.
    async fn start(&mut self) -> SocketAddr {
        let config: SipConfig = toml::from_str(
            r#"listen = "127.0.0.1:0"
               trusted_networks = ["127.0.0.0/8"]
               trusted_over_udp = true"#,
        )
        .unwrap();
        let shutdown = self.stop.subscribe();
        let (out, inbound, addr) = transport::bind(config.listen, shutdown.clone())
            .await
            .unwrap();
        let (deliveries_tx, deliveries) = mpsc::unbounded_channel();
        self.hub.connect_sip(deliveries_tx);
        let agent = Agent::new(
            self.hub.clone(),
            config,
            "example.test".into(),
            addr.to_string(),
            Lang::En,
            out,
        );
        self.running = Some(tokio::spawn(agent.run(inbound, deliveries, shutdown)));
        addr
    }

    async fn stop(mut self) {
        self.stop.send_replace(true);
        if let Some(running) = self.running.take() {
            running.await.unwrap();
        }
    }

    /// Whether `account`'s presence is in the database, as another process reads it.
    fn on_disk(&self, account: &str) -> bool {
        on_disk(&self.db, account)
    }
}

fn on_disk(db: &Path, account: &str) -> bool {
    let mut reader = SqliteStore::open_read_only(db).unwrap();
    let account = account.parse().unwrap();
    reader
        .transaction(|tx| tx.presence(&account))
        .unwrap()
        .is_some()
}

fn person(account: String) -> config::Person {
    config::Person {
        sip: Some(format!("sip:{account}@example.test")),
        account,
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

fn publish(account: &str, phone: SocketAddr) -> String {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:{account}@example.test"><tuple id="t"><status><basic>open</basic></status><note>at the desk of {account}</note></tuple></presence>"#
    );
    format!(
        "PUBLISH sip:{account}@example.test SIP/2.0\r\n\
         Via: SIP/2.0/UDP {phone};branch=z9hG4bK-{account};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{account}@example.test>;tag=t-{account}\r\n\
         To: <sip:{account}@example.test>\r\n\
         Call-ID: {account}\r\n\
         CSeq: 1 PUBLISH\r\n\
         Event: presence\r\n\
         Expires: 600\r\n\
         Content-Type: application/pidf+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn subscribe(watcher: &str, presentity: &str, phone: SocketAddr) -> String {
    format!(
        "SUBSCRIBE sip:{presentity}@example.test SIP/2.0\r\n\
         Via: SIP/2.0/UDP {phone};branch=z9hG4bK-sub;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{watcher}@example.test>;tag=w\r\n\
         To: <sip:{presentity}@example.test>\r\n\
         Call-ID: watch\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:{watcher}@{phone}>\r\n\
         Event: presence\r\n\
         Expires: 600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A desk phone on a UDP socket of its own.
struct Phone(UdpSocket);

impl Phone {
    async fn new() -> Self {
        Self(UdpSocket::bind("127.0.0.1:0").await.unwrap())
    }

    fn addr(&self) -> SocketAddr {
        self.0.local_addr().unwrap()
    }

    async fn send(&self, text: &str, to: SocketAddr) {
        self.0.send_to(text.as_bytes(), to).await.unwrap();
    }

    async fn receive(&self) -> String {
        let mut buf = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(PATIENCE, self.0.recv_from(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }
}

fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_default()
}

fn status(message: &str) -> u16 {
    message.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The 200 OK a phone sends back for a NOTIFY.
fn ok_to(notify: &str) -> String {
    let mut answer = String::from("SIP/2.0 200 OK\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        answer.push_str(&format!("{name}: {}\r\n", header(notify, name)));
    }
    answer + "Content-Length: 0\r\n\r\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_200_ok_to_publish_comes_after_its_presence_is_stored() {
    let mut server = Server::new();
    server.refuse("u3");
    let addr = server.start().await;
    let phone = Phone::new().await;
    for i in 0..PHONES {
        phone
            .send(&publish(&format!("u{i}"), phone.addr()), addr)
            .await;
    }
    let mut answers = HashMap::new();
    while answers.len() < PHONES {
        let answer = phone.receive().await;
        let account = header(&answer, "Call-ID").to_owned();
        // Checked the moment the answer arrives: it must already be stored.
        let stored = server.on_disk(&account);
        answers.insert(account, (status(&answer), stored));
    }
    for i in 0..PHONES {
        let account = format!("u{i}");
        let expected = if account == "u3" {
            (500, false)
        } else {
            (200, true)
        };
        assert_eq!(answers[&account], expected, "{account}: (answer, stored)");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_gets_its_notify_and_it_is_resent_until_answered() {
    let mut server = Server::new();
    let addr = server.start().await;
    let desk = Phone::new().await;
    desk.send(&publish("u0", desk.addr()), addr).await;
    assert_eq!(status(&desk.receive().await), 200);

    let watcher = Phone::new().await;
    watcher
        .send(&subscribe("u1", "u0", watcher.addr()), addr)
        .await;
    let answer = watcher.receive().await;
    assert_eq!(status(&answer), 200, "{answer}");
    let notify = watcher.receive().await;
    assert!(notify.starts_with("NOTIFY "), "{notify}");
    assert!(notify.contains("at the desk of u0"), "{notify}");
    // Answered: the watcher's address is proven its own.
    watcher.send(&ok_to(&notify), addr).await;
    // The next change, not answered: the same NOTIFY comes again (UDP
    // retransmission). After the SIP throttle's second, or the change would
    // wait for the clock's tick, which this test does not run.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // A new transaction (a new branch): the same one would be a retransmission,
    // answered again from memory without being handled.
    let change = publish("u0", desk.addr()).replace("z9hG4bK-u0", "z9hG4bK-u0-2");
    desk.send(&change, addr).await;
    assert_eq!(status(&desk.receive().await), 200);
    let second = watcher.receive().await;
    assert!(second.starts_with("NOTIFY "), "{second}");
    let again = watcher.receive().await;
    assert_eq!(header(&again, "Via"), header(&second, "Via"));
    watcher.send(&ok_to(&again), addr).await;
    server.stop().await;
}
