//! Two instances of the SIP agent on one PostgreSQL store, in process over
//! loopback UDP: a desk phone published or registered through one, and its
//! refresh reaches the other (a dispatcher in front failed over). It is
//! answered as the first would have: a publication's refresh and removal
//! find it in the database (no 412, so the phone's presence does not drop to
//! offline and come back), and a registration's refresh binds the contact.
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

mod sip_phones;

use sip_phones::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_made_through_one_instance_is_refreshed_and_removed_through_the_other() {
    let mut stores = shared_postgres(2).into_iter();
    let first = server_on(stores.next().unwrap(), tempfile::tempdir().unwrap()).await;
    let second = server_on(stores.next().unwrap(), tempfile::tempdir().unwrap()).await;
    let mut to_first = Phone::new(first.addr).await;
    let mut to_second = Phone::new(second.addr).await;
    let base = [FROM_ALICE, TO_ALICE, "Call-ID: failover", "Event: presence"];

    to_first
        .request("PUBLISH", ALICE, &base, &pidf("alice", "会議中"))
        .await;
    let published = to_first.receive().await;
    assert_eq!(status(&published), 200, "{published}");
    let etag = header(&published, "SIP-ETag").to_owned();

    // The refresh goes to the second instance.
    let if_match = format!("SIP-If-Match: {etag}");
    let refresh = [&base[..], &[if_match.as_str(), "Expires: 120"]].concat();
    to_second.request("PUBLISH", ALICE, &refresh, "").await;
    let refreshed = to_second.receive().await;
    assert_eq!(
        status(&refreshed),
        200,
        "refreshed through the second: {refreshed}"
    );
    assert_eq!(header(&refreshed, "Expires"), "120");
    let new_etag = header(&refreshed, "SIP-ETag").to_owned();
    assert_ne!(new_etag, etag);

    // The old entity-tag is spent on both instances alike.
    let stale = [&base[..], &[if_match.as_str()]].concat();
    for (which, phone) in [("first", &mut to_first), ("second", &mut to_second)] {
        phone.request("PUBLISH", ALICE, &stale, "").await;
        let answer = phone.receive().await;
        assert_eq!(
            status(&answer),
            412,
            "the spent tag through the {which}: {answer}"
        );
    }

    // The new one is known through the first too: the phone removes its
    // publication there (the dispatcher went back).
    let if_match = format!("SIP-If-Match: {new_etag}");
    let remove = [&base[..], &[if_match.as_str(), "Expires: 0"]].concat();
    to_first.request("PUBLISH", ALICE, &remove, "").await;
    let removed = to_first.receive().await;
    assert_eq!(
        status(&removed),
        200,
        "removed through the first: {removed}"
    );
    assert_eq!(header(&removed, "Expires"), "0");
    let refresh_removed = [&base[..], &[if_match.as_str()]].concat();
    to_second
        .request("PUBLISH", ALICE, &refresh_removed, "")
        .await;
    let answer = to_second.receive().await;
    assert_eq!(
        status(&answer),
        412,
        "gone through the second too: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_made_through_one_instance_is_refreshed_through_the_other() {
    let mut stores = shared_postgres(2).into_iter();
    let first = server_on(stores.next().unwrap(), tempfile::tempdir().unwrap()).await;
    let second = server_on(stores.next().unwrap(), tempfile::tempdir().unwrap()).await;
    let mut to_first = Phone::new(first.addr).await;
    let mut to_second = Phone::new(second.addr).await;
    let register = [
        FROM_ALICE,
        TO_ALICE,
        "Call-ID: desk-phone-boot",
        "Contact: <sip:alice@10.0.0.5>;expires=120",
    ];

    to_first
        .request("REGISTER", "sip:example.test", &register, "")
        .await;
    let bound = to_first.receive().await;
    assert_eq!(status(&bound), 200, "{bound}");

    // The first instance died; the phone's refresh reaches the second,
    // which answers it and lists the phone's contact as bound.
    drop(first);
    to_second
        .request("REGISTER", "sip:example.test", &register, "")
        .await;
    let refreshed = to_second.receive().await;
    assert_eq!(
        status(&refreshed),
        200,
        "refreshed through the second: {refreshed}"
    );
    let contacts = headers(&refreshed, "Contact");
    assert_eq!(contacts.len(), 1, "{refreshed}");
    assert!(
        contacts[0].starts_with("<sip:alice@10.0.0.5>;expires=1"),
        "{refreshed}"
    );
}
