//! Signing in with a mailed link: single use, expiring, the same answer for
//! every address; one link mail per person per gap, however often and by
//! whomever asked; limits per source (an IPv6 /64 is one), the forwarded
//! address behind a proxy; and a flood of requests that leaves the board
//! and the hub prompt.

use super::*;

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
    let link = mailed_link(&board, "sato@example.test").unwrap();
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
    assert_eq!(
        link_mails_to(&board, "tanaka@example.test"),
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
        mailed_link(&board, &format!("{who}@example.test")).is_some()
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
    assert_eq!(
        link_mails_to(&board, "tanaka@example.test"),
        1,
        "one link mail within a few minutes, however often asked"
    );
    // The link already sent still signs him in.
    let link = mailed_link(&board, "tanaka@example.test").unwrap();
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
        mailed_link(&board, &format!("{who}@example.test")).is_some()
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

#[test]
fn the_answer_does_not_wait_for_the_store_so_its_time_tells_nothing() {
    let board = start(vec![]);
    let started = Instant::now();
    let answer = {
        // The store busy with something long (a burst's commit).
        let _busy = board.hub.store();
        request(
            &board,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "address=tanaka%40example.test",
        )
    };
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a registered address's answer waited {:?} for the store",
        started.elapsed()
    );
    assert!(
        mailed_link(&board, "tanaka@example.test").is_some(),
        "the link is queued once the store is free"
    );
}
