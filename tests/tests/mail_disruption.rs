//! The server under failure: killed mid-burst, its IMAP server restarted or
//! frozen mid-fetch, its SMTP server down, frozen or refusing logins. Each
//! test stops and starts mail servers of its own (`World::on_own_mail_servers`),
//! so the other tests run beside them undisturbed.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailpresence_e2e::{Security, World, presence_messages, wait_until};
use mailpresence_protocol::mail::{
    self, ComposeEnvelope, PresenceMessage, Publish, Subscribe, SubscribeMode,
};
use mailpresence_protocol::model::{Activity, PresenceFields, parse_timestamp};

fn presence(world: &World, who: &str, text: &str, minute: u32) -> PresenceFields {
    let mut f = PresenceFields::new(
        world.mail_of(who),
        Activity::parse(&format!("busy — {text}")).unwrap(),
    );
    f.updated = Some(
        parse_timestamp(&format!(
            "2026-11-26T{:02}:{:02}:00+09:00",
            9 + minute / 60,
            minute % 60
        ))
        .unwrap(),
    );
    f
}

fn publish(who: &str, fields: PresenceFields) -> PresenceMessage {
    PresenceMessage::Publish(Publish {
        publisher: who.parse().unwrap(),
        presence: fields,
    })
}

fn subscribe(world: &World, watcher: &str, notifiers: &[&str]) -> PresenceMessage {
    PresenceMessage::Subscribe(Subscribe {
        watcher: watcher.parse().unwrap(),
        notifiers: notifiers.iter().map(|n| n.parse().unwrap()).collect(),
        send_to: world.mail_of(watcher),
        mode: SubscribeMode::Once,
        expires: None,
    })
}

fn handled(world: &World) -> u64 {
    world.status()["mails_handled"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_in_a_burst_of_500_publishes_loses_nothing_and_doubles_nothing() {
    let publishers = ["p1", "p2", "p3", "p4", "p5"];
    let mut accounts: Vec<&str> = publishers.to_vec();
    accounts.push("watcher");
    let world = World::on_own_mail_servers(&accounts);
    let mut server = world.start_server();

    // Pending once-requests for every publisher, before any presence exists.
    world
        .send_presence(
            &world.mail_of("watcher"),
            &subscribe(&world, "watcher", &publishers),
        )
        .await;
    assert!(wait_until(Duration::from_secs(15), || async { handled(&world) == 1 }).await);
    // Everyone publishes once: the requests are answered and those Notifies
    // sent, so what follows is about intake alone (the outbox's own window
    // between SMTP accepting and the store noting it is not under test here).
    for who in publishers {
        world
            .send_presence(
                &world.mail_of(who),
                &publish(who, presence(&world, who, "start", 0)),
            )
            .await;
    }
    assert!(
        wait_until(Duration::from_secs(20), || async {
            let s = world.status();
            s["mails_handled"] == 6 && s["outbox_depth"] == 0
        })
        .await,
        "{}",
        world.status()
    );

    // The server goes down, and 500 Publish mails arrive meanwhile: 100 per
    // person, each newer than the last, signed as the company's mail system
    // signs them, each person's in order over their own SMTP connection.
    server.kill9();
    let sends = publishers.iter().map(|who| {
        let world = &world;
        async move {
            // Signed mail from the company's submission, relayed inside.
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(world.servers.relay_port)
                .build();
            let from = world.mail_of(who);
            for round in 0..100u32 {
                let env = ComposeEnvelope {
                    from: from.clone(),
                    to: world.presence.clone(),
                    ..Default::default()
                };
                let raw = mail::compose(
                    &publish(who, presence(world, who, &format!("#{round}"), round + 1)),
                    &env,
                )
                .unwrap();
                let envelope = lettre::address::Envelope::new(
                    Some(from.parse().unwrap()),
                    vec![world.presence.parse().unwrap()],
                )
                .unwrap();
                let signed = world.sign_as(&world.servers.domain, &raw);
                smtp.send_raw(&envelope, &signed).await.unwrap();
            }
        }
    });
    futures::future::join_all(sends).await;
    let mut presence_box = world.mailbox(&world.presence).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    // The first 6 were handled and deleted before the server stopped.
    while presence_box.count().await < 500 {
        assert!(
            std::time::Instant::now() < deadline,
            "Postfix delivered the 500 mails"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Back up, it works through the backlog; killed in the middle of it.
    server.restart();
    assert!(
        wait_until(Duration::from_secs(30), || async { handled(&world) >= 66 }).await,
        "{}",
        server.log_text()
    );
    let at_kill = handled(&world);
    server.kill9();
    eprintln!("killed with {at_kill} of 506 mails handled");
    assert!(at_kill < 506, "killed before the end ({at_kill} handled)");
    server.restart();
    assert!(
        wait_until(Duration::from_secs(60), || async { handled(&world) == 506 }).await,
        "all 500 applied after the restart: {}",
        world.status()
    );

    // Every publisher's record is their 100th publish.
    world
        .send_presence(
            &world.mail_of("watcher"),
            &subscribe(&world, "watcher", &publishers),
        )
        .await;
    let mut inbox = world.mailbox(&world.mail_of("watcher")).await;
    let mails = inbox.wait_for(10, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails_after = inbox.all().await;
    assert_eq!(mails_after.len(), mails.len(), "nothing more arrives");
    let notifies = presence_messages(&mails_after);
    assert_eq!(
        notifies.len(),
        10,
        "5 answers to the first Subscribe, 5 to the second; none lost, none twice"
    );
    let ids: HashSet<_> = notifies
        .iter()
        .map(|(env, _)| env.message_id.clone())
        .collect();
    assert_eq!(ids.len(), 10, "no Notify sent twice");
    let last_five: Vec<_> = notifies[5..].iter().map(|(_, m)| m.clone()).collect();
    for who in publishers {
        let latest = last_five.iter().find_map(|m| match m {
            PresenceMessage::Notify(n) if n.notifier.as_str() == who => {
                n.presence.activity.text.clone()
            }
            _ => None,
        });
        assert_eq!(
            latest.as_deref(),
            Some("#99"),
            "{who}'s newest publish is the record"
        );
    }
    // Handled and then deleted, the mails leave no trail; the crash between a
    // commit and its deletion left none behind either.
    let left = presence_box.wait_until_empty(Duration::from_secs(10)).await;
    assert_eq!(
        left, 0,
        "every handled mail deleted from the presence mailbox"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dovecot_restart_under_the_server_misses_nothing() {
    let world = World::on_own_mail_servers(&["tanaka", "sato"]);
    let server = world.start_server();
    world
        .send_presence(
            &world.mail_of("tanaka"),
            &publish("tanaka", presence(&world, "tanaka", "before", 1)),
        )
        .await;
    assert!(wait_until(Duration::from_secs(15), || async { handled(&world) == 1 }).await);

    world.servers.control("stop-dovecot");
    // Mail sent while Dovecot is down waits in Postfix's queue (it arrives
    // signed from the company's MTA: no login, which Dovecot would answer).
    world
        .send_presence_signed(
            &world.mail_of("tanaka"),
            &publish("tanaka", presence(&world, "tanaka", "during", 2)),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    world.servers.control("start-dovecot");
    assert!(
        wait_until(Duration::from_secs(30), || async { handled(&world) == 2 }).await,
        "the mail queued while Dovecot was down is handled: {}\n{}",
        world.status(),
        server.log_text()
    );
    world
        .send_presence(
            &world.mail_of("sato"),
            &subscribe(&world, "sato", &["tanaka"]),
        )
        .await;

    let mut sato = world.mailbox(&world.mail_of("sato")).await;
    let mails = sato.wait_for(1, Duration::from_secs(60)).await;
    let notify = presence_messages(&mails).pop().map(|(_, m)| m);
    assert!(
        matches!(&notify, Some(PresenceMessage::Notify(n)) if n.presence.activity.text.as_deref() == Some("during")),
        "{notify:?}\n{}",
        server.log_text()
    );
    assert!(
        world.status()["loops"]["intake"]["restarts"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "it noticed and reconnected: {}",
        world.status()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_mails_wait_in_the_outbox_while_postfix_is_down() {
    let mut world = World::on_own_mail_servers(&["tanaka", "sato"]);
    // With Postfix down the mails are put into the mailbox by hand, past the
    // MTA that would prove their sender: this test is about the outbox.
    world.trust = "[trust]\nmode = \"from-header\"\n".into();
    let server = world.start_server();
    world.servers.control("stop-postfix");
    // With Postfix down, put the mails straight into the presence mailbox.
    let mut presence_box = world.mailbox(&world.presence).await;
    let compose = |from: String, m: &PresenceMessage| {
        let env = ComposeEnvelope {
            from,
            to: world.presence.clone(),
            ..Default::default()
        };
        mail::compose(m, &env).unwrap()
    };
    presence_box
        .append(&compose(
            world.mail_of("tanaka"),
            &publish("tanaka", presence(&world, "tanaka", "outbox", 3)),
        ))
        .await;
    presence_box
        .append(&compose(
            world.mail_of("sato"),
            &subscribe(&world, "sato", &["tanaka"]),
        ))
        .await;
    let queued = wait_until(Duration::from_secs(20), || async {
        world.status()["outbox_depth"] == 1
    })
    .await;
    let restarted = {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let still = world.status()["outbox_depth"] == 1;
        world.servers.control("start-postfix");
        still
    };
    assert!(
        queued && restarted,
        "the Notify waited in the outbox: {}\n{}",
        world.status(),
        server.log_text()
    );
    let mut sato = world.mailbox(&world.mail_of("sato")).await;
    let mails = sato.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(
        presence_messages(&mails).len(),
        1,
        "sent once Postfix was back:\n{}",
        server.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(5), || async {
            world.status()["outbox_depth"] == 0
        })
        .await
    );
    assert!(
        server
            .log_text()
            .contains("the SMTP server cannot be used now; the mails wait")
    );
}

/// The status of one of the server's loops (`intake`, `outbox`, …).
fn loop_state(world: &World, name: &str) -> serde_json::Value {
    world.status()["loops"][name].clone()
}

/// Puts `message` straight into the presence mailbox over IMAP (no SMTP:
/// for tests where Postfix is frozen or refusing). Trust by From header.
async fn append_presence(world: &World, from: &str, message: &PresenceMessage) {
    let env = ComposeEnvelope {
        from: world.mail_of(from),
        to: world.presence.clone(),
        ..Default::default()
    };
    let raw = mail::compose(message, &env).unwrap();
    world.mailbox(&world.presence).await.append(&raw).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_imap_server_mid_backlog_is_left_and_nothing_is_missed() {
    const BACKLOG: u32 = 4000;
    let newest = format!("#{}", BACKLOG - 1);
    let mut world = World::on_own_mail_servers(&["tanaka", "sato"]);
    world.trust = "[trust]\nmode = \"from-header\"\n".into();
    world.policy.push_str("sender_mails_per_hour = 10000\n");
    // A backlog of 4,000 publishes waits before the server starts: since the
    // intake overlaps its FETCHes and commits, 1,000 were all handled before
    // the freeze could come.
    let mut presence_box = world.mailbox(&world.presence).await;
    for i in 0..BACKLOG {
        let env = ComposeEnvelope {
            from: world.mail_of("tanaka"),
            to: world.presence.clone(),
            ..Default::default()
        };
        // One second apart: the newest is the last whatever the order of handling.
        let mut fields = presence(&world, "tanaka", &format!("#{i}"), 0);
        fields.updated = fields
            .updated
            .map(|t| t + Duration::from_secs(u64::from(i)));
        let m = publish("tanaka", fields);
        presence_box.append(&mail::compose(&m, &env).unwrap()).await;
    }
    let server = world.start_server();
    assert!(
        wait_until(Duration::from_secs(30), || async { handled(&world) >= 1 }).await,
        "{}",
        server.log_text()
    );
    // Frozen in the middle of the backlog: the command in flight gets no
    // answer, nor do the reconnects (the kernel accepts, Dovecot never greets).
    let frozen = world.freeze_dovecot();
    let at_freeze = handled(&world);
    assert!(
        at_freeze < u64::from(BACKLOG),
        "frozen before the end ({at_freeze} handled)"
    );
    let noticed = wait_until(Duration::from_secs(20), || async {
        let intake = loop_state(&world, "intake");
        intake["restarts"].as_u64().is_some_and(|n| n >= 1)
            && intake["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("did not answer"))
    })
    .await;
    assert!(
        noticed,
        "the hang became an error: {}\n{}",
        world.status(),
        server.log_text()
    );
    frozen.undo();
    assert!(
        wait_until(Duration::from_secs(60), || async {
            handled(&world) == u64::from(BACKLOG)
        })
        .await,
        "all {BACKLOG} handled once Dovecot resumed: {}\n{}",
        world.status(),
        server.log_text()
    );
    let left = presence_box.wait_until_empty(Duration::from_secs(10)).await;
    assert_eq!(left, 0, "every handled mail deleted");
    assert_eq!(loop_state(&world, "intake")["state"], "running");
    // The record is the newest publish, whatever the order of handling.
    world
        .send_presence_signed(
            &world.mail_of("sato"),
            &subscribe(&world, "sato", &["tanaka"]),
        )
        .await;
    let mut sato = world.mailbox(&world.mail_of("sato")).await;
    let mails = sato.wait_for(1, Duration::from_secs(20)).await;
    let notify = presence_messages(&mails).pop().map(|(_, m)| m);
    assert!(
        matches!(&notify, Some(PresenceMessage::Notify(n)) if n.presence.activity.text.as_deref() == Some(newest.as_str())),
        "{notify:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_smtp_server_during_a_send_is_left_and_the_notify_goes_later() {
    let mut world = World::on_own_mail_servers(&["tanaka", "sato"]);
    world.trust = "[trust]\nmode = \"from-header\"\n".into();
    world.smtp_max_retry_secs = 2;
    let server = world.start_server();
    append_presence(
        &world,
        "tanaka",
        &publish("tanaka", presence(&world, "tanaka", "frozen", 4)),
    )
    .await;
    assert!(wait_until(Duration::from_secs(15), || async { handled(&world) == 1 }).await);
    let frozen = world.freeze_postfix();
    append_presence(&world, "sato", &subscribe(&world, "sato", &["tanaka"])).await;
    let waiting = wait_until(Duration::from_secs(30), || async {
        loop_state(&world, "outbox")["state"] == "waiting"
    })
    .await;
    assert!(
        waiting,
        "the send timed out and the mail waits: {}\n{}",
        world.status(),
        server.log_text()
    );
    assert_eq!(world.status()["outbox_depth"], 1);
    frozen.undo();
    let mut sato = world.mailbox(&world.mail_of("sato")).await;
    let mails = sato.wait_for(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = sato.all().await;
    assert_eq!(presence_messages(&mails).len(), 1, "{}", server.log_text());
    assert_eq!(all.len(), 1, "sent once, not twice");
    assert!(
        wait_until(Duration::from_secs(10), || async {
            loop_state(&world, "outbox")["state"] == "running"
                && world.status()["outbox_depth"] == 0
        })
        .await,
        "{}",
        world.status()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn notifies_wait_while_smtp_logins_are_refused_and_go_once_they_work() {
    let mut world = World::on_own_mail_servers(&["tanaka", "sato"]);
    // The server sends on the submission port, logged in, as in a company.
    world.security = Security::Starttls;
    world.smtp_max_retry_secs = 2;
    let server = world.start_server();
    world
        .send_presence(
            &world.mail_of("tanaka"),
            &publish("tanaka", presence(&world, "tanaka", "login", 5)),
        )
        .await;
    assert!(wait_until(Duration::from_secs(15), || async { handled(&world) == 1 }).await);
    let refused = world.smtp_logins_off();
    // Signed by the company's MTA and delivered on the MX port: no login needed.
    world
        .send_presence_signed(
            &world.mail_of("sato"),
            &subscribe(&world, "sato", &["tanaka"]),
        )
        .await;
    let says_why = wait_until(Duration::from_secs(30), || async {
        let outbox = loop_state(&world, "outbox");
        outbox["state"] == "waiting" && outbox["detail"].as_str().is_some_and(|d| d.contains("535"))
    })
    .await;
    assert!(
        says_why,
        "the status says why: {}\n{}",
        world.status(),
        server.log_text()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.status()["outbox_depth"], 1, "the Notify still waits");
    assert_eq!(
        world.status()["undeliverable_mails"],
        0,
        "a refused login ends no mail"
    );
    refused.undo();
    let mut sato = world.mailbox(&world.mail_of("sato")).await;
    let mails = sato.wait_for(1, Duration::from_secs(30)).await;
    let notify = presence_messages(&mails).pop().map(|(_, m)| m);
    assert!(
        matches!(&notify, Some(PresenceMessage::Notify(n)) if n.presence.activity.text.as_deref() == Some("login")),
        "{notify:?}\n{}",
        server.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(10), || async {
            world.status()["outbox_depth"] == 0
                && loop_state(&world, "outbox")["state"] == "running"
        })
        .await,
        "{}",
        world.status()
    );
}
