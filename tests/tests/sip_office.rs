//! The SIP side as an office LAN uses it: phones that register first, people
//! with two devices, answers that carry what RFC 3261 asks of them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mailpresence_e2e::{RawSip, World, header, sipp_passed, wait_until};

fn request(raw: &RawSip, method: &str, user: &str, extra: &str, body: &str) -> String {
    format!(
        "{method} sip:{user}@example.test SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{n};rport\nFrom: <sip:{user}@example.test>;tag=f{n}\nTo: <sip:{user}@example.test>\nCall-ID: c{n}@test\nCSeq: 1 {method}\n{extra}Content-Length: {len}\n\n{body}",
        port = raw.port(),
        n = mailpresence_e2e::tag(),
        len = body.len()
    )
}

fn pidf(user: &str, note: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:{user}@example.test"><tuple id="a"><status><basic>open</basic></status></tuple><dm:person id="p"><dm:note>{note}</dm:note></dm:person></presence>"#
    )
}

fn publish(raw: &RawSip, user: &str, note: &str, expires: u32) -> String {
    request(
        raw,
        "PUBLISH",
        user,
        &format!("Event: presence\nExpires: {expires}\nContent-Type: application/pidf+xml\n"),
        &pidf(user, note),
    )
}

async fn answer(raw: &RawSip) -> String {
    raw.recv(Duration::from_secs(3)).await.expect("an answer")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_final_answer_carries_a_to_tag() {
    let world = World::new(&["yamada"]).with_sip();
    let _server = world.start_server();
    let raw = RawSip::new(world.sip_addr()).await;
    let cases = [
        (publish(&raw, "yamada", "在席", 600), "200"),
        (request(&raw, "OPTIONS", "yamada", "", ""), "200"),
        (
            request(
                &raw,
                "REGISTER",
                "yamada",
                "Contact: <sip:yamada@127.0.0.1:5999>\n",
                "",
            ),
            "405",
        ),
        (
            request(&raw, "PUBLISH", "yamada", "Event: dialog\n", ""),
            "489",
        ),
        (
            request(&raw, "PUBLISH", "nobody", "Event: presence\n", ""),
            "404",
        ),
    ];
    for (req, code) in cases {
        raw.send_text(&req).await;
        let a = answer(&raw).await;
        assert!(a.starts_with(&format!("SIP/2.0 {code}")), "{a}");
        assert!(
            header(&a, "To").is_some_and(|t| t.contains(";tag=")),
            "RFC 3261 §8.2.6.2: {a}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_publication_never_hides_a_live_one_of_the_same_person() {
    let mut world = World::new(&["yamada", "sato"]).with_sip();
    world.sip_extra = "min_expires = 1".into();
    let _server = world.start_server();
    let desk_phone = RawSip::new(world.sip_addr()).await;
    let softphone = RawSip::new(world.sip_addr()).await;
    desk_phone
        .send_text(&publish(&desk_phone, "yamada", "デスクで在席", 600))
        .await;
    assert_eq!(desk_phone.status().await, Some(200));
    // The softphone publishes later, briefly, and then stops refreshing.
    softphone
        .send_text(&publish(&softphone, "yamada", "ソフトフォンで通話中", 2))
        .await;
    assert_eq!(softphone.status().await, Some(200));
    assert!(
        wait_until(Duration::from_secs(2), || async {
            presence_note(&world, "yamada")
                .await
                .contains("ソフトフォンで通話中")
        })
        .await
    );
    // Once it has expired, the desk phone's live publication is yamada's presence,
    // not "offline".
    assert!(
        wait_until(Duration::from_secs(6), || async {
            presence_note(&world, "yamada")
                .await
                .contains("デスクで在席")
        })
        .await,
        "after the softphone's publication expired: {}",
        presence_note(&world, "yamada").await
    );
}

/// What sato's desk phone is told of `account` now: a fetch (SUBSCRIBE with
/// Expires 0) and the body of its one NOTIFY.
async fn presence_note(world: &World, account: &str) -> String {
    let watcher = RawSip::new(world.sip_addr()).await;
    let fetch = format!(
        "SUBSCRIBE sip:{account}@example.test SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{n};rport\nFrom: <sip:sato@example.test>;tag=f{n}\nTo: <sip:{account}@example.test>\nCall-ID: f{n}@test\nCSeq: 1 SUBSCRIBE\nContact: <sip:sato@127.0.0.1:{port}>\nEvent: presence\nExpires: 0\nContent-Length: 0\n\n",
        port = watcher.port(),
        n = mailpresence_e2e::tag()
    );
    watcher.send_text(&fetch).await;
    while let Some(m) = watcher.recv(Duration::from_secs(2)).await {
        if m.starts_with("NOTIFY") {
            return m;
        }
    }
    String::new()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_registers_with_its_password_when_the_server_is_the_registrar() {
    let mut world = World::new(&["yamada"]).with_sip();
    world.sip_trusted = String::new();
    // Debian's SIPp (3.6) reads only the first challenge and knows only MD5.
    world.sip_extra = "registrar = true\ndigest_algorithms = [\"MD5\"]".into();
    world.staff[0].sip_password = Some("kaigi-2026".into());
    let _server = world.start_server();
    // The digest uri is the REGISTER's Request-URI: the domain.
    let domain = world.servers.domain.clone();
    let (ok, err) = sipp_passed(world.sipp(
        "register_auth.xml",
        "yamada",
        "yamada",
        &["-au", "yamada", "-ap", "kaigi-2026", "-auth_uri", &domain],
    ))
    .await;
    assert!(ok, "right password: {err}\n{}", world.sipp_errors());
    let (ok, _) = sipp_passed(world.sipp(
        "register_auth.xml",
        "yamada",
        "yamada",
        &["-au", "yamada", "-ap", "guess", "-auth_uri", &domain],
    ))
    .await;
    assert!(!ok, "a wrong password registers nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_outlive_a_restart_and_go_when_withdrawn() {
    let mut world = World::new(&["yamada"]).with_sip();
    world.sip_extra = "registrar = true".into();
    let mut server = world.start_server();
    let phone = RawSip::new(world.sip_addr()).await;
    let contact = format!("<sip:yamada@127.0.0.1:{}>", phone.port());
    phone
        .send_text(&request(
            &phone,
            "REGISTER",
            "yamada",
            &format!("Contact: {contact}\nExpires: 600\n"),
            "",
        ))
        .await;
    let a = answer(&phone).await;
    assert!(a.starts_with("SIP/2.0 200"), "{a}");
    assert!(a.contains(&format!("Contact: {contact};expires=")), "{a}");

    server.restart();
    // A query (no Contact) lists what is bound: still there after the crash.
    phone
        .send_text(&request(&phone, "REGISTER", "yamada", "", ""))
        .await;
    let a = answer(&phone).await;
    assert!(a.contains(&format!("Contact: {contact};expires=")), "{a}");

    phone
        .send_text(&request(
            &phone,
            "REGISTER",
            "yamada",
            "Contact: *\nExpires: 0\n",
            "",
        ))
        .await;
    let a = answer(&phone).await;
    assert!(a.starts_with("SIP/2.0 200"), "{a}");
    assert!(header(&a, "Contact").is_none(), "all bindings gone: {a}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_sent_again_gets_the_same_answer_and_is_handled_once() {
    // Over UDP a phone whose 200 OK was lost sends the same PUBLISH again
    // (same branch); it must get the same answer, not a second publication.
    let world = World::new(&["yamada"]).with_sip();
    let _server = world.start_server();
    let phone = RawSip::new(world.sip_addr()).await;
    let once = publish(&phone, "yamada", "在席", 600);
    phone.send_text(&once).await;
    let first = answer(&phone).await;
    phone.send_text(&once).await;
    let again = answer(&phone).await;
    assert!(first.starts_with("SIP/2.0 200"), "{first}");
    assert_eq!(
        again, first,
        "the very same answer, ETag and To-tag included"
    );
    assert!(header(&first, "SIP-ETag").is_some(), "{first}");
}
