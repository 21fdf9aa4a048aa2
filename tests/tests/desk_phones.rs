//! Real desk phones from Debian against the presence server, set up the way
//! an office would: baresip talking to the server alone, linphonec (which,
//! like most desk phones, must REGISTER first) at the server's own registrar,
//! and both behind Kamailio as the company's registrar. In each story the
//! desk colleagues see each other's status and a field worker's (who
//! publishes and asks by mail), and after a server restart the phones still
//! follow changes without anyone touching them. Then the same over TCP and
//! TLS, and with every phone proving its password (digest).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mailpresence_core::mail::{PresenceMessage, Publish, Subscribe, SubscribeMode};
use mailpresence_core::model::{Activity, ActivityToken, PresenceFields};
use mailpresence_e2e::phones::{Baresip, DeskAccount, Linphonec, Registrar, world_aor};
use mailpresence_e2e::{ServerProcess, World, presence_messages};

/// A status change from one phone shown on another (the server's SIP
/// throttle is one second here).
const SEEN: Duration = Duration::from_secs(10);
/// A field worker's mail through Postfix, Dovecot and the server.
const BY_MAIL: Duration = Duration::from_secs(20);
/// A planned restart ends TCP and TLS subscriptions (their connections go);
/// baresip subscribes again 5 s after a `deactivated` NOTIFY.
const BARESIP_RESUBSCRIBES: Duration = Duration::from_secs(20);
/// linphonec ignores the reason and subscribes again only once it has
/// registered again: at once when the server is back before its immediate
/// retry of the lost connection, else 60 s later (belle-sip's `[sip]
/// refresher_retry_after`, left at its default here).
const LINPHONEC_RESUBSCRIBES: Duration = Duration::from_secs(90);

/// Desk colleagues and field workers; the SIP side on with its defaults
/// (NOTIFYs at most a second apart; the 60 s interval is for mail).
fn office(accounts: &[&str]) -> World {
    World::new(accounts).with_sip()
}

/// The server's log and each phone's, for a failure message.
fn evidence(server: &ServerProcess, phones: &[String]) -> String {
    format!(
        "{}\n--- server log:\n{}",
        phones.join("\n"),
        server.log_text()
    )
}

/// The field worker, at a customer's site, publishes "busy" from their phone.
async fn field_worker_is_busy(world: &World) {
    let presence = PresenceFields::new(
        world.mail_of("tanaka"),
        Activity::parse("busy — 顧客対応中").unwrap(),
    );
    let publish = PresenceMessage::Publish(Publish {
        publisher: "tanaka".parse().unwrap(),
        presence,
    });
    world
        .send_presence(&world.mail_of("tanaka"), &publish)
        .await;
}

/// The field worker asks by mail how the desk colleagues are; returns the
/// activity each Notify mail reports, by colleague.
async fn field_worker_asks_about(
    world: &World,
    colleagues: &[&str],
) -> Vec<(String, Option<ActivityToken>)> {
    let subscribe = PresenceMessage::Subscribe(Subscribe {
        watcher: "tanaka".parse().unwrap(),
        notifiers: colleagues.iter().map(|c| c.parse().unwrap()).collect(),
        send_to: world.mail_of("tanaka"),
        mode: SubscribeMode::Once,
        expires: None,
    });
    world
        .send_presence(&world.mail_of("tanaka"), &subscribe)
        .await;
    let mut inbox = world.mailbox(&world.mail_of("tanaka")).await;
    let mails = inbox.wait_for(colleagues.len(), BY_MAIL).await;
    let mut seen: Vec<(String, Option<ActivityToken>)> = presence_messages(&mails)
        .into_iter()
        .filter_map(|(_, m)| match m {
            PresenceMessage::Notify(n) => {
                Some((n.notifier.as_str().to_owned(), n.presence.activity.token))
            }
            _ => None,
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn two_baresip_desk_phones_and_a_field_worker_see_each_other() {
    let world = office(&["tanaka:field", "sato:desk", "yamada:desk"]);
    let server = world.start_server();
    let (sato_uri, yamada_uri, tanaka_uri) = (
        world_aor(&world, "sato"),
        world_aor(&world, "yamada"),
        world_aor(&world, "tanaka"),
    );
    let sato = Baresip::start(
        &DeskAccount::standalone(&world, "sato"),
        &[&yamada_uri, &tanaka_uri],
    )
    .await;
    let yamada = Baresip::start(
        &DeskAccount::standalone(&world, "yamada"),
        &[&sato_uri, &tanaka_uri],
    )
    .await;
    let why = || evidence(&server, &[sato.describe(), yamada.describe()]);

    sato.set_online().await;
    yamada.set_online().await;
    assert!(
        yamada.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "yamada's phone does not show sato online\n{}",
        why()
    );
    assert!(
        sato.wait_for_presence(&yamada_uri, "Online", SEEN).await,
        "sato's phone does not show yamada online\n{}",
        why()
    );

    field_worker_is_busy(&world).await;
    for phone in [&sato, &yamada] {
        assert!(
            phone.wait_for_presence(&tanaka_uri, "Busy", BY_MAIL).await,
            "{}'s phone does not show the field worker busy\n{}",
            phone.account.aor,
            why()
        );
    }
    assert_eq!(
        field_worker_asks_about(&world, &["sato", "yamada"]).await,
        vec![
            ("sato".to_owned(), Some(ActivityToken::Available)),
            ("yamada".to_owned(), Some(ActivityToken::Available)),
        ],
        "the field worker's phone reads both desk colleagues as available\n{}",
        why()
    );

    yamada.set_offline().await;
    assert!(
        sato.wait_for_presence(&yamada_uri, "Offline", SEEN).await,
        "sato's phone still shows yamada online after yamada went offline\n{}",
        why()
    );
}

/// linphonec REGISTERs before it publishes or subscribes. With the server's
/// built-in registrar (`[sip] registrar = true`) it needs nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn linphonec_registers_at_the_presence_server_itself() {
    let mut world = office(&["linda:desk", "sato:desk"]);
    world.sip_extra = "registrar = true\n".into();
    let server = world.start_server();
    let (linda_uri, sato_uri) = (world_aor(&world, "linda"), world_aor(&world, "sato"));
    let linda = Linphonec::start(
        &DeskAccount::registering_at(&world, "linda", world.sip_addr()),
        &[&sato_uri],
    )
    .await;
    let sato = Baresip::start(&DeskAccount::standalone(&world, "sato"), &[&linda_uri]).await;
    let why = || evidence(&server, &[linda.describe(), sato.describe()]);

    sato.set_online().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "linda's linphonec does not show sato online\n{}",
        why()
    );
    assert!(
        sato.wait_for_presence(&linda_uri, "Online", SEEN).await,
        "sato's phone does not show linda (linphonec running) online\n{}",
        why()
    );
    sato.set_offline().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Offline", SEEN).await,
        "linda's linphonec still shows sato online\n{}",
        why()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_kamailio_linphonec_and_baresip_see_each_other_and_the_field_worker() {
    let world = office(&["tanaka:field", "linda:desk", "sato:desk"]);
    let server = world.start_server();
    let kamailio = Registrar::start(&world.servers.domain, world.sip_addr());
    let (linda_uri, sato_uri, tanaka_uri) = (
        world_aor(&world, "linda"),
        world_aor(&world, "sato"),
        world_aor(&world, "tanaka"),
    );
    let mut linda = Linphonec::start(
        &DeskAccount::registering_at(&world, "linda", kamailio.addr),
        &[&sato_uri, &tanaka_uri],
    )
    .await;
    let sato = Baresip::start(
        &DeskAccount::registering_at(&world, "sato", kamailio.addr),
        &[&linda_uri, &tanaka_uri],
    )
    .await;
    let why = || {
        evidence(
            &server,
            &[linda.describe(), sato.describe(), kamailio.describe()],
        )
    };

    sato.set_online().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "linda's linphonec does not show sato online\n{}",
        why()
    );
    assert!(
        sato.wait_for_presence(&linda_uri, "Online", SEEN).await,
        "sato's phone does not show linda (linphonec running) online\n{}",
        why()
    );

    field_worker_is_busy(&world).await;
    assert!(
        linda.wait_for_presence(&tanaka_uri, "Busy", BY_MAIL).await,
        "linda's linphonec does not show the field worker busy\n{}",
        why()
    );
    assert!(
        sato.wait_for_presence(&tanaka_uri, "Busy", SEEN).await,
        "sato's phone does not show the field worker busy\n{}",
        why()
    );

    sato.set_offline().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Offline", SEEN).await,
        "linda's linphonec still shows sato online\n{}",
        why()
    );
    // Linda goes home: quitting linphonec removes her publication.
    linda.quit().await;
    assert!(
        sato.wait_for_presence(&linda_uri, "Offline", SEEN).await,
        "sato's phone still shows linda online after she quit linphonec\n{}",
        evidence(
            &server,
            &[linda.describe(), sato.describe(), kamailio.describe()]
        )
    );
}

/// Both phones subscribed; the server restarts (as after an update or a
/// crash); a status change still reaches the other phone, and nobody touches
/// the phone that is to show it.
#[tokio::test(flavor = "multi_thread")]
async fn baresip_phones_follow_changes_across_a_server_restart() {
    let world = office(&["sato:desk", "yamada:desk"]);
    let mut server = world.start_server();
    let (sato_uri, yamada_uri) = (world_aor(&world, "sato"), world_aor(&world, "yamada"));
    let sato = Baresip::start(&DeskAccount::standalone(&world, "sato"), &[&yamada_uri]).await;
    let yamada = Baresip::start(&DeskAccount::standalone(&world, "yamada"), &[&sato_uri]).await;
    sato.set_online().await;
    yamada.set_online().await;
    for (phone, other) in [(&sato, &yamada_uri), (&yamada, &sato_uri)] {
        assert!(
            phone.wait_for_presence(other, "Online", SEEN).await,
            "{} does not show {other} online before the restart\n{}",
            phone.account.aor,
            evidence(&server, &[sato.describe(), yamada.describe()])
        );
    }

    server.restart();
    sato.set_offline().await;
    assert!(
        yamada.wait_for_presence(&sato_uri, "Offline", SEEN).await,
        "after the server restarted, yamada's phone no longer follows sato\n{}",
        evidence(&server, &[sato.describe(), yamada.describe()])
    );
    yamada.set_offline().await;
    assert!(
        sato.wait_for_presence(&yamada_uri, "Offline", SEEN).await,
        "after the server restarted, sato's phone no longer follows yamada\n{}",
        evidence(&server, &[sato.describe(), yamada.describe()])
    );
}

/// The same behind the company's Kamailio, with linphonec watching.
#[tokio::test(flavor = "multi_thread")]
async fn behind_kamailio_phones_follow_changes_across_a_server_restart() {
    let world = office(&["linda:desk", "sato:desk"]);
    let mut server = world.start_server();
    let kamailio = Registrar::start(&world.servers.domain, world.sip_addr());
    let (linda_uri, sato_uri) = (world_aor(&world, "linda"), world_aor(&world, "sato"));
    let mut linda = Linphonec::start(
        &DeskAccount::registering_at(&world, "linda", kamailio.addr),
        &[&sato_uri],
    )
    .await;
    let sato = Baresip::start(
        &DeskAccount::registering_at(&world, "sato", kamailio.addr),
        &[&linda_uri],
    )
    .await;
    sato.set_online().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Online", SEEN).await
            && sato.wait_for_presence(&linda_uri, "Online", SEEN).await,
        "the phones do not see each other online before the restart\n{}",
        evidence(
            &server,
            &[linda.describe(), sato.describe(), kamailio.describe()]
        )
    );

    server.restart();
    sato.set_offline().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Offline", SEEN).await,
        "after the server restarted, linda's linphonec no longer follows sato\n{}",
        evidence(
            &server,
            &[linda.describe(), sato.describe(), kamailio.describe()]
        )
    );
    linda.quit().await;
    assert!(
        sato.wait_for_presence(&linda_uri, "Offline", SEEN).await,
        "after the server restarted, sato's phone no longer follows linda\n{}",
        evidence(
            &server,
            &[linda.describe(), sato.describe(), kamailio.describe()]
        )
    );
}

/// Over TCP a subscription lives on its connection, which a planned stop
/// closes: the server ends it first, and linphonec (registered at the
/// server's own registrar, as a phone that must register is) subscribes
/// again on its own once it has registered again. Nobody touches it.
#[tokio::test(flavor = "multi_thread")]
async fn linphonec_over_tcp_follows_changes_across_a_planned_restart() {
    let mut world = office(&["linda:desk", "sato:desk"]);
    world.sip_extra = "registrar = true\n".into();
    let mut server = world.start_server();
    let (linda_uri, sato_uri) = (world_aor(&world, "linda"), world_aor(&world, "sato"));
    let linda = Linphonec::start(
        &DeskAccount::registering_at(&world, "linda", world.sip_addr()).over_tcp(),
        &[&sato_uri],
    )
    .await;
    let sato = Baresip::start(&DeskAccount::standalone(&world, "sato"), &[&linda_uri]).await;
    sato.set_online().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "linda's linphonec (TCP) does not show sato online\n{}",
        evidence(&server, &[linda.describe(), sato.describe()])
    );

    server.restart_gracefully();
    sato.set_offline().await;
    assert!(
        linda
            .wait_for_presence(&sato_uri, "Offline", LINPHONEC_RESUBSCRIBES)
            .await,
        "after a planned restart, linda's linphonec (TCP) no longer follows sato\n{}",
        evidence(&server, &[linda.describe(), sato.describe()])
    );
    sato.set_online().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "linda's linphonec (TCP) does not show sato back online\n{}",
        evidence(&server, &[linda.describe(), sato.describe()])
    );
}

/// The same with baresip over TCP, which honours the reason the server
/// gives when it ends the subscription (`deactivated`: again at once).
#[tokio::test(flavor = "multi_thread")]
async fn baresip_over_tcp_follows_changes_across_a_planned_restart() {
    let world = office(&["sato:desk", "yamada:desk"]);
    let mut server = world.start_server();
    let (sato_uri, yamada_uri) = (world_aor(&world, "sato"), world_aor(&world, "yamada"));
    let yamada = Baresip::start(
        &DeskAccount::standalone(&world, "yamada").over_tcp(),
        &[&sato_uri],
    )
    .await;
    let sato = Baresip::start(&DeskAccount::standalone(&world, "sato"), &[&yamada_uri]).await;
    sato.set_online().await;
    assert!(
        yamada.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "yamada's phone (TCP) does not show sato online\n{}",
        evidence(&server, &[yamada.describe(), sato.describe()])
    );

    server.restart_gracefully();
    sato.set_offline().await;
    assert!(
        yamada
            .wait_for_presence(&sato_uri, "Offline", BARESIP_RESUBSCRIBES)
            .await,
        "after a planned restart, yamada's phone (TCP) no longer follows sato\n{}",
        evidence(&server, &[yamada.describe(), sato.describe()])
    );
}

/// A desk phone on SIP over TLS (port 5061 in an office) and one on plain
/// UDP see each other's status both ways.
#[tokio::test(flavor = "multi_thread")]
async fn a_baresip_phone_over_tls_and_one_over_udp_see_each_other() {
    let world = office(&["sato:desk", "yamada:desk"]).with_sip_tls();
    let server = world.start_server();
    let (sato_uri, yamada_uri) = (world_aor(&world, "sato"), world_aor(&world, "yamada"));
    let yamada = Baresip::start(
        &DeskAccount::standalone(&world, "yamada").over_tls(&world),
        &[&sato_uri],
    )
    .await;
    let sato = Baresip::start(&DeskAccount::standalone(&world, "sato"), &[&yamada_uri]).await;
    let why = || evidence(&server, &[yamada.describe(), sato.describe()]);

    yamada.set_online().await;
    sato.set_online().await;
    assert!(
        sato.wait_for_presence(&yamada_uri, "Online", SEEN).await,
        "sato's phone does not show yamada (TLS) online\n{}",
        why()
    );
    assert!(
        yamada.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "yamada's phone (TLS) does not show sato online\n{}",
        why()
    );
    sato.set_offline().await;
    assert!(
        yamada.wait_for_presence(&sato_uri, "Offline", SEEN).await,
        "yamada's phone (TLS) still shows sato online\n{}",
        why()
    );
    // What it sent and got went over TLS (its SIP trace names the transport).
    let to_server = format!(" -> {}", world.sip_tls_addr());
    assert!(
        yamada
            .log_text()
            .lines()
            .any(|l| l.starts_with("TLS 127.0.0.1:") && l.trim_end().ends_with(&to_server))
            && !yamada.log_text().contains("UDP 127.0.0.1:"),
        "yamada's phone did not talk TLS to the server\n{}",
        why()
    );
}

/// Nobody is trusted for their address: every desk person has a SIP
/// password, which their phone must prove.
fn office_with_passwords(accounts: &[&str]) -> World {
    let mut world = office(accounts);
    world.sip_trusted = String::new();
    for person in &mut world.staff {
        person.sip_password = Some(format!("{}-desk-pw", person.account));
    }
    world
}

/// With the default digest algorithms (SHA-256 offered first, then MD5),
/// two linphonec phones register, publish and watch; they answer SHA-256.
#[tokio::test(flavor = "multi_thread")]
async fn linphonec_phones_prove_their_passwords_with_sha256() {
    let mut world = office_with_passwords(&["linda:desk", "ken:desk"]);
    world.sip_extra = "registrar = true\n".into();
    let server = world.start_server();
    let (linda_uri, ken_uri) = (world_aor(&world, "linda"), world_aor(&world, "ken"));
    let linda = Linphonec::start(
        &DeskAccount::registering_at(&world, "linda", world.sip_addr()),
        &[&ken_uri],
    )
    .await;
    let mut ken = Linphonec::start(
        &DeskAccount::registering_at(&world, "ken", world.sip_addr()),
        &[&linda_uri],
    )
    .await;
    let why = || evidence(&server, &[linda.describe(), ken.describe()]);

    assert!(
        linda.wait_for_presence(&ken_uri, "Online", SEEN).await,
        "linda's linphonec does not show ken online\n{}",
        why()
    );
    assert!(
        ken.wait_for_presence(&linda_uri, "Online", SEEN).await,
        "ken's linphonec does not show linda online\n{}",
        why()
    );
    for phone in [&linda, &ken] {
        assert!(
            phone
                .log_text()
                .lines()
                .any(|l| l.starts_with("Authorization:") && l.contains("algorithm=SHA-256")),
            "{} did not answer with SHA-256\n{}",
            phone.account.aor,
            why()
        );
    }
    ken.quit().await;
    assert!(
        linda.wait_for_presence(&ken_uri, "Offline", SEEN).await,
        "linda's linphonec still shows ken online after he quit\n{}",
        evidence(&server, &[linda.describe(), ken.describe()])
    );
}

/// baresip 1.0 (libre 1.1) answers a 401 only when its one challenge is
/// MD5: it gives up on a SHA-256 challenge, and on a second challenge for
/// the same realm. With `digest_algorithms = ["MD5"]`, the setting for such
/// phones, it and linphonec publish and watch with their passwords.
#[tokio::test(flavor = "multi_thread")]
async fn baresip_and_linphonec_prove_their_passwords_with_md5_only() {
    let mut world = office_with_passwords(&["linda:desk", "sato:desk"]);
    world.sip_extra = "registrar = true\ndigest_algorithms = [\"MD5\"]\n".into();
    let server = world.start_server();
    let (linda_uri, sato_uri) = (world_aor(&world, "linda"), world_aor(&world, "sato"));
    let linda = Linphonec::start(
        &DeskAccount::registering_at(&world, "linda", world.sip_addr()),
        &[&sato_uri],
    )
    .await;
    let sato = Baresip::start(&DeskAccount::standalone(&world, "sato"), &[&linda_uri]).await;
    let why = || evidence(&server, &[linda.describe(), sato.describe()]);

    sato.set_online().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "linda's linphonec does not show sato online\n{}",
        why()
    );
    assert!(
        sato.wait_for_presence(&linda_uri, "Online", SEEN).await,
        "sato's phone does not show linda online\n{}",
        why()
    );
    sato.set_offline().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Offline", SEEN).await,
        "linda's linphonec still shows sato online\n{}",
        why()
    );
}
