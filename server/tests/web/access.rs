//! Who may change and reach the board: the page's CSRF token and Origin on
//! every change, the single sign-on header only from the proxy, HTTPS with
//! HSTS, a deadline on slow bodies, and connections bounded per address.

use super::*;

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

/// A save made on the form as it was before a change elsewhere (a desk
/// phone) is refused with the newer row; one made on the newer row is kept.
#[test]
fn a_save_on_an_older_state_is_refused_with_the_newer_one() {
    let board = start(vec![]);
    let cookie = sign_in(&board, "sato");
    let loaded = board_json(&board, &cookie);
    let csrf = loaded["csrf"].as_str().unwrap().to_owned();
    let version = loaded["me"]["version"].as_str().unwrap_or("").to_owned();
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/json"),
        ("X-CSRF-Token", csrf.as_str()),
    ];
    let save = |version: &str, note: &str| {
        let body = serde_json::json!({ "state": "available", "note": note, "version": version });
        request(&board, "POST", "/api/me", &headers, &body.to_string())
    };
    let first = save(&version, "在席");
    assert_eq!(first.status, 200, "{}", first.body);
    let first: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    let seen = first["version"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(5));
    // The desk phone says 会議中 meanwhile.
    publish(&board, "sato", ActivityToken::Meeting, None);
    let stale = save(&seen, "戻りました");
    assert_eq!(stale.status, 409, "{}", stale.body);
    let answer: serde_json::Value = serde_json::from_str(&stale.body).unwrap();
    assert_eq!(answer["current"]["state"], "meeting", "{answer}");
    let sato: mailpresence_protocol::model::AccountName = "sato".parse().unwrap();
    let stored = board.hub.store().transaction(|tx| tx.presence(&sato));
    let stored = stored.unwrap().unwrap();
    assert_eq!(
        stored.fields.activity.token,
        Some(ActivityToken::Meeting),
        "the older save was not put back"
    );
    let newer = answer["current"]["version"].as_str().unwrap();
    assert_ne!(newer, seen);
    let again = save(newer, "戻りました");
    assert_eq!(again.status, 200, "{}", again.body);
}
