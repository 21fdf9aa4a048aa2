//! What the SIP agent does not do for a stranger, in process over loopback
//! UDP: send a large answer again to whoever names its transaction in a
//! short datagram (the answer cache as an amplifier aimed at a forged
//! source), or let a colleague refresh someone else's subscription and so
//! take its NOTIFYs. A forged source address cannot be sent from on
//! loopback without raw sockets, so the victim is another socket, or the
//! large request's own socket receiving what the short copies cause.
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

mod sip_phones;

use std::time::Duration;

use sip_phones::{ALICE, FROM_ALICE, Phone, TO_ALICE, header, pidf, server, status};

/// How long a socket is listened to for what a request caused.
const LISTEN: Duration = Duration::from_millis(500);
/// The short copies sent, standing for 32 s of an attacker's datagrams.
const COPIES: usize = 20;

/// Every byte that reaches `phone` until it has been quiet for [`LISTEN`].
async fn bytes_received(phone: &Phone) -> usize {
    let mut buf = vec![0u8; 65_536];
    let mut total = 0;
    while let Ok(got) = tokio::time::timeout(LISTEN, phone.socket.recv_from(&mut buf)).await {
        total += got.unwrap().0;
    }
    total
}

/// Every byte that reaches `phone` while it sends [`COPIES`] of `copy`,
/// read as they come (a socket's buffer would drop what it cannot hold).
async fn answers_to_copies(phone: &Phone, copy: &str) -> usize {
    let send = async {
        for _ in 0..COPIES {
            phone.send(copy).await;
        }
    };
    tokio::join!(send, bytes_received(phone)).1
}

/// The start line and top Via of `request`: all a retransmission's key is
/// made of (branch, sent-by, method), in a datagram of about 80 bytes.
fn short_copy(request: &str) -> String {
    let start = request.lines().next().unwrap();
    let via = header(request, "Via");
    format!("{start}\r\nVia: {via}\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_cache_sends_no_large_answer_for_a_short_copy() {
    let server = server().await;
    let mut attacker = Phone::new(server.addr).await;
    let victim = Phone::new(server.addr).await;

    // An OPTIONS whose From (copied into the answer) is 60 KB.
    let from = format!(
        "From: \"{}\" <sip:alice@example.test>;tag=a",
        "x".repeat(60_000)
    );
    let large = attacker
        .request("OPTIONS", ALICE, &[&from, TO_ALICE, "Call-ID: big"], "")
        .await;
    let answer = attacker.receive().await;
    assert_eq!(status(&answer), 200);
    assert!(answer.len() > 60_000, "{} bytes", answer.len());

    // Sent again unchanged from where it came: the same answer (RFC 3261 §17.2.2).
    attacker.send(&large).await;
    assert_eq!(attacker.receive().await, answer);

    // Short copies naming its transaction, from another source (the victim)
    // and from its own (a victim whose address the large one was forged from).
    let copy = short_copy(&large);
    assert!(copy.len() < 120, "{copy}");
    let to_victim = answers_to_copies(&victim, &copy).await;
    let to_source = answers_to_copies(&attacker, &copy).await;
    let sent = COPIES * copy.len();
    println!(
        "request {} B, its answer {} B; {COPIES} copies of {} B each ({sent} B) \
         from another socket: {to_victim} B back; from its own: {to_source} B back",
        large.len(),
        answer.len(),
        copy.len(),
    );
    assert!(to_victim <= 4 * sent, "{to_victim} bytes for {sent}");
    assert!(to_source <= 4 * sent, "{to_source} bytes for {sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_its_watcher_refreshes_a_subscription() {
    let server = server().await;
    let mut bob = Phone::new(server.addr).await;
    let (ok, _) = bob.bob_watches_alice().await;
    assert_eq!(status(&ok), 200, "{ok}");
    let to = format!("To: {}", header(&ok, "To"));

    // Carol (believed: a trusted network) names bob's dialog: its Call-ID
    // and both tags, with her own From.
    let mut carol = Phone::new(server.addr).await;
    let contact = format!("Contact: <sip:carol@{}>", carol.addr());
    let intrusion = [
        "From: <sip:carol@example.test>;tag=b",
        to.as_str(),
        "Call-ID: watch",
        "Event: presence",
        "Expires: 600",
        contact.as_str(),
    ];
    carol.request("SUBSCRIBE", ALICE, &intrusion, "").await;
    let refused = carol.receive().await;
    assert_eq!(status(&refused), 403, "{refused}");

    // Alice's next presence still goes to bob, and nothing to carol.
    let mut alice = Phone::new(server.addr).await;
    alice
        .request(
            "PUBLISH",
            ALICE,
            &[FROM_ALICE, TO_ALICE, "Call-ID: p", "Event: presence"],
            &pidf("alice", "in a meeting"),
        )
        .await;
    assert_eq!(status(&alice.receive().await), 200);
    let notify = bob.receive().await;
    assert!(notify.starts_with("NOTIFY "), "{notify}");
    assert!(notify.contains("in a meeting"), "{notify}");
    assert_eq!(bytes_received(&carol).await, 0, "nothing for carol");
}
