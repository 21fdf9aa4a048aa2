//! The presence server's mail side end to end: real server process, real
//! Postfix and Dovecot. Mails are composed by the phone's core and sent over
//! SMTP; answers are read from the watcher's own IMAP mailbox.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mailpresence_e2e::{Security, World, presence_messages, wait_until};
use mailpresence_protocol::mail::{Notify, PresenceMessage, Publish, Subscribe, SubscribeMode};
use mailpresence_protocol::model::{
    Activity, ActivityToken, Coordinates, PresenceFields, ScheduleEntry, parse_timestamp,
};

/// An envelope sender from outside the company.
const STRANGER: &str = "stranger@outside.test";
const HOP: Duration = Duration::from_secs(15);

fn tanaka_presence(world: &World, updated: &str) -> PresenceFields {
    let mut f = PresenceFields::new(
        world.mail_of("tanaka"),
        Activity::parse("on-site — 設備点検中").unwrap(),
    );
    f.location = Some("東京都千代田区丸の内一丁目".into());
    f.schedule = vec![
        ScheduleEntry::parse("15:00 帰社予定"),
        ScheduleEntry::parse("17:00-17:30 日報"),
    ];
    f.updated = Some(parse_timestamp(updated).unwrap());
    f.coordinates = Coordinates::new(35.681236, 139.767125, Some(15.0));
    f
}

fn publish(world: &World, who: &str, fields: PresenceFields) -> PresenceMessage {
    let _ = world;
    PresenceMessage::Publish(Publish {
        publisher: who.parse().unwrap(),
        presence: fields,
    })
}

fn subscribe(
    world: &World,
    watcher: &str,
    notifiers: &[&str],
    mode: SubscribeMode,
) -> PresenceMessage {
    PresenceMessage::Subscribe(Subscribe {
        watcher: watcher.parse().unwrap(),
        notifiers: notifiers.iter().map(|n| n.parse().unwrap()).collect(),
        send_to: world.mail_of(watcher),
        mode,
        expires: None,
    })
}

fn only_notify(mails: &[Vec<u8>]) -> (mailpresence_protocol::mail::Envelope, Notify) {
    let mut found = presence_messages(mails);
    assert_eq!(
        found.len(),
        1,
        "exactly one presence mail expected, got {}",
        found.len()
    );
    match found.remove(0) {
        (env, PresenceMessage::Notify(n)) => (env, n),
        other => panic!("not a Notify: {other:?}"),
    }
}

async fn publish_then_subscribe(security: Security) {
    let mut world = World::new(&["tanaka:field", "sato:desk"]);
    world.security = security;
    let server = world.start_server();
    let fields = tanaka_presence(&world, "2026-11-26T13:05:00+09:00");
    world
        .send_presence(
            &world.mail_of("tanaka"),
            &publish(&world, "tanaka", fields.clone()),
        )
        .await;
    assert!(
        server
            .wait_for_log("presence of tanaka from mail", HOP)
            .await,
        "publish applied:\n{}",
        server.log_text()
    );

    let sub_id = world
        .send_presence(
            &world.mail_of("sato"),
            &subscribe(&world, "sato", &["tanaka"], SubscribeMode::Once),
        )
        .await;
    let mut inbox = world.mailbox(&world.mail_of("sato")).await;
    let mails = inbox.wait_for(1, HOP).await;
    let (env, notify) = only_notify(&mails);
    assert_eq!(notify.notifier.as_str(), "tanaka");
    assert_eq!(notify.presence, fields, "every field arrives as published");
    assert_eq!(env.from.as_deref(), Some(world.presence.as_str()));
    assert_eq!(
        env.in_reply_to.as_deref(),
        Some(sub_id.as_str()),
        "threads to the Subscribe"
    );
    let raw = String::from_utf8_lossy(&mails[0]);
    assert!(raw.contains("Auto-Submitted: auto-replied"), "{raw}");
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_then_subscribe_gets_a_notify_with_every_field() {
    publish_then_subscribe(Security::Plain).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_over_starttls_with_smtp_auth() {
    publish_then_subscribe(Security::Starttls).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_over_implicit_tls() {
    publish_then_subscribe(Security::Implicit).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscribe_before_the_publish_is_answered_when_they_publish() {
    let mut world = World::new(&["tanaka", "sato", "ito"]);
    world.policy = "notify_interval_secs = 1".into();
    let server = world.start_server();
    world
        .send_presence(
            &world.mail_of("sato"),
            &subscribe(&world, "sato", &["tanaka"], SubscribeMode::Once),
        )
        .await;
    world
        .send_presence(
            &world.mail_of("ito"),
            &subscribe(&world, "ito", &["tanaka"], SubscribeMode::Watch),
        )
        .await;
    assert!(
        wait_until(HOP, || async { world.status()["pending_requests"] == 2 }).await,
        "{}",
        server.log_text()
    );
    let mut sato = world.mailbox(&world.mail_of("sato")).await;
    assert!(sato.all().await.is_empty(), "nothing to answer yet");

    let fields = tanaka_presence(&world, "2026-11-26T14:00:00+09:00");
    world
        .send_presence(
            &world.mail_of("tanaka"),
            &publish(&world, "tanaka", fields.clone()),
        )
        .await;
    let (_, notify) = only_notify(&sato.wait_for(1, HOP).await);
    assert_eq!(notify.presence, fields);
    let mut ito = world.mailbox(&world.mail_of("ito")).await;
    assert_eq!(only_notify(&ito.wait_for(1, HOP).await).1.presence, fields);

    // A second change: the watch is notified again, the once-request is done.
    let mut later = fields.clone();
    later.activity = Activity::token(ActivityToken::Driving);
    later.location = None;
    later.updated = Some(parse_timestamp("2026-11-26T14:30:00+09:00").unwrap());
    world
        .send_presence(
            &world.mail_of("tanaka"),
            &publish(&world, "tanaka", later.clone()),
        )
        .await;
    let ito_mails = ito.wait_for(2, HOP).await;
    let last = presence_messages(&ito_mails).pop().unwrap().1;
    assert!(
        matches!(last, PresenceMessage::Notify(ref n) if n.presence == later),
        "{last:?}"
    );
    assert_eq!(sato.all().await.len(), 1, "a once-request is answered once");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_mails_change_nothing_and_are_never_answered() {
    let world = World::new(&["tanaka", "sato", "mallory"]);
    let server = world.start_server();
    let good = tanaka_presence(&world, "2026-11-26T09:00:00+09:00");
    world
        .send_presence(
            &world.mail_of("tanaka"),
            &publish(&world, "tanaka", good.clone()),
        )
        .await;
    assert!(wait_until(HOP, || async { world.status()["mails_handled"] == 1 }).await);

    let mut evil = good.clone();
    evil.activity = Activity::token(ActivityToken::Vacation);
    evil.updated = Some(parse_timestamp("2026-11-26T10:00:00+09:00").unwrap());
    let tanaka = world.mail_of("tanaka");
    let outsider = format!("spy.{}@example.test", world.tag);
    // Spoofed From: mallory publishes as tanaka.
    world
        .send_presence(
            &world.mail_of("mallory"),
            &publish(&world, "tanaka", evil.clone()),
        )
        .await;
    // Foreign Send-To: mallory asks for tanaka's presence to go to an outsider.
    let mut foreign = subscribe(&world, "mallory", &["tanaka"], SubscribeMode::Once);
    if let PresenceMessage::Subscribe(s) = &mut foreign {
        s.send_to = outsider.clone();
    }
    world
        .send_presence(&world.mail_of("mallory"), &foreign)
        .await;
    // Raw mails: an auto-reply echoing the Subject, a bounce, a reply, a
    // malformed Publish, an oversized one.
    let head = |subject: &str, extra: &str| {
        let id = mailpresence_e2e::tag();
        format!(
            "From: {tanaka}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{id}@x>\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n",
            world.presence
        )
    };
    let body = "Publisher: tanaka\r\nContact: x@example.test\r\nActivity: vacation\r\n";
    let raws = [
        format!(
            "{}不在です\r\n{body}",
            head("Publish", "Auto-Submitted: auto-replied\r\n")
        ),
        format!(
            "Return-Path: <>\r\nFrom: MAILER-DAEMON@example.test\r\nTo: {}\r\nSubject: Publish\r\nMessage-ID: <b.{}@x>\r\n\r\n{body}",
            world.presence, world.tag
        ),
        format!("{}{body}", head("Re: Publish", "")),
        format!(
            "{}Publisher: tanaka\r\nActivity: vacation\r\n",
            head("Publish", "")
        ),
        format!("{}{body}{}", head("Publish", ""), "x".repeat(100 * 1024)),
    ];
    // From the internet: the inbound port takes none of the company's
    // addresses as envelope sender from a stranger.
    for raw in &raws {
        world.send(STRANGER, &world.presence, raw.as_bytes()).await;
    }
    let bad = 2 + raws.len();
    assert!(
        wait_until(HOP, || async {
            world.status()["mails_handled"] == 1 + bad as u64
        })
        .await,
        "{}",
        world.status()
    );
    let log = server.log_text();
    for reason in [
        "not the address registered for tanaka",
        "is not an address of mallory",
        "Auto-Submitted",
        "bounce",
        "Re: Publish",
        "Contact: required tag is missing",
        "at most 65536",
    ] {
        assert!(
            log.contains(reason),
            "log names the reason {reason:?}:\n{log}"
        );
    }
    // Nothing was answered: no mail to the outsider, mallory, or tanaka.
    for who in [outsider.as_str(), &world.mail_of("mallory"), &tanaka] {
        assert!(
            world.mailbox(who).await.all().await.is_empty(),
            "{who} got mail"
        );
    }
    // Nothing changed: sato still sees the good presence.
    world
        .send_presence(
            &world.mail_of("sato"),
            &subscribe(&world, "sato", &["tanaka"], SubscribeMode::Once),
        )
        .await;
    let (_, notify) = only_notify(
        &world
            .mailbox(&world.mail_of("sato"))
            .await
            .wait_for(1, HOP)
            .await,
    );
    assert_eq!(notify.presence, good);
    // Every mail, good or bad, was handled and then deleted: no trail.
    let mut presence_box = world.mailbox(&world.presence).await;
    let left = presence_box.wait_until_empty(Duration::from_secs(10)).await;
    assert_eq!(
        left, 0,
        "every handled mail deleted from the presence mailbox"
    );
    assert_eq!(
        world.status()["mails_handled"],
        (2 + bad) as u64,
        "every mail recorded as handled"
    );
}

/// With `done_mailbox` set, a handled mail is moved there, marked done,
/// instead of deleted (it is kept until the location TTL): the presence
/// mailbox empties, the done mailbox holds each mail exactly once, and none
/// is handled twice.
#[tokio::test(flavor = "multi_thread")]
async fn with_a_done_mailbox_handled_mails_are_moved_there_once() {
    const MAILS: usize = 30;
    let mut world = World::new(&["tanaka:field"]);
    world.imap_extra = "done_mailbox = \"PresenceDone\"\n".into();
    let _server = world.start_server();
    for minute in 0..MAILS {
        let fields = tanaka_presence(&world, &format!("2026-11-26T13:{minute:02}:00+09:00"));
        world
            .send_presence(&world.mail_of("tanaka"), &publish(&world, "tanaka", fields))
            .await;
    }
    assert!(
        wait_until(HOP, || async {
            world.status()["mails_handled"] == MAILS as u64
        })
        .await,
        "{}",
        world.status()
    );
    let mut presence_box = world.mailbox(&world.presence).await;
    let left = presence_box.wait_until_empty(Duration::from_secs(10)).await;
    assert_eq!(
        left, 0,
        "every handled mail moved out of the presence mailbox"
    );
    assert_eq!(
        presence_box.count_in("PresenceDone", "ALL").await,
        MAILS,
        "each handled mail is in the done mailbox, once"
    );
    assert_eq!(
        presence_box
            .count_in("PresenceDone", "KEYWORD $PresenceDone")
            .await,
        MAILS,
        "and marked done there"
    );
    assert_eq!(
        world.status()["mails_handled"],
        MAILS as u64,
        "none handled twice"
    );
}

/// The intake's reading session is told of every mail its second session
/// puts away (up to a thousand EXPUNGEs at its next command), more than
/// async-imap keeps for it (100; it drops the rest): a new mail announced
/// among them must still be noticed, or it would wait unread in the
/// mailbox until the next one came.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_mail_among_another_sessions_many_expunges_is_noticed() {
    use mailpresence_protocol::transport::imap::{MailSession, Timeouts};
    use mailpresence_protocol::transport::{Credentials, Endpoint, TlsMode};
    let world = World::new(&["tanaka"]);
    let address = world.mail_of("tanaka");
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port: world.servers.imap_port,
        tls: TlsMode::None,
        credentials: Some(Credentials::password(&address, "secret")),
        ca_file: None,
    };
    let mut reader = MailSession::open(&endpoint, Timeouts::default())
        .await
        .unwrap();
    reader.select("INBOX").await.unwrap();
    let mut other = MailSession::open(&endpoint, Timeouts::default())
        .await
        .unwrap();
    other.select("INBOX").await.unwrap();
    let mail = |n: usize| format!("From: {address}\r\nSubject: {n}\r\n\r\n{n}\r\n").into_bytes();
    for n in 0..150 {
        other.append("INBOX", &mail(n)).await.unwrap();
    }
    reader.check().await.unwrap();
    assert!(reader.mail_announced(), "the 150 mails are announced");
    assert!(!reader.mail_announced(), "and only once");
    other.check().await.unwrap();
    let all = other.search("ALL").await.unwrap();
    assert_eq!(all.len(), 150);
    other.delete(&all).await.unwrap();
    other.append("INBOX", &mail(150)).await.unwrap();
    reader.check().await.unwrap();
    assert!(
        reader.mail_announced(),
        "the new mail is noticed among 150 expunges"
    );
}
