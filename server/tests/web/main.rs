//! The web board's trust rules over real HTTP, in process, on the real
//! SQLite store: sign-in links (single use, expiring, the same answer for
//! unknown addresses, one mail per person per gap, limits per source /64, a
//! flood of requests that leaves the board and the hub prompt), CSRF and
//! Origin on every change, the rules applied to every row and every
//! streamed event, resuming a stream, streams that end with their session,
//! and the single sign-on header believed only from the proxy; the map's
//! town areas only for colleagues the viewer may locate. The browser end to end test
//! (tests/e2e, Chromium) shows the same from a person's side.
//!
//! Here is the harness: a directory and rules, a board on its own runtime and
//! store, and requests the way a browser sends them. The tests are in
//! `sign_in`, `streams`, `access`, `map` and `memos`.
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{Activity, ActivityToken, PresenceFields};
use mailpresence_server::config::{self, PresencePolicy, Rule, WebConfig};
use mailpresence_server::directory::Directory;
use mailpresence_server::engine::{Engine, SubscribeRequest};
use mailpresence_server::hub::Hub;
use mailpresence_server::store::{Medium, SqliteStore};
use mailpresence_server::web::{self, Web};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

mod access;
mod map;
mod memos;
mod sign_in;
mod streams;

fn person(account: &str, name: &str, groups: &[&str]) -> config::Person {
    config::Person {
        account: account.into(),
        name: name.into(),
        mail: Some(format!("{account}@example.test")),
        sip: Some(format!("sip:{account}@example.test")),
        sip_password: None,
        reading: None,
        extension: None,
        mobile: None,
        department: None,
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

/// tanaka and suzuki in the field; sato at a desk sees them with location,
/// ito without; nobody may see kato.
fn hub(dir: &std::path::Path) -> Arc<Hub> {
    let people = [
        person("tanaka", "田中 太郎", &["営業部"]),
        person("suzuki", "鈴木 花子", &["営業部"]),
        person("sato", "佐藤 一郎", &["総務部"]),
        person("ito", "伊藤 次郎", &["総務部"]),
        person("kato", "加藤 三郎", &[]),
    ];
    let rules = [
        Rule {
            watchers: vec!["sato".into()],
            may_see: vec!["group:営業部".into(), "group:総務部".into()],
            location: true,
        },
        Rule {
            watchers: vec!["ito".into()],
            may_see: vec!["group:営業部".into(), "group:総務部".into()],
            location: false,
        },
        Rule {
            watchers: vec!["*".into()],
            may_see: vec!["sato".into()],
            location: false,
        },
    ];
    let engine = Engine::new(
        Directory::from_config(&people, &rules),
        PresencePolicy::default(),
        "presence@example.test",
    );
    let store = SqliteStore::open(&dir.join("presence.db")).unwrap();
    Hub::new(store, engine, "presence@example.test".into())
}

fn web_config(trusted_proxies: Vec<std::net::IpAddr>) -> WebConfig {
    let user_header = (!trusted_proxies.is_empty()).then(|| "X-Remote-User".to_owned());
    WebConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: "http://board.example.test".into(),
        tls_certificate: None,
        tls_key: None,
        trusted_proxies,
        user_header,
        mail_sign_in: true,
        admins: Vec::new(),
        departments: Default::default(),
        extension_uri: "sip:{ext}@pbx.example.test".into(),
        link_minutes: 15,
        link_mail_minutes: 5,
        links_per_hour: None,
        link_requests_per_ip_hour: 100,
        session_hours: 12,
        max_streams: 50,
        connections_per_address: 64,
        map_pack: None,
        presets: None,
        present_at_first_sign_in: false,
    }
}

struct Board {
    hub: Arc<Hub>,
    address: SocketAddr,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

fn start(trusted_proxies: Vec<std::net::IpAddr>) -> Board {
    start_with(web_config(trusted_proxies))
}

fn start_with(config: WebConfig) -> Board {
    start_checking_sessions_every(config, Duration::from_secs(30))
}

/// A board whose streams check their session every `recheck`.
fn start_checking_sessions_every(config: WebConfig, recheck: Duration) -> Board {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop, shutdown) = watch::channel(false);
    let board =
        Web::with_session_recheck(hub.clone(), config, Default::default(), recheck).unwrap();
    let listening = runtime.block_on(web::bind(board)).unwrap();
    let address = listening.local_addr().unwrap();
    runtime.spawn(listening.run(shutdown));
    Board {
        hub,
        address,
        _stop: stop,
        _dir: dir,
        _runtime: runtime,
    }
}

/// One HTTP/1.1 exchange, as a browser would send it.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

fn request(
    board: &Board,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    request_from(board.address, None, method, path, headers, body)
}

fn request_from(
    to: SocketAddr,
    from: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut stream = match from {
        None => TcpStream::connect(to).unwrap(),
        Some(ip) => connect_from(to, ip),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: board.example.test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A connection from another loopback address (127.0.0.2): not the proxy.
fn connect_from(to: SocketAddr, ip: &str) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        let stream = socket.connect(to).await.unwrap();
        let std = stream.into_std().unwrap();
        std.set_nonblocking(false).unwrap();
        std
    })
}

/// The mails waiting in the server's outbox (no SMTP server in these tests).
fn outbox(board: &Board) -> Vec<mailpresence_server::store::OutboxMail> {
    board
        .hub
        .store()
        .transaction(|tx| tx.due_mails(Utc::now() + chrono::Duration::hours(1), 100))
        .unwrap()
}

/// The link of the sign-in mail waiting in the outbox for `to`.
fn link_in_outbox(board: &Board, to: &str) -> Option<String> {
    let mails = outbox(board);
    let mail = mails.iter().rev().find(|m| m.recipient == to)?;
    let parsed = mail_parser::MessageParser::default().parse(&mail.raw)?;
    let text = parsed.body_text(0)?.into_owned();
    let start = text.find("/login/")?;
    Some(
        text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect(),
    )
}

/// The link mailed to `to`, waited for: the board answers a request before
/// the link is stored (so the answer's time tells nothing), and queues it
/// a moment later. `None` when none came within a few seconds.
fn mailed_link(board: &Board, to: &str) -> Option<String> {
    let started = Instant::now();
    loop {
        let link = link_in_outbox(board, to);
        if link.is_some() || started.elapsed() > Duration::from_secs(3) {
            return link;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The link mails in the outbox for `to`, once the first has come and the
/// board has had a moment for any more.
fn link_mails_to(board: &Board, to: &str) -> usize {
    mailed_link(board, to);
    std::thread::sleep(Duration::from_millis(300));
    outbox(board).iter().filter(|m| m.recipient == to).count()
}

fn sign_in(board: &Board, account: &str) -> String {
    let answer = request(
        board,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("address={account}%40example.test"),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let link =
        mailed_link(board, &format!("{account}@example.test")).expect("a sign-in mail with a link");
    let answer = request(board, "POST", &link, &[], "");
    assert_eq!(answer.status, 303, "{}", answer.body);
    let cookie = answer.header("set-cookie").unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

fn board_json(board: &Board, cookie: &str) -> serde_json::Value {
    let answer = request(board, "GET", "/api/board", &[("Cookie", cookie)], "");
    assert_eq!(answer.status, 200, "{}", answer.body);
    serde_json::from_str(&answer.body).unwrap()
}

fn publish(board: &Board, account: &str, token: ActivityToken, place: Option<&str>) {
    let mut fields = PresenceFields::new(
        format!("{account}@example.test").as_str(),
        Activity::token(token),
    );
    fields.location = place.map(str::to_owned);
    fields.updated = Some(Utc::now().fixed_offset());
    let account = account.parse().unwrap();
    board
        .hub
        .step(|engine, tx, now| {
            engine
                .publish(tx, &account, fields, Medium::Mail, now)
                .map(Some)
        })
        .unwrap();
}
