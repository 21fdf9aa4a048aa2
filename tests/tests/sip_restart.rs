//! SIP subscriptions across a restart of the server: desk phones must go on
//! seeing their colleagues' changes without anyone touching them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mailpresence_e2e::{RawSip, ServerProcess, World, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn subscribe(raw_port: u16, transport: &str, expires: u32) -> String {
    format!(
        "SUBSCRIBE sip:yamada@example.test SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.1:{raw_port};branch=z9hG4bKs{n};rport\r\nFrom: <sip:sato@example.test>;tag=w1\r\nTo: <sip:yamada@example.test>\r\nCall-ID: sub-{n}@test\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:sato@127.0.0.1:{raw_port}>\r\nEvent: presence\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n",
        n = mailpresence_e2e::tag()
    )
}

fn publish(raw: &RawSip, note: &str) -> String {
    let body = format!(
        r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:yamada@example.test"><tuple id="a"><status><basic>open</basic></status></tuple><dm:person id="p"><dm:note>{note}</dm:note></dm:person></presence>"#
    );
    format!(
        "PUBLISH sip:yamada@example.test SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKp{n};rport\nFrom: <sip:yamada@example.test>;tag=p{n}\nTo: <sip:yamada@example.test>\nCall-ID: pub{n}@test\nCSeq: 1 PUBLISH\nEvent: presence\nExpires: 600\nContent-Type: application/pidf+xml\nContent-Length: {len}\n\n{body}",
        port = raw.port(),
        n = mailpresence_e2e::tag(),
        len = body.len()
    )
}

fn ok_for(request: &str) -> String {
    let copy = |name: &str| format!("{name}: {}\r\n", header(request, name).unwrap_or_default());
    format!(
        "SIP/2.0 200 OK\r\n{}{}{}{}{}Content-Length: 0\r\n\r\n",
        copy("Via"),
        copy("From"),
        copy("To"),
        copy("Call-ID"),
        copy("CSeq")
    )
}

fn cseq(message: &str) -> u32 {
    header(message, "CSeq")
        .and_then(|c| c.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits for the next NOTIFY at `watcher`, answers it, returns it.
async fn next_notify(watcher: &RawSip) -> String {
    loop {
        let m = watcher
            .recv(Duration::from_secs(5))
            .await
            .expect("a NOTIFY");
        if m.starts_with("NOTIFY") {
            watcher.send_bytes(ok_for(&m).as_bytes()).await;
            return m;
        }
    }
}

/// A UDP watcher subscribed to yamada, its first NOTIFY answered.
async fn udp_watcher(world: &World) -> (RawSip, String) {
    let watcher = RawSip::new(world.sip_addr()).await;
    watcher
        .send_bytes(subscribe(watcher.port(), "UDP", 600).as_bytes())
        .await;
    let ok = watcher.recv(Duration::from_secs(2)).await.expect("200");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let first = next_notify(&watcher).await;
    (watcher, first)
}

async fn a_change_reaches_the_watcher_after(restart: impl FnOnce(&mut ServerProcess)) {
    let world = World::new(&["yamada", "sato"]).with_sip();
    let mut server = world.start_server();
    let (watcher, first) = udp_watcher(&world).await;
    restart(&mut server);
    let phone = RawSip::new(world.sip_addr()).await;
    phone.send_text(&publish(&phone, "会議中")).await;
    assert_eq!(phone.status().await, Some(200));
    let after = next_notify(&watcher).await;
    assert!(after.contains("会議中"), "{after}");
    for name in ["Call-ID", "From", "To"] {
        assert_eq!(
            header(&after, name),
            header(&first, name),
            "same dialog: {name}"
        );
    }
    assert!(cseq(&after) > cseq(&first), "CSeq goes on: {after}");
    assert!(
        header(&after, "Subscription-State").is_some_and(|s| s.starts_with("active")),
        "{after}"
    );
    assert_eq!(world.status()["open_watches"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_udp_subscription_outlives_a_crash() {
    a_change_reaches_the_watcher_after(ServerProcess::restart).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_udp_subscription_outlives_a_planned_restart() {
    a_change_reaches_the_watcher_after(ServerProcess::restart_gracefully).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_watcher_is_told_to_subscribe_again_when_the_server_stops() {
    let world = World::new(&["yamada", "sato"]).with_sip();
    let mut server = world.start_server();
    let mut tcp = tokio::net::TcpStream::connect(world.sip_addr())
        .await
        .unwrap();
    let port = tcp.local_addr().unwrap().port();
    tcp.write_all(subscribe(port, "TCP", 600).as_bytes())
        .await
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 8192];
    // The 200 OK and the first NOTIFY; answer that NOTIFY.
    while seen.matches("NOTIFY sip:").count() < 1 {
        let n = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf))
            .await
            .expect("answer in time")
            .unwrap();
        assert!(n > 0, "connection closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains(";transport=tcp"), "Contact keeps TCP: {seen}");
    let notify = &seen[seen.find("NOTIFY sip:").unwrap()..];
    tcp.write_all(ok_for(notify).as_bytes()).await.unwrap();
    server.stop_gracefully();
    let mut last = String::new();
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        last.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        last.contains("Subscription-State: terminated;reason=deactivated"),
        "the phone is told to subscribe again: {last:?}\n{}",
        server.log_text()
    );
}
