//! The SIP agent's answers to each kind of request, in process over
//! loopback UDP, with the registrar on: OPTIONS and what it refuses,
//! PUBLISH with its entity-tags, REGISTER bindings, SUBSCRIBE dialogs with
//! their NOTIFYs (new, refreshed, ended, fetched), and the same answer for a
//! request sent again. Written to hold the router and the parts it calls to
//! the answers they gave before they were split apart.
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

mod sip_phones;

use std::time::Duration;

use sip_phones::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_and_what_is_refused_before_any_state_is_touched() {
    let server = server().await;
    let mut phone = Phone::new(server.addr).await;
    let call = "Call-ID: refusals";

    phone
        .request("OPTIONS", ALICE, &[FROM_ALICE, TO_ALICE, call], "")
        .await;
    let ok = phone.receive().await;
    assert_eq!(status(&ok), 200);
    assert_eq!(
        header(&ok, "Allow"),
        "PUBLISH, SUBSCRIBE, NOTIFY, OPTIONS, REGISTER"
    );
    assert_eq!(header(&ok, "Accept"), "application/pidf+xml");
    assert_eq!(header(&ok, "Server"), "mailpresence");
    assert!(header(&ok, "Via").contains(";received=127.0.0.1"), "{ok}");
    assert!(header(&ok, "To").contains(";tag="), "{ok}");

    let cases: [(&str, &str, &[&str], u16); 8] = [
        ("NOTIFY", ALICE, &[], 481),
        ("INFO", ALICE, &[], 405),
        ("PUBLISH", ALICE, &["Event: dialog"], 489),
        (
            "PUBLISH",
            "sip:nobody@example.test",
            &["Event: presence"],
            404,
        ),
        ("PUBLISH", "sip:bob@example.test", &["Event: presence"], 403),
        ("PUBLISH", ALICE, &["Event: presence", "Expires: 10"], 423),
        (
            "SUBSCRIBE",
            ALICE,
            &["Event: presence", "Accept: text/plain"],
            406,
        ),
        ("REGISTER", "sip:nobody@example.test", &[], 404),
    ];
    for (method, ruri, extra, expected) in cases {
        let to = if ruri == ALICE {
            TO_ALICE.to_owned()
        } else {
            format!("To: <{ruri}>")
        };
        let mut h = vec![FROM_ALICE, to.as_str(), call];
        h.extend_from_slice(extra);
        phone.request(method, ruri, &h, "").await;
        let answer = phone.receive().await;
        assert_eq!(status(&answer), expected, "{method} {extra:?}: {answer}");
        if expected == 423 {
            assert_eq!(header(&answer, "Min-Expires"), "60");
        }
        if expected == 405 {
            assert!(header(&answer, "Allow").ends_with("REGISTER"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_is_refreshed_by_its_entity_tag_and_removed() {
    let server = server().await;
    let mut phone = Phone::new(server.addr).await;
    let base = [FROM_ALICE, TO_ALICE, "Call-ID: pub", "Event: presence"];

    let first = phone
        .request("PUBLISH", ALICE, &base, &pidf("alice", "in"))
        .await;
    let ok = phone.receive().await;
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(header(&ok, "Expires"), "3600");
    let etag = header(&ok, "SIP-ETag").to_owned();
    assert_eq!(etag.len(), 16);

    // Sent again (its answer lost): the same answer, byte for byte.
    phone.send(&first).await;
    assert_eq!(phone.receive().await, ok);

    let if_match = format!("SIP-If-Match: {etag}");
    let refresh = [&base[..], &[if_match.as_str(), "Expires: 120"]].concat();
    phone.request("PUBLISH", ALICE, &refresh, "").await;
    let refreshed = phone.receive().await;
    assert_eq!(status(&refreshed), 200, "{refreshed}");
    assert_eq!(header(&refreshed, "Expires"), "120");
    let new_etag = header(&refreshed, "SIP-ETag").to_owned();
    assert_ne!(new_etag, etag);

    let stale = [&base[..], &[if_match.as_str()]].concat();
    phone.request("PUBLISH", ALICE, &stale, "").await;
    assert_eq!(status(&phone.receive().await), 412);

    phone.request("PUBLISH", ALICE, &base, "").await;
    let bodiless = phone.receive().await;
    assert_eq!(status(&bodiless), 400);
    assert!(header(&bodiless, "Warning").contains("needs a PIDF body"));

    let if_match = format!("SIP-If-Match: {new_etag}");
    let remove = [&base[..], &[if_match.as_str(), "Expires: 0"]].concat();
    phone.request("PUBLISH", ALICE, &remove, "").await;
    let removed = phone.receive().await;
    assert_eq!(status(&removed), 200);
    assert_eq!(header(&removed, "Expires"), "0");
    assert_eq!(header(&removed, "SIP-ETag"), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registrar_binds_contacts_and_lets_them_all_go() {
    let server = server().await;
    let mut phone = Phone::new(server.addr).await;
    let contacts = "Contact: <sip:alice@10.0.0.5>;expires=120, <sip:alice@10.0.0.6>";
    let base = [FROM_ALICE, TO_ALICE, "Call-ID: reg"];

    phone
        .request(
            "REGISTER",
            "sip:example.test",
            &[&base[..], &[contacts]].concat(),
            "",
        )
        .await;
    let ok = phone.receive().await;
    assert_eq!(status(&ok), 200, "{ok}");
    let mut bound = headers(&ok, "Contact");
    bound.sort();
    assert_eq!(bound.len(), 2, "{ok}");
    assert!(
        bound[0].starts_with("<sip:alice@10.0.0.5>;expires=1"),
        "{ok}"
    );
    assert!(
        bound[1].starts_with("<sip:alice@10.0.0.6>;expires=3"),
        "{ok}"
    );
    assert!(!header(&ok, "Date").is_empty());

    let brief = [&base[..], &["Contact: <sip:alice@10.0.0.7>;expires=5"]].concat();
    phone
        .request("REGISTER", "sip:example.test", &brief, "")
        .await;
    assert_eq!(status(&phone.receive().await), 423);

    let star_alone = [&base[..], &["Contact: *"]].concat();
    phone
        .request("REGISTER", "sip:example.test", &star_alone, "")
        .await;
    assert_eq!(status(&phone.receive().await), 400);

    let all = [&base[..], &["Contact: *", "Expires: 0"]].concat();
    phone
        .request("REGISTER", "sip:example.test", &all, "")
        .await;
    let gone = phone.receive().await;
    assert_eq!(status(&gone), 200);
    assert!(headers(&gone, "Contact").is_empty(), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_is_opened_refreshed_ended_and_fetched() {
    let server = server().await;
    let mut alice = Phone::new(server.addr).await;
    alice
        .request(
            "PUBLISH",
            ALICE,
            &[FROM_ALICE, TO_ALICE, "Call-ID: p", "Event: presence"],
            &pidf("alice", "at the desk"),
        )
        .await;
    assert_eq!(status(&alice.receive().await), 200);

    let mut bob = Phone::new(server.addr).await;
    let (ok, notify) = bob.bob_watches_alice().await;
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(header(&ok, "Expires"), "3600");
    assert_eq!(header(&ok, "Contact"), format!("<sip:{}>", server.addr));
    assert_active(&notify, 3600);
    assert_eq!(
        header(&notify, "Contact"),
        format!("<sip:alice@{}>", server.addr)
    );
    assert_eq!(header(&notify, "CSeq"), "1 NOTIFY");
    assert!(notify.contains("at the desk"), "{notify}");
    assert!(
        notify.contains(r#"entity="sip:alice@example.test""#),
        "{notify}"
    );
    let to = format!("To: {}", header(&ok, "To"));

    let refresh = [
        FROM_BOB,
        to.as_str(),
        "Call-ID: watch",
        "Event: presence",
        "Expires: 600",
    ];
    bob.request("SUBSCRIBE", ALICE, &refresh, "").await;
    let (ok, notify) = bob.answer_and_notify().await;
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(header(&ok, "Expires"), "600");
    assert_eq!(header(&ok, "To"), &to[4..]);
    assert_eq!(header(&notify, "CSeq"), "2 NOTIFY");
    assert_active(&notify, 600);

    let end = [
        FROM_BOB,
        to.as_str(),
        "Call-ID: watch",
        "Event: presence",
        "Expires: 0",
    ];
    bob.request("SUBSCRIBE", ALICE, &end, "").await;
    let (ok, notify) = bob.answer_and_notify().await;
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(
        header(&notify, "Subscription-State"),
        "terminated;reason=timeout"
    );
    assert!(notify.contains("at the desk"), "{notify}");

    bob.request("SUBSCRIBE", ALICE, &refresh, "").await;
    assert_eq!(status(&bob.receive().await), 481);

    let fetch = [
        FROM_BOB,
        TO_ALICE,
        "Call-ID: fetch",
        "Event: presence",
        "Expires: 0",
    ];
    bob.request("SUBSCRIBE", ALICE, &fetch, "").await;
    let (ok, notify) = bob.answer_and_notify().await;
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(header(&ok, "Expires"), "0");
    assert_eq!(
        header(&notify, "Subscription-State"),
        "terminated;reason=timeout"
    );
    assert!(notify.contains("at the desk"), "{notify}");

    // A new presence of alice's reaches no ended subscription: nothing comes.
    alice
        .request(
            "PUBLISH",
            ALICE,
            &[FROM_ALICE, TO_ALICE, "Call-ID: p2", "Event: presence"],
            &pidf("alice", "out"),
        )
        .await;
    assert_eq!(status(&alice.receive().await), 200);
    let mut buf = [0u8; 2048];
    let quiet =
        tokio::time::timeout(Duration::from_millis(500), bob.socket.recv_from(&mut buf)).await;
    assert!(quiet.is_err(), "nothing for an ended subscription");
}

/// Everything that reaches `phone` until it has been quiet for half a second.
async fn drain(phone: &Phone) -> Vec<String> {
    let mut buf = vec![0u8; 65_536];
    let mut got = Vec::new();
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(500), phone.socket.recv_from(&mut buf)).await
    {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    got
}

/// A watcher that leaves a NOTIFY unanswered gets no other until it
/// answers, only that one again (UDP retransmission); then the newest
/// presence, not each change it missed. So a phone gone away costs one
/// NOTIFY until it is given up on, and a slow one is sent no backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_notify_holds_back_the_next_until_answered_then_the_newest_goes() {
    let server = server().await;
    let mut bob = Phone::new(server.addr).await;
    let (ok, _) = bob.bob_watches_alice().await;
    assert_eq!(status(&ok), 200, "{ok}");

    // Three changes of alice's, a little over a second apart (the engine
    // sends a SIP watcher at most one change a second); bob answers none.
    let mut alice = Phone::new(server.addr).await;
    let mut publish = async |call_id: &str, note: &str| {
        let call_id = format!("Call-ID: {call_id}");
        let headers = [FROM_ALICE, TO_ALICE, call_id.as_str(), "Event: presence"];
        alice
            .request("PUBLISH", ALICE, &headers, &pidf("alice", note))
            .await;
        assert_eq!(status(&alice.receive().await), 200);
    };
    publish("p1", "in a meeting").await;
    let first = bob.receive().await;
    assert!(first.contains("in a meeting"), "{first}");
    for (call_id, note) in [("p2", "out"), ("p3", "at lunch")] {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        publish(call_id, note).await;
    }
    let meanwhile = drain(&bob).await;
    assert!(!meanwhile.is_empty(), "the first NOTIFY is resent");
    for again in &meanwhile {
        assert_eq!(header(again, "Via"), header(&first, "Via"), "{again}");
        assert_eq!(header(again, "CSeq"), header(&first, "CSeq"));
    }

    // Answered: the newest presence comes, in the dialog's next NOTIFY.
    bob.send(&ok_to(&first)).await;
    let newest = bob.receive().await;
    assert!(newest.contains("at lunch"), "{newest}");
    let cseq = |m: &str| -> u32 {
        header(m, "CSeq")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(cseq(&newest), cseq(&first) + 1);
    bob.send(&ok_to(&newest)).await;
    let after = drain(&bob).await;
    assert!(
        after.is_empty(),
        "no missed change is sent after: {after:?}"
    );
}
