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

use mailpresence_e2e::phones::{Baresip, DeskAccount, Linphonec, Registrar, world_aor};
use mailpresence_e2e::{ServerProcess, World, presence_messages};
use mailpresence_protocol::mail::{PresenceMessage, Publish, Subscribe, SubscribeMode};
use mailpresence_protocol::model::{Activity, ActivityToken, PresenceFields};

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

/// An office before its presence server starts: desk colleagues and field
/// workers (`name:group`), the SIP side on with its defaults (NOTIFYs at most
/// a second apart; the 60 s interval is for mail).
struct OfficeSetup {
    world: World,
}

impl OfficeSetup {
    /// The server is the phones' registrar too (`[sip] registrar = true`).
    fn own_registrar(mut self) -> Self {
        self.world.sip_extra.push_str("registrar = true\n");
        self
    }

    /// Nobody is trusted for their address: every desk person has a SIP
    /// password, which their phone must prove.
    fn passwords(mut self) -> Self {
        self.world.sip_trusted = String::new();
        for person in &mut self.world.staff {
            person.sip_password = Some(format!("{}-desk-pw", person.account));
        }
        self
    }

    /// The server offers MD5 alone in its digest challenges.
    fn md5_only(mut self) -> Self {
        self.world
            .sip_extra
            .push_str("digest_algorithms = [\"MD5\"]\n");
        self
    }

    /// SIP over TLS too (`World::with_sip_tls`).
    fn sip_tls(self) -> Self {
        Self {
            world: self.world.with_sip_tls(),
        }
    }

    /// Starts the presence server.
    fn open(self) -> Office {
        let server = self.world.start_server();
        Office {
            world: self.world,
            server,
        }
    }
}

/// An office whose presence server runs: where its people's phones start.
struct Office {
    /// Dropped (killed) before the world's folder goes.
    server: ServerProcess,
    world: World,
}

impl Office {
    fn setup(accounts: &[&str]) -> OfficeSetup {
        OfficeSetup {
            world: World::new(accounts).with_sip(),
        }
    }

    /// `who`'s SIP URI.
    fn uri(&self, who: &str) -> String {
        world_aor(&self.world, who)
    }

    /// `who`'s phone talking to the presence server alone, over UDP.
    fn desk(&self, who: &str) -> DeskAccount {
        DeskAccount::standalone(&self.world, who)
    }

    /// `who`'s phone registered at the presence server itself, over UDP.
    fn registered(&self, who: &str) -> DeskAccount {
        DeskAccount::registering_at(&self.world, who, self.world.sip_addr())
    }

    /// `who`'s phone registered at the company's Kamailio.
    fn behind(&self, kamailio: &Registrar, who: &str) -> DeskAccount {
        DeskAccount::registering_at(&self.world, who, kamailio.addr)
    }

    /// The company's Kamailio, routing presence to the server.
    fn company_registrar(&self) -> Registrar {
        Registrar::start(&self.world.servers.domain, self.world.sip_addr())
    }

    /// baresip for `account`, watching the colleagues named.
    async fn baresip(&self, account: DeskAccount, watching: &[&str]) -> Baresip {
        let uris = self.uris(watching);
        Baresip::start(
            &account,
            &uris.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await
    }

    /// linphonec for `account`, with the colleagues named as its friends.
    async fn linphonec(&self, account: DeskAccount, friends: &[&str]) -> Linphonec {
        let uris = self.uris(friends);
        Linphonec::start(
            &account,
            &uris.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await
    }

    fn uris(&self, people: &[&str]) -> Vec<String> {
        people.iter().map(|p| self.uri(p)).collect()
    }

    /// The server's log and each phone's, for a failure message.
    fn evidence(&self, phones: &[String]) -> String {
        format!(
            "{}\n--- server log:\n{}",
            phones.join("\n"),
            self.server.log_text()
        )
    }

    /// The field worker, at a customer's site, publishes "busy" from their phone.
    async fn field_worker_is_busy(&self) {
        let world = &self.world;
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
        &self,
        colleagues: &[&str],
    ) -> Vec<(String, Option<ActivityToken>)> {
        let world = &self.world;
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
}

#[tokio::test(flavor = "multi_thread")]
async fn two_baresip_desk_phones_and_a_field_worker_see_each_other() {
    let office = Office::setup(&["tanaka:field", "sato:desk", "yamada:desk"]).open();
    let (sato_uri, yamada_uri, tanaka_uri) = (
        office.uri("sato"),
        office.uri("yamada"),
        office.uri("tanaka"),
    );
    let sato = office
        .baresip(office.desk("sato"), &["yamada", "tanaka"])
        .await;
    let yamada = office
        .baresip(office.desk("yamada"), &["sato", "tanaka"])
        .await;
    let why = || office.evidence(&[sato.describe(), yamada.describe()]);

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

    office.field_worker_is_busy().await;
    for phone in [&sato, &yamada] {
        assert!(
            phone.wait_for_presence(&tanaka_uri, "Busy", BY_MAIL).await,
            "{}'s phone does not show the field worker busy\n{}",
            phone.account.aor,
            why()
        );
    }
    assert_eq!(
        office.field_worker_asks_about(&["sato", "yamada"]).await,
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
    let office = Office::setup(&["linda:desk", "sato:desk"])
        .own_registrar()
        .open();
    let (linda_uri, sato_uri) = (office.uri("linda"), office.uri("sato"));
    let linda = office
        .linphonec(office.registered("linda"), &["sato"])
        .await;
    let sato = office.baresip(office.desk("sato"), &["linda"]).await;
    let why = || office.evidence(&[linda.describe(), sato.describe()]);

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
    let office = Office::setup(&["tanaka:field", "linda:desk", "sato:desk"]).open();
    let kamailio = office.company_registrar();
    let (linda_uri, sato_uri, tanaka_uri) = (
        office.uri("linda"),
        office.uri("sato"),
        office.uri("tanaka"),
    );
    let mut linda = office
        .linphonec(office.behind(&kamailio, "linda"), &["sato", "tanaka"])
        .await;
    let sato = office
        .baresip(office.behind(&kamailio, "sato"), &["linda", "tanaka"])
        .await;
    let why = || office.evidence(&[linda.describe(), sato.describe(), kamailio.describe()]);

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

    office.field_worker_is_busy().await;
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
        office.evidence(&[linda.describe(), sato.describe(), kamailio.describe()])
    );
}

/// Both phones subscribed; the server restarts (as after an update or a
/// crash); a status change still reaches the other phone, and nobody touches
/// the phone that is to show it.
#[tokio::test(flavor = "multi_thread")]
async fn baresip_phones_follow_changes_across_a_server_restart() {
    let mut office = Office::setup(&["sato:desk", "yamada:desk"]).open();
    let (sato_uri, yamada_uri) = (office.uri("sato"), office.uri("yamada"));
    let sato = office.baresip(office.desk("sato"), &["yamada"]).await;
    let yamada = office.baresip(office.desk("yamada"), &["sato"]).await;
    sato.set_online().await;
    yamada.set_online().await;
    for (phone, other) in [(&sato, &yamada_uri), (&yamada, &sato_uri)] {
        assert!(
            phone.wait_for_presence(other, "Online", SEEN).await,
            "{} does not show {other} online before the restart\n{}",
            phone.account.aor,
            office.evidence(&[sato.describe(), yamada.describe()])
        );
    }

    office.server.restart();
    sato.set_offline().await;
    assert!(
        yamada.wait_for_presence(&sato_uri, "Offline", SEEN).await,
        "after the server restarted, yamada's phone no longer follows sato\n{}",
        office.evidence(&[sato.describe(), yamada.describe()])
    );
    yamada.set_offline().await;
    assert!(
        sato.wait_for_presence(&yamada_uri, "Offline", SEEN).await,
        "after the server restarted, sato's phone no longer follows yamada\n{}",
        office.evidence(&[sato.describe(), yamada.describe()])
    );
}

/// The same behind the company's Kamailio, with linphonec watching.
#[tokio::test(flavor = "multi_thread")]
async fn behind_kamailio_phones_follow_changes_across_a_server_restart() {
    let mut office = Office::setup(&["linda:desk", "sato:desk"]).open();
    let kamailio = office.company_registrar();
    let (linda_uri, sato_uri) = (office.uri("linda"), office.uri("sato"));
    let mut linda = office
        .linphonec(office.behind(&kamailio, "linda"), &["sato"])
        .await;
    let sato = office
        .baresip(office.behind(&kamailio, "sato"), &["linda"])
        .await;
    sato.set_online().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Online", SEEN).await
            && sato.wait_for_presence(&linda_uri, "Online", SEEN).await,
        "the phones do not see each other online before the restart\n{}",
        office.evidence(&[linda.describe(), sato.describe(), kamailio.describe()])
    );

    office.server.restart();
    sato.set_offline().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Offline", SEEN).await,
        "after the server restarted, linda's linphonec no longer follows sato\n{}",
        office.evidence(&[linda.describe(), sato.describe(), kamailio.describe()])
    );
    linda.quit().await;
    assert!(
        sato.wait_for_presence(&linda_uri, "Offline", SEEN).await,
        "after the server restarted, sato's phone no longer follows linda\n{}",
        office.evidence(&[linda.describe(), sato.describe(), kamailio.describe()])
    );
}

/// Over TCP a subscription lives on its connection, which a planned stop
/// closes: the server ends it first, and linphonec (registered at the
/// server's own registrar, as a phone that must register is) subscribes
/// again on its own once it has registered again. Nobody touches it.
#[tokio::test(flavor = "multi_thread")]
async fn linphonec_over_tcp_follows_changes_across_a_planned_restart() {
    let mut office = Office::setup(&["linda:desk", "sato:desk"])
        .own_registrar()
        .open();
    let sato_uri = office.uri("sato");
    let linda = office
        .linphonec(office.registered("linda").over_tcp(), &["sato"])
        .await;
    let sato = office.baresip(office.desk("sato"), &["linda"]).await;
    sato.set_online().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "linda's linphonec (TCP) does not show sato online\n{}",
        office.evidence(&[linda.describe(), sato.describe()])
    );

    office.server.restart_gracefully();
    sato.set_offline().await;
    assert!(
        linda
            .wait_for_presence(&sato_uri, "Offline", LINPHONEC_RESUBSCRIBES)
            .await,
        "after a planned restart, linda's linphonec (TCP) no longer follows sato\n{}",
        office.evidence(&[linda.describe(), sato.describe()])
    );
    sato.set_online().await;
    assert!(
        linda.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "linda's linphonec (TCP) does not show sato back online\n{}",
        office.evidence(&[linda.describe(), sato.describe()])
    );
}

/// The same with baresip over TCP, which honours the reason the server
/// gives when it ends the subscription (`deactivated`: again at once).
#[tokio::test(flavor = "multi_thread")]
async fn baresip_over_tcp_follows_changes_across_a_planned_restart() {
    let mut office = Office::setup(&["sato:desk", "yamada:desk"]).open();
    let sato_uri = office.uri("sato");
    let yamada = office
        .baresip(office.desk("yamada").over_tcp(), &["sato"])
        .await;
    let sato = office.baresip(office.desk("sato"), &["yamada"]).await;
    sato.set_online().await;
    assert!(
        yamada.wait_for_presence(&sato_uri, "Online", SEEN).await,
        "yamada's phone (TCP) does not show sato online\n{}",
        office.evidence(&[yamada.describe(), sato.describe()])
    );

    office.server.restart_gracefully();
    sato.set_offline().await;
    assert!(
        yamada
            .wait_for_presence(&sato_uri, "Offline", BARESIP_RESUBSCRIBES)
            .await,
        "after a planned restart, yamada's phone (TCP) no longer follows sato\n{}",
        office.evidence(&[yamada.describe(), sato.describe()])
    );
}

/// A desk phone on SIP over TLS (port 5061 in an office) and one on plain
/// UDP see each other's status both ways.
#[tokio::test(flavor = "multi_thread")]
async fn a_baresip_phone_over_tls_and_one_over_udp_see_each_other() {
    let office = Office::setup(&["sato:desk", "yamada:desk"])
        .sip_tls()
        .open();
    let (sato_uri, yamada_uri) = (office.uri("sato"), office.uri("yamada"));
    let yamada = office
        .baresip(office.desk("yamada").over_tls(&office.world), &["sato"])
        .await;
    let sato = office.baresip(office.desk("sato"), &["yamada"]).await;
    let why = || office.evidence(&[yamada.describe(), sato.describe()]);

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
    let to_server = format!(" -> {}", office.world.sip_tls_addr());
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

/// With the default digest algorithms (SHA-256 offered first, then MD5),
/// two linphonec phones register, publish and watch; they answer SHA-256.
#[tokio::test(flavor = "multi_thread")]
async fn linphonec_phones_prove_their_passwords_with_sha256() {
    let office = Office::setup(&["linda:desk", "ken:desk"])
        .passwords()
        .own_registrar()
        .open();
    let (linda_uri, ken_uri) = (office.uri("linda"), office.uri("ken"));
    let linda = office.linphonec(office.registered("linda"), &["ken"]).await;
    let mut ken = office.linphonec(office.registered("ken"), &["linda"]).await;
    let why = || office.evidence(&[linda.describe(), ken.describe()]);

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
        office.evidence(&[linda.describe(), ken.describe()])
    );
}

/// baresip 1.0 (libre 1.1) answers a 401 only when its one challenge is
/// MD5: it gives up on a SHA-256 challenge, and on a second challenge for
/// the same realm. With `digest_algorithms = ["MD5"]`, the setting for such
/// phones, it and linphonec publish and watch with their passwords.
#[tokio::test(flavor = "multi_thread")]
async fn baresip_and_linphonec_prove_their_passwords_with_md5_only() {
    let office = Office::setup(&["linda:desk", "sato:desk"])
        .passwords()
        .own_registrar()
        .md5_only()
        .open();
    let (linda_uri, sato_uri) = (office.uri("linda"), office.uri("sato"));
    let linda = office
        .linphonec(office.registered("linda"), &["sato"])
        .await;
    let sato = office.baresip(office.desk("sato"), &["linda"]).await;
    let why = || office.evidence(&[linda.describe(), sato.describe()]);

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
