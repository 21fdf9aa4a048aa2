//! The web board's trust rules over real HTTP, in process, on the real
//! SQLite store: sign-in links (single use, expiring, the same answer for
//! unknown addresses, one mail per person per gap, limits per source /64, a
//! flood of requests that leaves the board and the hub prompt), CSRF and
//! Origin on every change, the rules applied to every row and every
//! streamed event, resuming a stream, streams that end with their session,
//! and the single sign-on header believed only from the proxy. The browser end to end test
//! (tests/e2e, Chromium) shows the same from a person's side.
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
use mailpresence_server::store::{Medium, SqliteStore, Store};
use mailpresence_server::web::{self, Web};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

fn person(account: &str, name: &str, groups: &[&str]) -> config::Person {
    config::Person {
        account: account.into(),
        name: name.into(),
        mail: Some(format!("{account}@example.test")),
        sip: Some(format!("sip:{account}@example.test")),
        sip_password: None,
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
        link_minutes: 15,
        link_mail_minutes: 5,
        links_per_hour: None,
        link_requests_per_ip_hour: 100,
        session_hours: 12,
        max_streams: 50,
        connections_per_address: 64,
        map_pack: None,
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

fn sign_in(board: &Board, account: &str) -> String {
    let answer = request(
        board,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("address={account}%40example.test"),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let link = link_in_outbox(board, &format!("{account}@example.test"))
        .expect("a sign-in mail with a link");
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

#[test]
fn a_mailed_link_signs_in_once_and_the_board_shows_what_the_rules_allow() {
    let board = start(vec![]);
    publish(
        &board,
        "tanaka",
        ActivityToken::OnSite,
        Some("東京都千代田区丸の内一丁目"),
    );
    publish(
        &board,
        "kato",
        ActivityToken::Available,
        Some("東京都港区芝公園四丁目"),
    );
    let login = request(&board, "GET", "/login", &[], "");
    assert_eq!(login.status, 200);
    assert!(
        login
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(
        login.header("referrer-policy").as_deref(),
        Some("same-origin")
    );

    let answer = request(
        &board,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "address=sato%40example.test",
    );
    let link = link_in_outbox(&board, "sato@example.test").unwrap();
    // Opening the link (a mail scanner does) does not use it up.
    assert_eq!(request(&board, "GET", &link, &[], "").status, 200);
    let first = request(&board, "POST", &link, &[], "");
    assert_eq!(first.status, 303, "{}", first.body);
    let cookie = first
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        request(&board, "POST", &link, &[], "").status,
        410,
        "a used link is refused"
    );
    assert!(
        answer.body.contains("登録されているアドレスであれば")
            || answer.body.contains("If the address is registered")
    );

    let json = board_json(&board, &cookie);
    let people: Vec<&str> = json["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["account"].as_str().unwrap())
        .collect();
    assert!(
        people.contains(&"tanaka") && people.contains(&"sato"),
        "{people:?}"
    );
    assert!(
        !people.contains(&"kato"),
        "kato is hidden from sato: {people:?}"
    );
    let tanaka = json["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["account"] == "tanaka")
        .unwrap();
    assert_eq!(tanaka["place"], "東京都千代田区丸の内一丁目");
    assert_eq!(tanaka["state"], "on-site");
    assert!(
        !json.to_string().contains("芝公園"),
        "nothing of kato reaches sato"
    );

    // ito may see tanaka, but not where he is.
    let ito = sign_in(&board, "ito");
    let json = board_json(&board, &ito);
    let tanaka = json["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["account"] == "tanaka")
        .unwrap();
    assert_eq!(tanaka["place"], serde_json::Value::Null);
    assert!(!json.to_string().contains("丸の内"));
}

#[test]
fn unknown_addresses_get_the_same_answer_and_no_mail_and_links_are_one_per_gap() {
    let board = start(vec![]);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let known = request(
        &board,
        "POST",
        "/login",
        &form,
        "address=tanaka%40example.test",
    );
    let unknown = request(
        &board,
        "POST",
        "/login",
        &form,
        "address=nobody%40example.test",
    );
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert!(link_in_outbox(&board, "nobody@example.test").is_none());
    for _ in 0..5 {
        request(
            &board,
            "POST",
            "/login",
            &form,
            "address=tanaka%40example.test",
        );
    }
    let mails = outbox(&board);
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.recipient == "tanaka@example.test")
            .count(),
        1,
        "one link mail per link_mail_minutes"
    );
}

#[test]
fn an_expired_link_is_refused() {
    let board = start(vec![]);
    let token = "ab".repeat(32);
    let key: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    board
        .hub
        .store()
        .transaction(|tx| {
            tx.put_record(
                "web-link",
                &key,
                r#"{"account":"sato"}"#,
                Utc::now() + chrono::Duration::seconds(1),
            )
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let answer = request(&board, "POST", &format!("/login/{token}"), &[], "");
    assert_eq!(answer.status, 410);
    assert!(answer.header("set-cookie").is_none());
}

#[test]
fn a_change_needs_the_pages_csrf_token_and_reaches_mail_watchers() {
    let board = start(vec![]);
    // tanaka's phone watches sato by mail.
    let watch = SubscribeRequest {
        watcher: "tanaka".parse().unwrap(),
        notifiers: vec!["sato".parse().unwrap()],
        medium: Medium::Mail,
        deliver_to: "tanaka@example.test".into(),
        mode: SubscribeMode::Watch,
        expires_secs: Some(3600),
        reference: None,
    };
    board
        .hub
        .step(|engine, tx, now| engine.subscribe(tx, watch, now).map(Some))
        .unwrap();
    let cookie = sign_in(&board, "sato");
    let csrf = board_json(&board, &cookie)["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let change = r#"{"state":"meeting","back":"15:30","note":"部長会議"}"#;
    let json = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/json"),
    ];

    let no_token = request(&board, "POST", "/api/me", &json, change);
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let wrong = request(
        &board,
        "POST",
        "/api/me",
        &[json[0], json[1], ("X-CSRF-Token", "00")],
        change,
    );
    assert_eq!(wrong.status, 403);
    let foreign = request(
        &board,
        "POST",
        "/api/me",
        &[
            json[0],
            json[1],
            ("X-CSRF-Token", &csrf),
            ("Origin", "https://evil.example"),
        ],
        change,
    );
    assert_eq!(foreign.status, 403);
    let sato: mailpresence_protocol::model::AccountName = "sato".parse().unwrap();
    assert!(
        board
            .hub
            .store()
            .transaction(|tx| tx.presence(&sato))
            .unwrap()
            .is_none(),
        "nothing changed"
    );

    let ok = request(
        &board,
        "POST",
        "/api/me",
        &[
            json[0],
            json[1],
            ("X-CSRF-Token", &csrf),
            ("Origin", "http://board.example.test"),
        ],
        change,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let row: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(
        (
            row["state"].as_str(),
            row["back"].as_str(),
            row["note"].as_str()
        ),
        (Some("meeting"), Some("15:30"), Some("部長会議"))
    );
    let record = board
        .hub
        .store()
        .transaction(|tx| tx.presence(&sato))
        .unwrap()
        .unwrap();
    assert_eq!(record.source, Medium::Web);
    let mails = outbox(&board);
    let notify = mails.iter().find(|m| {
        m.recipient == "tanaka@example.test"
            && String::from_utf8_lossy(&m.raw).contains("Subject: Notify")
    });
    assert!(notify.is_some(), "a Notify mail to tanaka's phone");

    let bad = request(
        &board,
        "POST",
        "/api/me",
        &[json[0], json[1], ("X-CSRF-Token", &csrf)],
        r#"{"state":"meeting","back":"15:10"}"#,
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
}

/// Reads a board stream until `until` shows up in it (or 10 s pass).
fn read_stream(stream: &mut TcpStream, until: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(n) = stream.read(&mut buffer) {
            seen.extend_from_slice(&buffer[..n]);
            if String::from_utf8_lossy(&seen).contains(until) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// A stream, and what came with its head (the first events may share its packet).
fn open_stream(board: &Board, cookie: &str, last_event: Option<&str>) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(board.address).unwrap();
    let resume = last_event
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    write!(stream, "GET /api/events HTTP/1.1\r\nHost: board.example.test\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n{resume}\r\n").unwrap();
    let head = read_stream(&mut stream, "\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    (stream, head)
}

/// Reads on until `until` is in what was read so far.
fn read_more(stream: &mut TcpStream, so_far: String, until: &str) -> String {
    if so_far.contains(until) {
        return so_far;
    }
    so_far + &read_stream(stream, until)
}

#[test]
fn a_stream_carries_the_changes_a_viewer_may_see_and_nothing_of_hidden_people() {
    let board = start(vec![]);
    let cookie = sign_in(&board, "sato");
    let (mut stream, head) = open_stream(&board, &cookie, None);
    publish(
        &board,
        "kato",
        ActivityToken::Meeting,
        Some("東京都港区芝公園四丁目"),
    );
    publish(
        &board,
        "tanaka",
        ActivityToken::Driving,
        Some("東京都台東区上野七丁目"),
    );
    let seen = read_more(&mut stream, head, "上野七丁目");
    assert!(
        seen.contains("event: person") && seen.contains("上野七丁目"),
        "{seen}"
    );
    assert!(
        !seen.contains("kato") && !seen.contains("芝公園"),
        "an event about a hidden person: {seen}"
    );
    // The id of tanaka's change; a reconnect after it gets only what follows.
    let id = seen
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .next_back()
        .unwrap()
        .to_owned();
    // Nor does the id count kato's hidden change: it is not the 2nd of a run.
    let (_, masked) = id.split_once('-').unwrap();
    assert!(
        masked.len() == 16 && masked != format!("{:016x}", 2),
        "{id}"
    );
    publish(
        &board,
        "suzuki",
        ActivityToken::OnSite,
        Some("岐阜県安八郡安八町"),
    );
    let (mut resumed, head) = open_stream(&board, &cookie, Some(&id));
    let again = read_more(&mut resumed, head, "安八町");
    assert!(
        again.contains("安八町") && !again.contains("上野七丁目"),
        "{again}"
    );
    // An id of another run: start afresh.
    let (mut stale, head) = open_stream(&board, &cookie, Some("0000000000000000-5"));
    assert!(read_more(&mut stale, head, "event: reset").contains("event: reset"));
}

#[test]
fn the_single_sign_on_header_is_believed_only_from_the_proxy() {
    let board = start(vec!["127.0.0.1".parse().unwrap()]);
    let from_proxy = request(
        &board,
        "GET",
        "/api/board",
        &[("X-Remote-User", "sato")],
        "",
    );
    assert_eq!(from_proxy.status, 200, "{}", from_proxy.body);
    let json: serde_json::Value = serde_json::from_str(&from_proxy.body).unwrap();
    assert_eq!(json["account"], "sato");
    let by_mail = request(
        &board,
        "GET",
        "/api/board",
        &[("X-Remote-User", "ito@example.test")],
        "",
    );
    assert_eq!(by_mail.status, 200);
    let elsewhere = request_from(
        board.address,
        Some("127.0.0.2"),
        "GET",
        "/api/board",
        &[("X-Remote-User", "sato")],
        "",
    );
    assert_eq!(
        elsewhere.status, 401,
        "the header from anyone but the proxy is ignored"
    );
    let nobody = request(
        &board,
        "GET",
        "/api/board",
        &[("X-Remote-User", "mallory")],
        "",
    );
    assert_eq!(nobody.status, 401);
}

#[test]
fn over_https_the_board_answers_with_hsts_and_plain_http_gets_nothing() {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).unwrap();
    let files = tempfile::tempdir().unwrap();
    let (certificate, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::write(&certificate, cert.pem()).unwrap();
    std::fs::write(&key, signing_key.serialize_pem()).unwrap();
    let mut config = web_config(vec![]);
    config.public_url = "https://127.0.0.1".into();
    config.tls_certificate = Some(certificate);
    config.tls_key = Some(key);
    let board = start_with(config);

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(cert.der().to_vec()))
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tcp = tokio::net::TcpStream::connect(board.address).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(name, tcp)
            .await
            .unwrap();
        tls.write_all(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut raw = Vec::new();
        let _ = tls.read_to_end(&mut raw).await;
        String::from_utf8_lossy(&raw).into_owned()
    });
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age="),
        "{answer}"
    );

    // Plain HTTP to the HTTPS port: no HTTP answer, the handshake fails.
    let mut plain = TcpStream::connect(board.address).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw);
    assert!(!String::from_utf8_lossy(&raw).contains("HTTP/1.1 200"));
}

#[test]
fn one_person_holds_at_most_eight_streams_and_closed_ones_free_their_places() {
    let board = start(vec![]);
    let cookie = sign_in(&board, "sato");
    let open: Vec<_> = (0..8).map(|_| open_stream(&board, &cookie, None)).collect();
    let mut ninth = TcpStream::connect(board.address).unwrap();
    write!(
        ninth,
        "GET /api/events HTTP/1.1\r\nHost: board.example.test\r\nCookie: {cookie}\r\n\r\n"
    )
    .unwrap();
    assert!(read_stream(&mut ninth, "\r\n\r\n").starts_with("HTTP/1.1 503"));
    drop(open);
    // Closed streams free their places (the server sees them go at its next write).
    let mut freed = false;
    for _ in 0..50 {
        publish(&board, "tanaka", ActivityToken::Busy, None);
        let mut again = TcpStream::connect(board.address).unwrap();
        write!(
            again,
            "GET /api/events HTTP/1.1\r\nHost: board.example.test\r\nCookie: {cookie}\r\n\r\n"
        )
        .unwrap();
        if read_stream(&mut again, "\r\n\r\n").starts_with("HTTP/1.1 200") {
            freed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(freed, "the places of closed streams were never freed");
}

#[test]
fn a_body_announced_and_never_sent_is_given_up_after_the_deadline() {
    let board = start(vec![]);
    let mut stream = TcpStream::connect(board.address).unwrap();
    write!(stream, "POST /login HTTP/1.1\r\nHost: board.example.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16000\r\n\r\naddress=").unwrap();
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// Whether the board answers a plain page request on `stream` (an admitted
/// connection) or closes it unanswered (a refused one).
fn answers(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    if stream
        .write_all(b"GET /login HTTP/1.1\r\nHost: board.example.test\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    }
    seen.starts_with(b"HTTP/1.1 200")
}

#[test]
fn one_address_holds_its_share_of_connections_and_the_proxy_only_the_total() {
    let proxy: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let board = start_with(WebConfig {
        connections_per_address: 3,
        max_streams: 10,
        ..web_config(vec![proxy])
    });
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| connect_from(board.address, "127.0.0.2"))
        .collect();
    for stream in &mut held {
        assert!(answers(stream), "an address's first three are served");
    }
    let mut fourth = connect_from(board.address, "127.0.0.2");
    assert!(
        !answers(&mut fourth),
        "the fourth from one address is closed"
    );
    let mut other = connect_from(board.address, "127.0.0.3");
    assert!(answers(&mut other), "another address is not shut out");

    // The proxy carries everyone: 10 + 256 in all, less the four open above.
    let mut through_proxy: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(board.address).unwrap())
        .collect();
    assert!(
        through_proxy.iter_mut().all(answers),
        "the proxy is bound by the total alone"
    );

    drop(held);
    let freed = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        answers(&mut connect_from(board.address, "127.0.0.2"))
    });
    assert!(freed, "closed connections never freed their places");
}

#[test]
fn behind_a_proxy_without_sign_on_the_forwarded_address_is_what_the_limit_counts() {
    // The README's setup: an HTTPS proxy on loopback in front, mail sign-in.
    let board = start_with(WebConfig {
        user_header: None,
        link_requests_per_ip_hour: 2,
        ..web_config(vec!["127.0.0.1".parse().unwrap()])
    });
    let ask = |who: &str, forwarded: &str| {
        request(
            &board,
            "POST",
            "/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Forwarded-For", forwarded),
            ],
            &format!("address={who}%40example.test"),
        );
        link_in_outbox(&board, &format!("{who}@example.test")).is_some()
    };
    assert!(ask("tanaka", "203.0.113.9"));
    // What the client wrote itself comes first; the proxy's entry is last.
    assert!(ask("sato", "198.51.100.1, 203.0.113.9"));
    assert!(!ask("suzuki", "203.0.113.9"), "a third from one client");
    assert!(
        ask("kato", "203.0.113.10"),
        "another client behind the same proxy"
    );
    // Without user_header no header signs anyone in, not even the proxy's.
    let from_elsewhere = request_from(
        board.address,
        None,
        "GET",
        "/api/board",
        &[("X-Remote-User", "sato")],
        "",
    );
    assert_eq!(from_elsewhere.status, 401);
}

/// A POST /login from `ip` (a loopback address of its own) for `address`,
/// sent without waiting for the answer's body to matter.
async fn ask_link_from(to: SocketAddr, ip: std::net::Ipv4Addr, address: String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
        return;
    };
    if socket.bind(SocketAddr::from((ip, 0))).is_err() {
        return;
    }
    let Ok(mut stream) = socket.connect(to).await else {
        return;
    };
    let body = format!("address={address}");
    let text = format!(
        "POST /login HTTP/1.1\r\nHost: board.example.test\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(text.as_bytes()).await.is_ok() {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
    }
}

#[test]
fn a_flood_of_sign_in_requests_leaves_the_board_and_the_hub_prompt() {
    let board = start_with(WebConfig {
        max_streams: 3000,
        ..web_config(vec![])
    });
    let cookie = sign_in(&board, "sato");
    let flood = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // 2,000 requests from 50 addresses, for colleagues and for nobody.
    let asks: Vec<_> = (0..2000u32)
        .map(|i| {
            let ip = std::net::Ipv4Addr::new(127, 1, 0, (i % 50) as u8 + 1);
            let address = match i % 4 {
                0 => "tanaka%40example.test".to_owned(),
                1 => "suzuki%40example.test".to_owned(),
                _ => format!("nobody{i}%40example.test"),
            };
            flood.spawn(ask_link_from(board.address, ip, address))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let in_flight = asks.iter().filter(|a| !a.is_finished()).count();
    let started = Instant::now();
    let json = board_json(&board, &cookie);
    let board_took = started.elapsed();
    assert_eq!(json["account"], "sato");
    let started = Instant::now();
    publish(&board, "tanaka", ActivityToken::Meeting, None);
    let step_took = started.elapsed();
    assert!(
        board_took < Duration::from_secs(2) && step_took < Duration::from_secs(2),
        "with {in_flight} sign-in requests in flight, the board took {board_took:?} and a hub step {step_took:?}"
    );
    flood.block_on(async {
        for ask in asks {
            let _ = ask.await;
        }
    });
}

#[test]
fn others_asking_for_a_colleagues_link_neither_flood_their_inbox_nor_lock_them_out() {
    let board = start(vec![]);
    let ask = |from: Option<&str>| {
        let answer = request_from(
            board.address,
            from,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "address=tanaka%40example.test",
        );
        assert_eq!(answer.status, 200);
        answer.body
    };
    let first = ask(Some("127.0.0.2"));
    // Someone else keeps asking for tanaka's link.
    for _ in 0..6 {
        assert_eq!(ask(Some("127.0.0.2")), first, "every answer is the same");
    }
    // tanaka asks too, from his own desk: the same answer.
    assert_eq!(ask(None), first);
    let mails = outbox(&board)
        .into_iter()
        .filter(|m| m.recipient == "tanaka@example.test")
        .count();
    assert_eq!(
        mails, 1,
        "one link mail within a few minutes, however often asked"
    );
    // The link already sent still signs him in.
    let link = link_in_outbox(&board, "tanaka@example.test").unwrap();
    let used = request(&board, "POST", &link, &[], "");
    assert_eq!(used.status, 303, "{}", used.body);
}

#[test]
fn nothing_is_counted_or_stored_for_an_address_that_is_nobodys() {
    let board = start(vec![]);
    for _ in 0..3 {
        request(
            &board,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "address=nobody%40example.test",
        );
    }
    let count = board
        .hub
        .store()
        .transaction(|tx| {
            tx.count_sign_in(
                mailpresence_server::store::SignInBy::Address,
                "nobody@example.test",
                Utc::now(),
            )
        })
        .unwrap();
    assert_eq!(count, 1, "no earlier request for nobody's address was kept");
}

#[test]
fn behind_a_proxy_one_ipv6_64_is_one_source() {
    let board = start_with(WebConfig {
        user_header: None,
        link_requests_per_ip_hour: 2,
        ..web_config(vec!["127.0.0.1".parse().unwrap()])
    });
    let ask = |who: &str, forwarded: &str| {
        request(
            &board,
            "POST",
            "/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Forwarded-For", forwarded),
            ],
            &format!("address={who}%40example.test"),
        );
        link_in_outbox(&board, &format!("{who}@example.test")).is_some()
    };
    assert!(ask("tanaka", "2001:db8:1:2::1"));
    assert!(ask("sato", "2001:db8:1:2::2"));
    assert!(
        !ask("suzuki", "2001:db8:1:2:ffff::3"),
        "a third request from the same /64"
    );
    assert!(
        ask("kato", "2001:db8:1:3::1"),
        "another /64 is another source"
    );
}

/// Reads a stream until the server ends its answer (the last chunk), or
/// `within` passes; whether it ended.
fn stream_ends_within(stream: &mut TcpStream, so_far: &str, within: Duration) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let mut seen = so_far.as_bytes().to_vec();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < within {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
        if seen.windows(5).any(|w| w == b"0\r\n\r\n") {
            return true;
        }
    }
    false
}

#[test]
fn signing_out_ends_the_sessions_open_stream_at_once() {
    let board = start(vec![]);
    let cookie = sign_in(&board, "sato");
    let csrf = board_json(&board, &cookie)["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut stream, head) = open_stream(&board, &cookie, None);
    let out = request(
        &board,
        "POST",
        "/logout",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    );
    assert_eq!(out.status, 204, "{}", out.body);
    // Nothing is published meanwhile: the board is quiet.
    assert!(
        stream_ends_within(&mut stream, &head, Duration::from_secs(3)),
        "the stream outlived its session"
    );
}

#[test]
fn an_expired_sessions_stream_ends_within_the_check_interval() {
    let board = start_checking_sessions_every(web_config(vec![]), Duration::from_millis(300));
    let cookie = sign_in(&board, "sato");
    let (mut stream, head) = open_stream(&board, &cookie, None);
    assert!(
        !stream_ends_within(&mut stream, &head, Duration::from_secs(1)),
        "a live session's stream stays open"
    );
    // The session's time is up (its record expires, as after session_hours).
    let token = cookie.split_once('=').unwrap().1;
    let key: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    board
        .hub
        .store()
        .transaction(|tx| tx.delete_record("web-session", &key))
        .unwrap();
    assert!(
        stream_ends_within(&mut stream, "", Duration::from_secs(3)),
        "the stream outlived its session"
    );
}

#[test]
fn a_proxy_users_stream_ends_and_comes_back_through_the_proxy() {
    let board = start_checking_sessions_every(
        web_config(vec!["127.0.0.1".parse().unwrap()]),
        Duration::from_millis(100),
    );
    let mut stream = TcpStream::connect(board.address).unwrap();
    write!(
        stream,
        "GET /api/events HTTP/1.1\r\nHost: board.example.test\r\nX-Remote-User: sato\r\n\r\n"
    )
    .unwrap();
    let head = read_stream(&mut stream, "\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Ten checks of 100 ms: the proxy is asked again within seconds.
    assert!(
        stream_ends_within(&mut stream, &head, Duration::from_secs(5)),
        "a proxy user's stream is never checked again"
    );
}
