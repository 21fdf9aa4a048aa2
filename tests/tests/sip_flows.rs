//! The seed's two cross-medium flows end to end, with real processes: the
//! server, SIPp as the desk phone, Postfix and Dovecot for the field phone's
//! mail. Figure 2: a field worker's Publish mail reaches a SIP watcher as a
//! NOTIFY. Figure 3: a desk phone's PUBLISH reaches a mail watcher as a Notify
//! mail. Both in both orders; then the SIP protocol's answers to bad requests.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mailpresence_e2e::{RawSip, World, header, presence_messages, sipp_passed, wait_until};
use mailpresence_protocol::mail::{PresenceMessage, Publish, Subscribe, SubscribeMode};
use mailpresence_protocol::model::{
    Activity, ActivityToken, PresenceFields, ScheduleEntry, ScheduleTime, parse_timestamp,
};

const HOP: Duration = Duration::from_secs(15);

/// What the field worker publishes; the SIPp watch scenarios check for it.
fn field_presence(world: &World) -> PresenceFields {
    let mut f = PresenceFields::new(
        world.mail_of("tanaka"),
        Activity::parse("on-site — 設備点検中").unwrap(),
    );
    f.location = Some("東京都千代田区丸の内一丁目".into());
    f.schedule = vec![ScheduleEntry::parse("15:00 帰社予定")];
    f.updated = Some(parse_timestamp("2026-11-26T13:05:00+09:00").unwrap());
    f
}

async fn field_worker_publishes(world: &World) {
    let publish = PresenceMessage::Publish(Publish {
        publisher: "tanaka".parse().unwrap(),
        presence: field_presence(world),
    });
    world
        .send_presence(&world.mail_of("tanaka"), &publish)
        .await;
}

async fn field_worker_subscribes_to(world: &World, notifier: &str) {
    let subscribe = PresenceMessage::Subscribe(Subscribe {
        watcher: "tanaka".parse().unwrap(),
        notifiers: vec![notifier.parse().unwrap()],
        send_to: world.mail_of("tanaka"),
        mode: SubscribeMode::Once,
        expires: None,
    });
    world
        .send_presence(&world.mail_of("tanaka"), &subscribe)
        .await;
}

fn handled(world: &World) -> u64 {
    world.status()["mails_handled"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn figure_2_publish_mail_then_sip_subscribe() {
    let world = World::new(&["tanaka:field", "sato:desk"]).with_sip();
    let server = world.start_server();
    field_worker_publishes(&world).await;
    assert!(
        wait_until(HOP, || async { handled(&world) == 1 }).await,
        "{}",
        server.log_text()
    );
    let (ok, err) = sipp_passed(world.sipp("watch_after_publish.xml", "tanaka", "sato", &[])).await;
    assert!(
        ok,
        "SIPp watcher: {err}\n{}\n{}",
        world.sipp_errors(),
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn figure_2_sip_subscribe_then_publish_mail() {
    let world = World::new(&["tanaka:field", "sato:desk"]).with_sip();
    let server = world.start_server();
    let sipp = world.sipp("watch_before_publish.xml", "tanaka", "sato", &[]);
    assert!(
        wait_until(HOP, || async { world.status()["open_watches"] == 1 }).await,
        "{}",
        server.log_text()
    );
    field_worker_publishes(&world).await;
    let (ok, err) = sipp_passed(sipp).await;
    assert!(
        ok,
        "SIPp watcher: {err}\n{}\n{}",
        world.sipp_errors(),
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn figure_2_over_tcp() {
    let world = World::new(&["tanaka:field", "sato:desk"]).with_sip();
    let server = world.start_server();
    field_worker_publishes(&world).await;
    assert!(wait_until(HOP, || async { handled(&world) == 1 }).await);
    let (ok, err) =
        sipp_passed(world.sipp("watch_after_publish.xml", "tanaka", "sato", &["-t", "t1"])).await;
    assert!(
        ok,
        "SIPp watcher over TCP: {err}\n{}\n{}",
        world.sipp_errors(),
        server.log_text()
    );
}

/// The desk colleague's presence as the field worker's phone reads it.
async fn notify_mail_for_tanaka(world: &World) -> PresenceFields {
    let mut inbox = world.mailbox(&world.mail_of("tanaka")).await;
    let mails = inbox.wait_for(1, HOP).await;
    match presence_messages(&mails).pop() {
        Some((_, PresenceMessage::Notify(n))) => {
            assert_eq!(n.notifier.as_str(), "yamada");
            n.presence
        }
        other => panic!("no Notify mail: {other:?}"),
    }
}

fn assert_desk_fields(p: &PresenceFields, world: &World) {
    assert_eq!(p.activity.token, Some(ActivityToken::Meeting));
    assert_eq!(p.activity.text.as_deref(), Some("部長会議"));
    assert_eq!(p.contact, format!("sip:yamada@{}", world.servers.domain));
    assert_eq!(
        p.updated,
        Some(parse_timestamp("2026-11-26T12:58:00+09:00").unwrap())
    );
    let plan = p.schedule.first().expect("a plan");
    assert_eq!(
        plan.start,
        Some(ScheduleTime::Instant(
            parse_timestamp("2026-11-26T13:00:00+09:00").unwrap()
        ))
    );
    assert_eq!(
        plan.end,
        Some(ScheduleTime::Instant(
            parse_timestamp("2026-11-26T15:00:00+09:00").unwrap()
        ))
    );
    assert_eq!(plan.text, "部長会議");
}

#[tokio::test(flavor = "multi_thread")]
async fn figure_3_sip_publish_then_subscribe_mail() {
    let world = World::new(&["tanaka:field", "yamada:desk"]).with_sip();
    let server = world.start_server();
    let (ok, err) = sipp_passed(world.sipp("publish.xml", "yamada", "yamada", &[])).await;
    assert!(
        ok,
        "SIPp publisher: {err}\n{}\n{}",
        world.sipp_errors(),
        server.log_text()
    );
    field_worker_subscribes_to(&world, "yamada").await;
    let p = notify_mail_for_tanaka(&world).await;
    assert_desk_fields(&p, &world);
}

#[tokio::test(flavor = "multi_thread")]
async fn figure_3_subscribe_mail_then_sip_publish() {
    let world = World::new(&["tanaka:field", "yamada:desk"]).with_sip();
    let server = world.start_server();
    field_worker_subscribes_to(&world, "yamada").await;
    assert!(
        wait_until(HOP, || async { world.status()["pending_requests"] == 1 }).await,
        "{}",
        server.log_text()
    );
    let (ok, err) = sipp_passed(world.sipp("publish.xml", "yamada", "yamada", &[])).await;
    assert!(ok, "SIPp publisher: {err}\n{}", world.sipp_errors());
    let p = notify_mail_for_tanaka(&world).await;
    assert_desk_fields(&p, &world);
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_trusted_networks_only_the_right_password_gets_in() {
    let mut world = World::new(&["yamada", "sato"]).with_sip();
    world.sip_trusted = String::new();
    // Debian's SIPp (3.6) reads only the first challenge and knows only MD5.
    world.sip_extra = "digest_algorithms = [\"MD5\"]".into();
    world.staff[0].sip_password = Some("kaigi-2026".into());
    let _server = world.start_server();
    // SIPp's digest uri is its remote address unless told; the server wants
    // the Request-URI, which the scenario makes the person's address.
    let aor = format!("yamada@{}", world.servers.domain);
    let (ok, err) = sipp_passed(world.sipp(
        "publish_auth.xml",
        "yamada",
        "yamada",
        &["-au", "yamada", "-ap", "kaigi-2026", "-auth_uri", &aor],
    ))
    .await;
    assert!(ok, "right password: {err}\n{}", world.sipp_errors());
    let (ok, _) = sipp_passed(world.sipp(
        "publish_auth.xml",
        "yamada",
        "yamada",
        &["-au", "yamada", "-ap", "guess", "-auth_uri", &aor],
    ))
    .await;
    assert!(!ok, "a wrong password is refused");
    let (ok, _) = sipp_passed(world.sipp(
        "publish_auth.xml",
        "yamada",
        "yamada",
        &["-au", "yamada", "-ap", "kaigi-2026"],
    ))
    .await;
    assert!(!ok, "the right password for another URI is refused");
    let raw = RawSip::new(world.sip_addr()).await;
    raw.send_text(&publish_text(
        &raw,
        "yamada",
        "PUBLISH",
        "presence",
        Some(("application/pidf+xml", MINIMAL_PIDF)),
        "",
    ))
    .await;
    assert_eq!(raw.status().await, Some(401), "no credentials, no publish");
    // sato has no password: from outside the trusted networks he cannot prove
    // who he is, so he may neither publish nor watch.
    raw.send_text(&publish_text(
        &raw,
        "sato",
        "PUBLISH",
        "presence",
        Some(("application/pidf+xml", MINIMAL_PIDF)),
        "",
    ))
    .await;
    assert_eq!(raw.status().await, Some(403), "no password, not trusted");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_challenge_offers_sha_256_alone_so_no_one_is_talked_down_to_md5() {
    let mut world = World::new(&["yamada"]).with_sip();
    world.sip_trusted = String::new();
    world.staff[0].sip_password = Some("kaigi-2026".into());
    let _server = world.start_server();
    let raw = RawSip::new(world.sip_addr()).await;
    raw.send_text(&publish_text(
        &raw,
        "yamada",
        "PUBLISH",
        "presence",
        Some(("application/pidf+xml", MINIMAL_PIDF)),
        "",
    ))
    .await;
    let answer = raw.recv(Duration::from_secs(3)).await.expect("401");
    let challenges: Vec<&str> = answer
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
        .collect();
    assert_eq!(challenges.len(), 1, "{answer}");
    assert!(challenges[0].contains("algorithm=SHA-256"), "{answer}");
}

/// The PBX's address is believed over TCP, where the handshake proved it; a
/// UDP datagram claiming to come from it is the sender's word alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_network_is_believed_over_tcp_but_not_over_udp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut world = World::new(&["yamada"]).with_sip();
    world.sip_trusted_over_udp = false;
    let server = world.start_server();
    let raw = RawSip::new(world.sip_addr()).await;
    let pidf = Some(("application/pidf+xml", MINIMAL_PIDF));
    raw.send_text(&publish_text(
        &raw, "yamada", "PUBLISH", "presence", pidf, "",
    ))
    .await;
    assert_eq!(
        raw.status().await,
        Some(403),
        "from loopback over UDP, without a password: not believed\n{}",
        server.log_text()
    );
    let mut tcp = tokio::net::TcpStream::connect(world.sip_addr())
        .await
        .expect("the SIP TCP listener");
    let text = publish_text(&raw, "yamada", "PUBLISH", "presence", pidf, "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
        .replace('\n', "\r\n");
    tcp.write_all(text.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut answer))
        .await
        .expect("an answer over TCP")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(
        answer.starts_with("SIP/2.0 200"),
        "over TCP from the trusted network: believed\n{answer}\n{}",
        server.log_text()
    );
}

const MINIMAL_PIDF: &str = r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:x@example.test"><tuple id="a"><status><basic>open</basic></status></tuple></presence>"#;

fn publish_text(
    raw: &RawSip,
    user: &str,
    method: &str,
    event: &str,
    body: Option<(&str, &str)>,
    extra: &str,
) -> String {
    let (ctype, body) = body.unwrap_or(("", ""));
    let ctype = if ctype.is_empty() {
        String::new()
    } else {
        format!("Content-Type: {ctype}\n")
    };
    format!(
        "{method} sip:{user}@example.test SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{n};rport\nFrom: <sip:{user}@example.test>;tag=t{n}\nTo: <sip:{user}@example.test>\nCall-ID: c{n}@test\nCSeq: 1 {method}\nEvent: {event}\n{extra}{ctype}Content-Length: {len}\n\n{body}",
        port = raw.port(),
        n = rand_n(),
        len = body.len()
    )
}

fn rand_n() -> String {
    mailpresence_e2e::tag()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_the_right_answers() {
    let world = World::new(&["yamada", "sato"]).with_sip();
    let server = world.start_server();
    let raw = RawSip::new(world.sip_addr()).await;
    let pidf = Some(("application/pidf+xml", MINIMAL_PIDF));
    let cases: Vec<(String, u16, &str)> = vec![
        (
            publish_text(&raw, "yamada", "PUBLISH", "dialog", pidf, ""),
            489,
            "wrong event",
        ),
        (
            publish_text(
                &raw,
                "yamada",
                "PUBLISH",
                "presence",
                Some(("text/plain", "in a meeting")),
                "",
            ),
            415,
            "unsupported body",
        ),
        (
            publish_text(
                &raw,
                "yamada",
                "PUBLISH",
                "presence",
                Some(("application/pidf+xml", "<presence><tuple>")),
                "",
            ),
            400,
            "broken XML",
        ),
        (
            publish_text(&raw, "nobody", "PUBLISH", "presence", pidf, ""),
            404,
            "unknown user",
        ),
        (
            publish_text(
                &raw,
                "yamada",
                "PUBLISH",
                "presence",
                None,
                "SIP-If-Match: no-such-etag\n",
            ),
            412,
            "unknown ETag",
        ),
        (
            publish_text(&raw, "yamada", "PUBLISH", "presence", pidf, "Expires: 10\n"),
            423,
            "too brief",
        ),
        (
            publish_text(&raw, "yamada", "OPTIONS", "presence", None, ""),
            200,
            "OPTIONS",
        ),
        (
            publish_text(&raw, "yamada", "INVITE", "presence", None, ""),
            405,
            "not a presence method",
        ),
        (
            publish_text(&raw, "yamada", "SUBSCRIBE", "dialog", None, ""),
            489,
            "wrong event on SUBSCRIBE",
        ),
        (
            publish_text(&raw, "yamada", "PUBLISH", "presence", pidf, "")
                .replace("CSeq: 1 PUBLISH", "CSeq: x PUBLISH"),
            400,
            "broken CSeq",
        ),
        (
            publish_text(&raw, "yamada", "PUBLISH", "presence", pidf, "")
                .replace("Content-Length: ", "Content-Length: 9"),
            400,
            "Content-Length past the end",
        ),
    ];
    for (text, want, what) in cases {
        raw.send_text(&text).await;
        assert_eq!(
            raw.status().await,
            Some(want),
            "{what}\n{}",
            server.log_text()
        );
    }
    // A SUBSCRIBE from someone outside the directory, and one for someone unknown.
    let foreign = publish_text(&raw, "yamada", "SUBSCRIBE", "presence", None, "")
        .replace("From: <sip:yamada@", "From: <sip:stranger@");
    raw.send_text(&foreign).await;
    assert_eq!(raw.status().await, Some(403));
    // The server still works.
    raw.send_text(&publish_text(
        &raw, "yamada", "PUBLISH", "presence", pidf, "",
    ))
    .await;
    let ok = raw.recv(Duration::from_secs(2)).await.unwrap_or_default();
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert!(header(&ok, "SIP-ETag").is_some_and(|e| !e.is_empty()));
    assert!(
        header(&ok, "Via")
            .is_some_and(|v| v.contains(&format!("rport={}", raw.port()))
                && v.contains("received=127.0.0.1")),
        "{ok}"
    );
}
