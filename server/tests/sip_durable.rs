//! A desk phone's 200 OK to PUBLISH means its presence is stored: a burst of
//! PUBLISHes is stored in groups, and each answer goes out only after its
//! group's commit. A PUBLISH whose step fails is answered 500 while the others
//! of the burst are stored.
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use mailpresence_core::summary::Lang;
use mailpresence_server::config::{self, PresencePolicy, Rule, SipConfig};
use mailpresence_server::directory::Directory;
use mailpresence_server::engine::Engine;
use mailpresence_server::hub::Hub;
use mailpresence_server::sip::{agent::Agent, transport};
use mailpresence_server::store::{SqliteStore, Store};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

const PHONES: usize = 20;
/// The phone whose PUBLISH the database refuses.
const REFUSED: &str = "u3";

fn person(account: String) -> config::Person {
    config::Person {
        sip: Some(format!("sip:{account}@example.test")),
        account,
        name: String::new(),
        mail: None,
        sip_password: None,
        groups: Vec::new(),
    }
}

fn sip_config() -> SipConfig {
    toml::from_str(r#"listen = "127.0.0.1:0""#).unwrap()
}

fn publish(account: &str, client: std::net::SocketAddr) -> Vec<u8> {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:{account}@example.test"><tuple id="t"><status><basic>open</basic></status></tuple></presence>"#
    );
    format!(
        "PUBLISH sip:{account}@example.test SIP/2.0\r\n\
         Via: SIP/2.0/UDP {client};branch=z9hG4bK-{account};rport\r\n\
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
    .into_bytes()
}

/// The status code and Call-ID (the account) of a response.
fn status_and_call_id(bytes: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(bytes);
    let code = text.split(' ').nth(1).unwrap().parse().unwrap();
    let call_id = text
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .unwrap()
        .to_owned();
    (code, call_id)
}

/// Whether `account`'s presence is in the database, as another process reads it.
fn on_disk(db: &Path, account: &str) -> bool {
    let mut reader = SqliteStore::open_read_only(db).unwrap();
    let account = account.parse().unwrap();
    reader
        .transaction(|tx| tx.presence(&account))
        .unwrap()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_200_ok_to_publish_comes_after_its_presence_is_stored() {
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
    let hub = Hub::new(
        SqliteStore::open(&db).unwrap(),
        engine,
        "presence@example.test".into(),
    );
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON presence WHEN NEW.account = '{REFUSED}'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        ))
        .unwrap();

    let (stop, shutdown) = watch::channel(false);
    let config = sip_config();
    let (out, inbound, server) = transport::bind(config.listen, shutdown.clone())
        .await
        .unwrap();
    let (deliveries_tx, deliveries) = mpsc::unbounded_channel();
    hub.connect_sip(deliveries_tx);
    let agent = Agent::new(
        hub.clone(),
        config,
        "example.test".into(),
        server.to_string(),
        Lang::En,
        out,
    );
    let running = tokio::spawn(agent.run(inbound, deliveries, shutdown));

    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = phone.local_addr().unwrap();
    for i in 0..PHONES {
        let message = publish(&format!("u{i}"), client);
        phone.send_to(&message, server).await.unwrap();
    }
    let mut answers = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    while answers.len() < PHONES {
        let (n, _) = tokio::time::timeout(Duration::from_secs(20), phone.recv_from(&mut buf))
            .await
            .expect("every PUBLISH is answered")
            .unwrap();
        let (code, account) = status_and_call_id(&buf[..n]);
        // Checked the moment the answer arrives: it must already be stored.
        answers.insert(account.clone(), (code, on_disk(&db, &account)));
    }
    stop.send_replace(true);
    running.await.unwrap();

    for i in 0..PHONES {
        let account = format!("u{i}");
        let expected = if account == REFUSED {
            (500, false)
        } else {
            (200, true)
        };
        assert_eq!(answers[&account], expected, "{account}: (answer, stored)");
    }
}
