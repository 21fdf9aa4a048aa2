//! The board's live stream: only the changes a viewer may see, resuming
//! after a drop, bounded per person, and ended with the session (signed
//! out, expired) or, for a proxy user, handed back to the proxy.

use super::*;

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
