//! Senders proven, not claimed: presence mails through real Postfix with
//! OpenDKIM (signing what phones submit with a login, verifying what arrives
//! on the inbound port) and Dovecot. A phone's Publish and Subscribe are
//! applied; the same mails forged from the internet change nothing and are
//! answered by nothing — in both the `authentication-results` and `dkim` modes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mailpresence_e2e::{ServerProcess, World, presence_messages, wait_until};
use mailpresence_protocol::mail::{
    self, ComposeEnvelope, Limits, Outcome, PresenceMessage, Publish, Subscribe, SubscribeMode,
};
use mailpresence_protocol::model::{Activity, PresenceFields, parse_timestamp};

const HOP: Duration = Duration::from_secs(20);
/// The envelope sender of a forger on the internet.
const FORGER: &str = "forger@outside.test";

fn presence(world: &World, activity: &str, updated: &str) -> PresenceFields {
    let mut f = PresenceFields::new(world.mail_of("tanaka"), Activity::parse(activity).unwrap());
    f.location = Some("東京都千代田区丸の内一丁目".into());
    f.updated = Some(parse_timestamp(updated).unwrap());
    f
}

fn publish(fields: PresenceFields) -> PresenceMessage {
    PresenceMessage::Publish(Publish {
        publisher: "tanaka".parse().unwrap(),
        presence: fields,
    })
}

fn subscribe(world: &World) -> PresenceMessage {
    PresenceMessage::Subscribe(Subscribe {
        watcher: "sato".parse().unwrap(),
        notifiers: vec!["tanaka".parse().unwrap()],
        send_to: world.mail_of("sato"),
        mode: SubscribeMode::Once,
        expires: None,
    })
}

/// A presence mail from tanaka's address, as raw text.
fn compose(world: &World, message: &PresenceMessage) -> String {
    let env = ComposeEnvelope {
        from: world.mail_of("tanaka"),
        to: world.presence.clone(),
        message_id: Some(format!("<{}@forger.test>", mailpresence_e2e::tag())),
        in_reply_to: None,
    };
    String::from_utf8(mail::compose(message, &env).unwrap()).unwrap()
}

/// `raw` with a DKIM signature by `domain`'s key (made by mail-servers.sh).
fn signed_by(world: &World, domain: &str, raw: &str) -> String {
    String::from_utf8(world.sign_as(domain, raw.as_bytes())).unwrap()
}

/// The four forgeries an attacker on the internet can send as tanaka, each
/// trying to set another activity; each is injected on the inbound port.
async fn send_forgeries(world: &World) -> usize {
    let tanaka = world.mail_of("tanaka");
    let forged = |activity: &str, minute: u32| {
        compose(
            world,
            &publish(presence(
                world,
                activity,
                &format!("2026-11-26T10:{minute:02}:00+09:00"),
            )),
        )
    };
    let no_signature = forged("vacation — 無署名", 1);
    // Signed with the company's own key, then changed on the way (a signed
    // header is rewritten).
    let broken = signed_by(world, "example.test", &forged("vacation — 改竄", 2))
        .replace("@forger.test>", "@forger.example>");
    assert!(broken.contains("@forger.example>"));
    let stranger = signed_by(world, "other.test", &forged("vacation — 他社署名", 3));
    let fake_results = format!(
        "Authentication-Results: {}; dkim=pass header.d=example.test header.s=mail\r\n{}",
        world.servers.authserv_id,
        forged("vacation — 偽の認証結果", 4)
    );
    let mails = [no_signature, broken, stranger, fake_results];
    // The inbound port refuses tanaka's address as envelope sender from
    // anyone not logged in as tanaka (as a company MX does by SPF): the
    // forger uses his own, and the mails still arrive.
    assert!(
        world
            .try_send(&tanaka, &world.presence, mails[0].as_bytes())
            .await
            .is_err()
    );
    for raw in &mails {
        world.send(FORGER, &world.presence, raw.as_bytes()).await;
    }
    mails.len()
}

/// `[trust]` in `dkim` mode with the test mail servers' keys in place of DNS.
fn dkim_trust(world: &World) -> String {
    let keys = std::fs::read_to_string(world.servers.dkim_dir.join("keys.txt")).unwrap();
    let mut trust = String::from("[trust]\nmode = \"dkim\"\n");
    for line in keys.lines() {
        let (name, record) = line.split_once(' ').unwrap();
        trust.push_str(&format!(
            "[[trust.dkim_key]]\nname = \"{name}\"\nrecord = \"{record}\"\n"
        ));
    }
    trust
}

/// The whole story in one mode: the phone's mails count, forgeries do not.
async fn phones_count_and_forgeries_do_not(world: World, reasons: &[&str]) {
    let server = world.start_server();
    let good = presence(&world, "on-site — 設備点検中", "2026-11-26T09:00:00+09:00");
    world
        .send_presence(&world.mail_of("tanaka"), &publish(good.clone()))
        .await;
    assert!(
        wait_until(HOP, || async { world.status()["records"] == 1 }).await,
        "the phone's Publish was applied:\n{}",
        server.log_text()
    );
    let forgeries = send_forgeries(&world).await;
    assert!(
        wait_until(HOP, || async {
            world.status()["mails_handled"] == 1 + forgeries as u64
        })
        .await,
        "{}\n{}",
        world.status(),
        server.log_text()
    );
    let log = server.log_text();
    assert_eq!(
        log.matches("refused: sender not proven").count(),
        forgeries,
        "{log}"
    );
    for reason in reasons {
        assert!(log.contains(reason), "the log names {reason:?}:\n{log}");
    }
    // A Subscribe from sato's phone is applied and sees the phone's presence.
    world
        .send_presence(&world.mail_of("sato"), &subscribe(&world))
        .await;
    let mails = world
        .mailbox(&world.mail_of("sato"))
        .await
        .wait_for(1, HOP)
        .await;
    let notifies = presence_messages(&mails);
    assert_eq!(notifies.len(), 1, "{}", server.log_text());
    assert!(
        matches!(&notifies[0].1, PresenceMessage::Notify(n) if n.presence == good),
        "{notifies:?}"
    );
    // Nothing was answered to the forger's address.
    assert!(
        world
            .mailbox(&world.mail_of("tanaka"))
            .await
            .all()
            .await
            .is_empty()
    );
    drop::<ServerProcess>(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_results_of_the_company_mta_decide() {
    let world = World::new(&["tanaka", "sato"]);
    let id = world.servers.authserv_id.clone();
    phones_count_and_forgeries_do_not(
        world,
        &[
            &format!("Authentication-Results from {id} shows no DKIM pass"),
            "dkim=none",
            "dkim=fail",
            "dkim=pass header.d=other.test",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dkim_verified_by_the_server_decides() {
    let mut world = World::new(&["tanaka", "sato"]);
    world.trust = dkim_trust(&world);
    // The forger's own envelope is checked first, before any key lookup.
    phones_count_and_forgeries_do_not(world, &["the envelope sender (Return-Path)"]).await;
}

/// sato logs in to the company's submission server as himself and types
/// tanaka's address in From. Postfix signs it (DKIM for the company's domain)
/// and, since it binds the envelope sender to the login, delivers it with
/// sato's Return-Path: the server must not take it as tanaka's.
async fn a_colleague_cannot_speak_for_another(mut world: World) {
    // A low hourly quota: were sato's forgeries counted as tanaka's mails,
    // tanaka's own Publish below would be refused for the hour.
    world.policy = "sender_mails_per_hour = 2".into();
    let server = world.start_server();
    let good = presence(&world, "on-site — 設備点検中", "2026-11-26T09:00:00+09:00");
    world
        .send_presence(&world.mail_of("tanaka"), &publish(good.clone()))
        .await;
    assert!(
        wait_until(HOP, || async { world.status()["records"] == 1 }).await,
        "{}",
        server.log_text()
    );
    let forged_by_sato = 3;
    for minute in 0..forged_by_sato {
        let later = format!("2026-11-26T10:{minute:02}:00+09:00");
        let raw = compose(
            &world,
            &publish(presence(&world, "vacation — 同僚の偽装", &later)),
        );
        world
            .submit(&world.mail_of("sato"), &world.presence, raw.as_bytes())
            .await;
    }
    assert!(
        wait_until(HOP, || async {
            world.status()["mails_handled"] == 1 + forged_by_sato
        })
        .await,
        "{}\n{}",
        world.status(),
        server.log_text()
    );
    let log = server.log_text();
    assert_eq!(
        log.matches("the envelope sender (Return-Path)").count(),
        forged_by_sato as usize,
        "{log}"
    );
    // tanaka's own phone still speaks for tanaka (the forgeries did not use
    // up tanaka's quota), and what watchers get is tanaka's presence.
    let later = presence(&world, "meeting — 定例", "2026-11-26T11:00:00+09:00");
    world
        .send_presence(&world.mail_of("tanaka"), &publish(later.clone()))
        .await;
    world
        .send_presence(&world.mail_of("sato"), &subscribe(&world))
        .await;
    let mails = world
        .mailbox(&world.mail_of("sato"))
        .await
        .wait_for(1, HOP)
        .await;
    let notifies = presence_messages(&mails);
    assert!(
        matches!(&notifies[..], [(_, PresenceMessage::Notify(n))] if n.presence == later),
        "{notifies:?}\n{}",
        server.log_text()
    );
    drop::<ServerProcess>(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_colleague_logged_in_as_himself_cannot_publish_as_another() {
    a_colleague_cannot_speak_for_another(World::new(&["tanaka", "sato"])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nor_with_dkim_verified_by_the_server() {
    let mut world = World::new(&["tanaka", "sato"]);
    world.trust = dkim_trust(&world);
    a_colleague_cannot_speak_for_another(world).await;
}

/// sato's forgery, signed by the company's submission server because sato
/// logged in, fetched from his own mailbox and sent again to the inbound port
/// with tanaka's address as envelope sender: the inbound port refuses it, so
/// the DKIM pass never travels with tanaka's Return-Path.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_forgery_replayed_with_the_victims_envelope_is_refused() {
    let world = World::new(&["tanaka", "sato"]);
    let sato = world.mail_of("sato");
    let raw = compose(
        &world,
        &publish(presence(
            &world,
            "vacation — 再送",
            "2026-11-26T10:00:00+09:00",
        )),
    );
    world.submit(&sato, &sato, raw.as_bytes()).await;
    let signed = world.mailbox(&sato).await.wait_for(1, HOP).await;
    let signed = signed.first().expect("sato's own copy");
    assert!(
        String::from_utf8_lossy(signed).contains("DKIM-Signature:"),
        "the company signed sato's mail"
    );
    let refused = world
        .try_send(&world.mail_of("tanaka"), &world.presence, signed)
        .await
        .expect_err("the inbound port refuses tanaka's envelope from a stranger");
    assert!(refused.contains("not logged in"), "{refused}");
}

/// A forger who guesses the Message-ID of tanaka's next mail and sends it
/// first must not make the real one a "repeat": only a proven sender's
/// Message-ID marks a mail handled.
#[tokio::test(flavor = "multi_thread")]
async fn a_forgers_copy_of_a_message_id_does_not_drop_the_real_mail() {
    let world = World::new(&["tanaka", "sato"]);
    let server = world.start_server();
    let message_id = format!("<{}@example.test>", mailpresence_e2e::tag());
    let with_id = |activity: &str| {
        let env = ComposeEnvelope {
            from: world.mail_of("tanaka"),
            to: world.presence.clone(),
            message_id: Some(message_id.clone()),
            in_reply_to: None,
        };
        let fields = presence(&world, activity, "2026-11-26T09:00:00+09:00");
        mail::compose(&publish(fields), &env).unwrap()
    };
    world
        .send(FORGER, &world.presence, &with_id("vacation — 先取り"))
        .await;
    assert!(
        wait_until(HOP, || async { world.status()["mails_handled"] == 1 }).await,
        "{}",
        server.log_text()
    );
    world
        .submit(
            &world.mail_of("tanaka"),
            &world.presence,
            &with_id("on-site — 本物"),
        )
        .await;
    assert!(
        wait_until(HOP, || async { world.status()["records"] == 1 }).await,
        "the real mail was applied, not dropped as a repeat:\n{}",
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_ignores_a_forged_notify_in_its_mailbox() {
    let mut world = World::new(&["tanaka", "sato"]);
    world.security = mailpresence_e2e::Security::Starttls;
    let config = world.terminal_config("sato");
    let config = config.to_str().unwrap();
    // A stranger mails sato a Notify "from" the presence server.
    let mut fields = presence(&world, "vacation — 偽物", "2026-11-26T11:00:00+09:00");
    fields.contact = "call-me@evil.test".into();
    let env = ComposeEnvelope {
        from: world.presence.clone(),
        to: world.mail_of("sato"),
        message_id: Some(format!("<{}@forger.test>", mailpresence_e2e::tag())),
        in_reply_to: None,
    };
    let notify = PresenceMessage::Notify(mail::Notify {
        notifier: "tanaka".parse().unwrap(),
        presence: fields,
    });
    let raw = mail::compose(&notify, &env).unwrap();
    assert!(matches!(
        mail::parse(&raw, Limits::default()).outcome,
        Outcome::Presence(PresenceMessage::Notify(_))
    ));
    world.send(FORGER, &world.mail_of("sato"), &raw).await;
    let mut inbox = world.mailbox(&world.mail_of("sato")).await;
    assert_eq!(inbox.wait_for(1, HOP).await.len(), 1);

    // sato's phone looks tanaka up (no server runs: only the forgery is there).
    let out = world.mailpresence(&["lookup", "tanaka", "--timeout", "4", "--config", config]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !shown.contains("偽物") && !shown.contains("evil.test"),
        "{shown}"
    );
    assert!(
        shown.trim().is_empty(),
        "nothing shown as presence: {shown}"
    );
    // Still in the inbox, still unread: it is the user's mail.
    assert_eq!(inbox.all().await.len(), 1);
    assert_eq!(inbox.count_unseen().await, 1);
}
