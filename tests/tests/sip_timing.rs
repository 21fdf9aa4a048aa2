//! SIP behaviour over time, with a bare UDP watcher whose answers the test
//! controls: NOTIFY retransmission, dropping a watcher that stays silent,
//! coalescing of quick changes, expiry.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use mailpresence_e2e::{RawSip, World, header, wait_until};

fn subscribe(
    raw: &RawSip,
    watcher: &str,
    presentity: &str,
    expires: u32,
    to_tag: Option<&str>,
    cseq: u32,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "SUBSCRIBE sip:{presentity}@example.test SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKs{cseq}{n};rport\nFrom: <sip:{watcher}@example.test>;tag=w1\nTo: <sip:{presentity}@example.test>{to_tag}\nCall-ID: sub-{port}@test\nCSeq: {cseq} SUBSCRIBE\nContact: <sip:{watcher}@127.0.0.1:{port}>\nEvent: presence\nExpires: {expires}\nContent-Length: 0\n\n",
        port = raw.port(),
        n = mailpresence_e2e::tag()
    )
}

fn publish(raw: &RawSip, who: &str, note: &str) -> String {
    let body = format!(
        r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:{who}@example.test"><tuple id="a"><status><basic>open</basic></status></tuple><dm:person id="p"><dm:note>{note}</dm:note></dm:person></presence>"#
    );
    format!(
        "PUBLISH sip:{who}@example.test SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKp{n};rport\nFrom: <sip:{who}@example.test>;tag=p{n}\nTo: <sip:{who}@example.test>\nCall-ID: pub{n}@test\nCSeq: 1 PUBLISH\nEvent: presence\nExpires: 600\nContent-Type: application/pidf+xml\nContent-Length: {len}\n\n{body}",
        port = raw.port(),
        n = mailpresence_e2e::tag(),
        len = body.len()
    )
}

/// The 200 OK for a NOTIFY (or any request) we received.
fn ok_for(request: &str) -> String {
    let copy = |name: &str| format!("{name}: {}\n", header(request, name).unwrap_or_default());
    format!(
        "SIP/2.0 200 OK\n{}{}{}{}{}Content-Length: 0\n\n",
        copy("Via"),
        copy("From"),
        copy("To"),
        copy("Call-ID"),
        copy("CSeq")
    )
}

/// Subscribes and answers the first, body-less NOTIFY. Returns the server's tag.
async fn subscribed(watcher: &RawSip, presentity: &str, expires: u32) -> String {
    watcher
        .send_text(&subscribe(watcher, "sato", presentity, expires, None, 1))
        .await;
    let ok = watcher
        .recv(Duration::from_secs(2))
        .await
        .expect("200 to SUBSCRIBE");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let tag = header(&ok, "To")
        .and_then(|t| t.split("tag=").nth(1))
        .expect("To tag")
        .to_owned();
    let first = watcher
        .recv(Duration::from_secs(2))
        .await
        .expect("first NOTIFY");
    assert!(first.starts_with("NOTIFY"), "{first}");
    watcher.send_text(&ok_for(&first)).await;
    tag
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unanswered_notify_is_retransmitted_then_the_watcher_dropped() {
    let mut world = World::new(&["yamada", "sato"]).with_sip();
    world.sip_extra = "notify_timeout_secs = 4".into();
    let server = world.start_server();
    let watcher = RawSip::new(world.sip_addr()).await;
    subscribed(&watcher, "yamada", 600).await;
    assert_eq!(world.status()["open_watches"], 1);

    let phone = RawSip::new(world.sip_addr()).await;
    phone.send_text(&publish(&phone, "yamada", "外出中")).await;
    assert_eq!(phone.status().await, Some(200));
    // The watcher stays silent: the same NOTIFY comes again after 0.5 s, 1 s, 2 s …
    let first = watcher.recv(Duration::from_secs(2)).await.expect("NOTIFY");
    let started = Instant::now();
    let again = watcher
        .recv(Duration::from_secs(2))
        .await
        .expect("retransmission");
    let gap = started.elapsed();
    assert_eq!(
        header(&again, "Via"),
        header(&first, "Via"),
        "same transaction"
    );
    assert_eq!(header(&again, "CSeq"), header(&first, "CSeq"));
    assert!(
        gap >= Duration::from_millis(300) && gap <= Duration::from_millis(1500),
        "retransmitted after {gap:?}"
    );
    assert!(first.contains("外出中"));
    // Still silent: after notify_timeout_secs the watcher is dropped.
    assert!(
        wait_until(Duration::from_secs(8), || async {
            world.status()["open_watches"] == 0
        })
        .await,
        "{}",
        server.log_text()
    );
    assert!(
        server
            .log_text()
            .contains("does not answer NOTIFY; dropped")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quick_changes_are_coalesced_to_one_notify_per_sip_interval_not_the_mail_one() {
    let mut world = World::new(&["yamada", "sato"]).with_sip();
    // Mail watchers would wait ten minutes; desk phones have their own throttle.
    world.policy = "notify_interval_secs = 600\nsip_notify_interval_ms = 2000".into();
    let _server = world.start_server();
    let watcher = RawSip::new(world.sip_addr()).await;
    subscribed(&watcher, "yamada", 600).await;

    let phone = RawSip::new(world.sip_addr()).await;
    for note in ["一", "二", "三", "四", "五"] {
        phone.send_text(&publish(&phone, "yamada", note)).await;
        assert_eq!(phone.status().await, Some(200));
    }
    // Over four seconds: the first change at once, the last after the interval.
    let mut notes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    while let Some(n) = watcher
        .recv(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        if n.starts_with("NOTIFY") {
            watcher.send_text(&ok_for(&n)).await;
            let note = ["一", "二", "三", "四", "五"]
                .into_iter()
                .find(|x| n.contains(&format!("<dm:note>{x}</dm:note>")));
            notes.push(note.unwrap_or("?"));
        }
    }
    assert_eq!(
        notes,
        ["一", "五"],
        "one NOTIFY at once, then one with the latest state"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_ends_with_a_terminated_notify_when_it_expires_or_is_withdrawn() {
    let mut world = World::new(&["yamada", "sato"]).with_sip();
    world.sip_extra = "min_expires = 1".into();
    let _server = world.start_server();
    let watcher = RawSip::new(world.sip_addr()).await;
    subscribed(&watcher, "yamada", 2).await;
    let last = watcher
        .recv(Duration::from_secs(5))
        .await
        .expect("NOTIFY at expiry");
    assert!(
        header(&last, "Subscription-State").is_some_and(|s| s.starts_with("terminated")),
        "{last}"
    );
    watcher.send_text(&ok_for(&last)).await;
    assert!(
        wait_until(Duration::from_secs(3), || async {
            world.status()["open_watches"] == 0
        })
        .await
    );

    // Withdrawn by the watcher: Expires 0 in the dialog.
    let other = RawSip::new(world.sip_addr()).await;
    let tag = subscribed(&other, "yamada", 600).await;
    other
        .send_text(&subscribe(&other, "sato", "yamada", 0, Some(&tag), 2))
        .await;
    assert_eq!(other.status().await, Some(200));
    let end = other
        .recv(Duration::from_secs(2))
        .await
        .expect("final NOTIFY");
    assert!(
        header(&end, "Subscription-State").is_some_and(|s| s.starts_with("terminated")),
        "{end}"
    );
    other.send_text(&ok_for(&end)).await;
    assert!(
        wait_until(Duration::from_secs(3), || async {
            world.status()["open_watches"] == 0
        })
        .await
    );
    // The dialog is gone: a refresh is refused.
    other
        .send_text(&subscribe(&other, "sato", "yamada", 600, Some(&tag), 3))
        .await;
    assert_eq!(other.status().await, Some(481));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fetch_gets_one_notify_and_no_subscription() {
    let world = World::new(&["yamada", "sato"]).with_sip();
    let _server = world.start_server();
    let phone = RawSip::new(world.sip_addr()).await;
    phone
        .send_text(&publish(&phone, "yamada", "在席です"))
        .await;
    assert_eq!(phone.status().await, Some(200));
    let watcher = RawSip::new(world.sip_addr()).await;
    watcher
        .send_text(&subscribe(&watcher, "sato", "yamada", 0, None, 1))
        .await;
    assert_eq!(watcher.status().await, Some(200));
    let n = watcher.recv(Duration::from_secs(2)).await.expect("NOTIFY");
    assert!(n.contains("在席です"), "{n}");
    assert!(header(&n, "Subscription-State").is_some_and(|s| s.starts_with("terminated")));
    watcher.send_text(&ok_for(&n)).await;
    assert_eq!(world.status()["open_watches"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_or_expired_publication_makes_the_person_offline() {
    let mut world = World::new(&["yamada", "kato", "sato"]).with_sip();
    world.sip_extra = "min_expires = 1".into();
    world.policy = "notify_interval_secs = 1".into();
    let server = world.start_server();
    let watcher = RawSip::new(world.sip_addr()).await;
    subscribed(&watcher, "yamada", 600).await;

    let phone = RawSip::new(world.sip_addr()).await;
    phone.send_text(&publish(&phone, "yamada", "在席")).await;
    let ok = phone.recv(Duration::from_secs(2)).await.expect("200");
    let etag = header(&ok, "SIP-ETag").expect("ETag").to_owned();
    let open = watcher.recv(Duration::from_secs(2)).await.expect("NOTIFY");
    assert!(open.contains("<basic>open</basic>"), "{open}");
    watcher.send_text(&ok_for(&open)).await;

    // linphonec's removal: Expires 0, SIP-If-Match, and no Content-Length at all.
    let remove = format!(
        "PUBLISH sip:yamada@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bKrm1;rport\r\nFrom: <sip:yamada@example.test>;tag=rm\r\nTo: <sip:yamada@example.test>\r\nCall-ID: rm@test\r\nCSeq: 2 PUBLISH\r\nEvent: presence\r\nExpires: 0\r\nSIP-If-Match: {etag}\r\n\r\n",
        phone.port()
    );
    phone.send_bytes(remove.as_bytes()).await;
    assert_eq!(phone.status().await, Some(200));
    let closed = watcher
        .recv(Duration::from_secs(4))
        .await
        .expect("NOTIFY after removal");
    assert!(closed.contains("<basic>closed</basic>"), "{closed}");
    watcher.send_text(&ok_for(&closed)).await;
    // The old ETag is gone.
    phone
        .send_bytes(
            remove
                .replace("z9hG4bKrm1", "z9hG4bKrm2")
                .replace("CSeq: 2", "CSeq: 3")
                .as_bytes(),
        )
        .await;
    assert_eq!(phone.status().await, Some(412), "{}", server.log_text());

    // A publication that is not refreshed runs out the same way.
    let kato_watcher = RawSip::new(world.sip_addr()).await;
    subscribed(&kato_watcher, "kato", 600).await;
    let kato = RawSip::new(world.sip_addr()).await;
    kato.send_text(&publish(&kato, "kato", "外出").replace("Expires: 600", "Expires: 1"))
        .await;
    assert_eq!(kato.status().await, Some(200));
    let first = kato_watcher
        .recv(Duration::from_secs(2))
        .await
        .expect("NOTIFY");
    kato_watcher.send_text(&ok_for(&first)).await;
    let expired = kato_watcher
        .recv(Duration::from_secs(5))
        .await
        .expect("NOTIFY at expiry");
    assert!(expired.contains("<basic>closed</basic>"), "{expired}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watcher_that_never_answered_gets_no_retransmissions() {
    // A SUBSCRIBE with a forged source address makes the server send a NOTIFY
    // to someone who never asked: that one NOTIFY goes, nothing more.
    let world = World::new(&["yamada", "sato"]).with_sip();
    let _server = world.start_server();
    let victim = RawSip::new(world.sip_addr()).await;
    victim
        .send_text(&subscribe(&victim, "sato", "yamada", 600, None, 1))
        .await;
    let ok = victim.recv(Duration::from_secs(2)).await.expect("200");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let first = victim.recv(Duration::from_secs(2)).await.expect("NOTIFY");
    assert!(first.starts_with("NOTIFY"), "{first}");
    // Unanswered: with retransmission it would come again after 0.5 s, 1 s, 2 s.
    let again = victim.recv(Duration::from_millis(3_600)).await;
    assert!(again.is_none(), "resent to a silent source: {again:?}");
}
