//! Two presence servers on one PostgreSQL database (README "Two instances"):
//! one takes mail in (it holds the intake lock), the other waits; the holder
//! is killed with SIGKILL in a burst of 500 Publish mails and the other takes
//! over. Every mail is applied once, the takeover times are printed, no
//! Notify mail goes out twice, and desk phones subscribed through Kamailio's
//! dispatcher (to the killed one) and through the survivor go on hearing.
//!
//! Needs MAILPRESENCE_POSTGRES_URL (scripts/test.sh starts a throwaway
//! PostgreSQL; by hand: `eval "$(scripts/postgres-server.sh start DIR)"`).
//! And a desk phone (SIPp) subscribed through the instance that does not
//! take mail in hears a field worker's mail publish handled by the other.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailpresence_e2e::phones::Registrar;
use mailpresence_e2e::{
    ServerProcess, World, free_port, presence_messages, sipp_passed, wait_until,
};
use mailpresence_protocol::mail::{
    self, ComposeEnvelope, PresenceMessage, Publish, Subscribe, SubscribeMode,
};
use mailpresence_protocol::model::{Activity, PresenceFields, ScheduleEntry, parse_timestamp};

/// What an instance logs when it starts taking mail in.
const TAKES_MAIL: &str = "this instance takes mail in now";
/// What an instance logs when it took over another's SIP subscriptions.
const TAKES_DIALOGS: &str = "SIP subscriptions taken over from the store";

fn postgres_url() -> String {
    std::env::var("MAILPRESENCE_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "MAILPRESENCE_POSTGRES_URL is not set: this test runs two servers on one PostgreSQL. \
             Start one with\n  eval \"$(scripts/postgres-server.sh start /tmp/mailpresence-postgres)\""
        )
    })
}

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

/// Gives `world` the shared store: a fresh schema of the test PostgreSQL.
fn on_postgres(world: &mut World) {
    world.extra_sections = format!(
        "[store]\nurl = \"{}\"\nschema = \"e2e_{}\"\n",
        postgres_url(),
        world.tag
    );
}

fn handled(world: &World) -> u64 {
    world.status()["mails_handled"].as_u64().unwrap_or(0)
}

/// 100 Publish mails per person, each newer than the last, signed as the
/// company's mail system signs them, each person's in order.
async fn burst(world: &World, publishers: &[&str]) {
    let sends = publishers.iter().map(|who| async move {
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
    });
    futures::future::join_all(sends).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intake_holder_killed_in_a_burst_of_500_publishes_is_replaced_and_nothing_is_doubled() {
    let publishers = ["p1", "p2", "p3", "p4", "p5"];
    let mut accounts: Vec<&str> = publishers.to_vec();
    accounts.extend(["watcher", "sato:desk", "suzuki:desk"]);
    let mut world = World::new(&accounts).with_sip();
    on_postgres(&mut world);
    // Both instances run on the same database with the same signing key (in
    // the storage folder), each on a SIP port of its own; the first takes
    // mail in, the second waits.
    let mut holder = world.start_server();
    assert!(
        holder
            .wait_for_log(TAKES_MAIL, Duration::from_secs(10))
            .await,
        "{}",
        holder.log_text()
    );
    let (survivor, survivor_port) = second_instance(&world);
    let survivor_addr = std::net::SocketAddr::from(([127, 0, 0, 1], survivor_port));
    // Kamailio's dispatcher sends to the holder first, to the survivor when
    // the holder does not answer.
    let dispatcher =
        Registrar::dispatching(&world.servers.domain, &[world.sip_addr(), survivor_addr]);

    world
        .send_presence(
            &world.mail_of("watcher"),
            &subscribe(&world, "watcher", &publishers),
        )
        .await;
    for who in publishers {
        world
            .send_presence(
                &world.mail_of(who),
                &publish(who, presence(&world, who, "before", 0)),
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
    // Two desk phones watch p1: sato's through Kamailio (to the holder),
    // suzuki's through the survivor.
    let scenario = "watch_through_failover.xml";
    let through_kamailio = world.sipp_at(dispatcher.addr, scenario, "p1", "sato", &[]);
    let through_survivor = world.sipp_at(survivor_addr, scenario, "p1", "suzuki", &[]);
    assert!(
        wait_until(Duration::from_secs(15), || async {
            world.status()["open_watches"] == 2
        })
        .await,
        "{}\n{}",
        world.status(),
        dispatcher.describe()
    );

    // 500 Publish mails arrive; the holder is killed while they do, with
    // some handled and more on the way.
    let kill = async {
        assert!(
            wait_until(Duration::from_secs(30), || async { handled(&world) >= 26 }).await,
            "{}",
            holder.log_text()
        );
        let at_kill = handled(&world);
        holder.kill9();
        let killed = Instant::now();
        assert!(
            survivor
                .wait_for_log(TAKES_MAIL, Duration::from_secs(10))
                .await,
            "the survivor took mail in:\n{}",
            survivor.log_text()
        );
        let intake = killed.elapsed();
        assert!(
            survivor
                .wait_for_log(TAKES_DIALOGS, Duration::from_secs(10))
                .await,
            "the survivor took the holder's SIP subscriptions over:\n{}",
            survivor.log_text()
        );
        (at_kill, intake, killed.elapsed())
    };
    let ((), (at_kill, intake_takeover, dialog_takeover)) =
        futures::join!(burst(&world, &publishers), kill);
    assert!(at_kill < 506, "killed before the end ({at_kill} handled)");
    eprintln!(
        "two instances: killed the intake holder with {at_kill} of 506 mails handled; \
         the survivor took mail in after {} ms and the holder's SIP subscriptions after {} ms",
        intake_takeover.as_millis(),
        dialog_takeover.as_millis()
    );
    assert!(
        wait_until(Duration::from_secs(60), || async { handled(&world) == 506 }).await,
        "all 500 applied by the survivor: {}",
        world.status()
    );

    // p1 publishes once more by mail: both desk phones hear it (each heard
    // p1's burst on the way), and refresh; sato's refresh goes to the dead
    // instance first, then on to the survivor.
    world
        .send_presence(
            &world.mail_of("p1"),
            &publish("p1", presence(&world, "p1", "after", 200)),
        )
        .await;
    for (phone, sipp) in [
        ("through Kamailio", through_kamailio),
        ("through the survivor", through_survivor),
    ] {
        let (ok, err) = sipp_passed(sipp).await;
        assert!(
            ok,
            "SIPp desk phone {phone}: {err}\n{}\n--- survivor:\n{}\n{}",
            world.sipp_errors(),
            survivor.log_text(),
            dispatcher.describe()
        );
    }
    assert!(
        dispatcher.log_text().contains(&format!(
            "instance down; SUBSCRIBE goes to sip:{survivor_addr}"
        )),
        "{}",
        dispatcher.describe()
    );

    // Every publisher's record is their newest publish, answered by the survivor.
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
    for who in publishers {
        let latest = notifies[5..].iter().find_map(|(_, m)| match m {
            PresenceMessage::Notify(n) if n.notifier.as_str() == who => {
                n.presence.activity.text.clone()
            }
            _ => None,
        });
        let newest = if who == "p1" { "after" } else { "#99" };
        assert_eq!(
            latest.as_deref(),
            Some(newest),
            "{who}'s newest publish is the record"
        );
    }
    let left = world
        .mailbox(&world.presence)
        .await
        .wait_until_empty(Duration::from_secs(10))
        .await;
    assert_eq!(
        left, 0,
        "every handled mail deleted from the presence mailbox"
    );
}

/// The second instance: the same configuration but its own SIP port, started
/// after `world`'s first took mail in. Returns it and its SIP port.
fn second_instance(world: &World) -> (ServerProcess, u16) {
    let sip_port = free_port();
    let first_port = world.sip_addr().port();
    let text = std::fs::read_to_string(world.config_path())
        .unwrap()
        .replace(
            &format!("listen = \"127.0.0.1:{first_port}\""),
            &format!("listen = \"127.0.0.1:{sip_port}\""),
        );
    let second_config = world.dir.path().join("second.toml");
    std::fs::write(&second_config, text).unwrap();
    let second = ServerProcess::start(&second_config, &world.dir.path().join("second.log"));
    second.wait_until_running();
    assert!(!second.log_text().contains(TAKES_MAIL));
    (second, sip_port)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desk_phone_on_the_instance_that_does_not_take_mail_in_hears_a_mail_publish() {
    let mut world = World::new(&["tanaka:field", "sato:desk"]).with_sip();
    on_postgres(&mut world);
    let intake = world.start_server();
    assert!(
        intake
            .wait_for_log(TAKES_MAIL, Duration::from_secs(10))
            .await
    );
    let (desk, sip_port) = second_instance(&world);

    // sato's desk phone watches tanaka through the second instance.
    let sipp = world.sipp_at(
        std::net::SocketAddr::from(([127, 0, 0, 1], sip_port)),
        "watch_before_publish.xml",
        "tanaka",
        "sato",
        &[],
    );
    assert!(
        wait_until(Duration::from_secs(15), || async {
            world.status()["open_watches"] == 1
        })
        .await,
        "{}",
        desk.log_text()
    );
    // tanaka publishes by mail: the first instance handles it.
    let mut f = PresenceFields::new(
        world.mail_of("tanaka"),
        Activity::parse("on-site — 設備点検中").unwrap(),
    );
    f.location = Some("東京都千代田区丸の内一丁目".into());
    f.schedule = vec![ScheduleEntry::parse("15:00 帰社予定")];
    f.updated = Some(parse_timestamp("2026-11-26T13:05:00+09:00").unwrap());
    world
        .send_presence(&world.mail_of("tanaka"), &publish("tanaka", f))
        .await;
    let (ok, err) = sipp_passed(sipp).await;
    assert!(
        ok,
        "SIPp watcher on the second instance: {err}\n{}\n--- first:\n{}\n--- second:\n{}",
        world.sipp_errors(),
        intake.log_text(),
        desk.log_text()
    );
}
