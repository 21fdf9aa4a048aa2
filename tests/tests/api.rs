//! The UniFFI API used the way the apps use it, against the real server,
//! Postfix and Dovecot: two clients, a listener called from a background
//! thread, a watch ended by dropping its handle, errors a person can act on.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use mailpresence_core::api::{
    AccountConfig, ColleaguePresence, ConnectionStatus, MailRefused, MailServer, PresenceClient,
    PresenceError, PresenceListener,
};
use mailpresence_core::location::Granularity;
use mailpresence_e2e::{World, repo_root, wait_until};
use mailpresence_protocol::model::ActivityToken;
use mailpresence_protocol::transport::TlsMode;

#[derive(Default)]
struct Recorder {
    colleagues: Mutex<Vec<(ColleaguePresence, ThreadId)>>,
    connections: Mutex<Vec<ConnectionStatus>>,
    published: Mutex<Vec<Option<String>>>,
    outbox: Mutex<Vec<u32>>,
    refused: Mutex<Vec<MailRefused>>,
}

impl PresenceListener for Recorder {
    fn on_colleague(&self, colleague: ColleaguePresence) {
        self.colleagues
            .lock()
            .unwrap()
            .push((colleague, std::thread::current().id()));
    }
    fn on_published(&self, location: Option<String>) {
        self.published.lock().unwrap().push(location);
    }
    fn on_outbox_changed(&self, depth: u32) {
        self.outbox.lock().unwrap().push(depth);
    }
    fn on_connection(&self, status: ConnectionStatus) {
        self.connections.lock().unwrap().push(status);
    }
    fn on_mail_refused(&self, refused: MailRefused) {
        self.refused.lock().unwrap().push(refused);
    }
    fn on_directory(&self, _: u32, _: u32) {}
    fn on_phone_message(&self, _: mailpresence_core::api::PhoneMessage) {}
}

fn account(world: &World, who: &str, password: &str, tls: TlsMode) -> AccountConfig {
    let s = &world.servers;
    let server = |port: u16| MailServer {
        host: "127.0.0.1".into(),
        port,
        tls,
        user: Some(world.mail_of(who)),
        password: Some(password.into()),
        oauth_token_file: None,
        oauth_mechanism: None,
        ca_file: Some(s.ca.display().to_string()),
    };
    AccountConfig {
        account: who.into(),
        mail: world.mail_of(who),
        presence_server: world.presence.clone(),
        language: "ja".into(),
        imap: server(s.imap_port),
        smtp: server(s.submission_port),
        granularity: Granularity::City,
        // A Notify is believed only as the test MTA proved it: a test whose
        // apps read Notify mails lets the server send through submission,
        // where it is signed.
        authserv_id: Some(s.authserv_id.clone()),
        delivery_hops: None,
        oauth: None,
        server_key: None,
    }
}

fn map_pack() -> Vec<u8> {
    std::fs::read(repo_root().join("assets/mappack.bin")).unwrap()
}

fn client(world: &World, who: &str) -> Arc<PresenceClient> {
    let dir = world.dir.path().join(format!("{who}-app"));
    PresenceClient::new(
        account(world, who, "secret", TlsMode::Starttls),
        dir.display().to_string(),
        Some(map_pack()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_apps_through_the_real_servers() {
    let mut world = World::new(&["tanaka", "sato"]);
    world.policy = "notify_interval_secs = 1".into();
    // Signed on its way out, so the Notify is proven to the apps.
    world.security = mailpresence_e2e::Security::Starttls;
    let _server = world.start_server();
    let tanaka = client(&world, "tanaka");
    let sato = client(&world, "sato");
    let heard = Arc::new(Recorder::default());
    sato.set_listener(heard.clone());
    sato.start();
    let watch = sato.watch(vec!["tanaka".into()]).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["open_watches"] == 1
        })
        .await
    );

    tanaka
        .set_status(Some(ActivityToken::OnSite), Some("設備点検中".into()), None)
        .await
        .unwrap();
    let own = tanaka.own_presence().unwrap();
    assert_eq!(own.activity, Some(ActivityToken::OnSite));
    assert_eq!(own.summary, "現場作業中（設備点検中）");
    // Sharing is off until the worker turns it on.
    tanaka
        .set_location_sharing(None, None, false)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let placed = tanaka
        .location_fix(35.3317, 136.6710, Some(8.0), None)
        .await
        .unwrap();
    assert_eq!(placed.as_deref(), Some("岐阜県安八町"));

    let test_thread = std::thread::current().id();
    let got_both = wait_until(Duration::from_secs(20), || async {
        heard
            .colleagues
            .lock()
            .unwrap()
            .iter()
            .any(|(c, _)| c.presence.location.as_deref() == Some("岐阜県安八町"))
    })
    .await;
    assert!(got_both, "{:?}", heard.colleagues.lock().unwrap());
    let colleagues = heard.colleagues.lock().unwrap().clone();
    assert!(
        colleagues.iter().all(|(_, t)| *t != test_thread),
        "the listener runs on a background thread"
    );
    let last = &colleagues.last().unwrap().0.presence;
    assert_eq!(
        (
            last.account.as_str(),
            last.activity,
            last.activity_text.as_deref()
        ),
        ("tanaka", Some(ActivityToken::OnSite), Some("設備点検中"))
    );
    assert_eq!(last.summary, "現場作業中（設備点検中） · 岐阜県安八町");
    assert!(
        heard
            .connections
            .lock()
            .unwrap()
            .contains(&ConnectionStatus::Connected)
    );
    assert_eq!(
        sato.colleagues().unwrap().len(),
        1,
        "kept for the Colleagues screen"
    );

    // Dropping the handle ends the watch on the server.
    drop(watch);
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["open_watches"] == 0
        })
        .await
    );

    // A lookup read with sync(), as an app woken briefly by the platform does.
    let dir = world.dir.path().join("sato-woken").display().to_string();
    let woken = PresenceClient::new(
        account(&world, "sato", "secret", TlsMode::Starttls),
        dir,
        None,
    )
    .unwrap();
    woken.lookup(vec!["tanaka".into()]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || async {
            woken.sync().await.unwrap();
            woken
                .colleagues()
                .unwrap()
                .iter()
                .any(|c| c.presence.location.as_deref() == Some("岐阜県安八町"))
        })
        .await
    );
    assert!(
        tanaka.attributions().iter().any(|a| a.contains("GeoNames")),
        "for the About screen"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_say_what_is_wrong() {
    let world = World::new(&["tanaka"]);
    let dir = |n: &str| world.dir.path().join(n).display().to_string();
    // Wrong password: the mail server refuses the login.
    let c = PresenceClient::new(
        account(&world, "tanaka", "wrong", TlsMode::Starttls),
        dir("a"),
        None,
    )
    .unwrap();
    assert!(
        matches!(c.sync().await, Err(PresenceError::WrongPassword { .. })),
        "{:?}",
        c.sync().await
    );
    // Unreachable: nobody listens there.
    let mut gone = account(&world, "tanaka", "secret", TlsMode::None);
    gone.imap.port = mailpresence_e2e::free_port();
    let c = PresenceClient::new(gone, dir("b"), None).unwrap();
    assert!(matches!(
        c.sync().await,
        Err(PresenceError::Unreachable { .. })
    ));
    // Certificate: TLS without the company CA.
    let mut untrusted = account(&world, "tanaka", "secret", TlsMode::Implicit);
    untrusted.imap.port = world.servers.imaps_port;
    untrusted.imap.ca_file = None;
    let c = PresenceClient::new(untrusted, dir("c"), None).unwrap();
    assert!(matches!(
        c.sync().await,
        Err(PresenceError::Certificate { .. })
    ));
    // Bad input is refused before anything is sent.
    let c = PresenceClient::new(
        account(&world, "tanaka", "secret", TlsMode::Starttls),
        dir("d"),
        None,
    )
    .unwrap();
    assert!(matches!(
        c.set_status(None, Some("  ".into()), None).await,
        Err(PresenceError::InvalidInput { .. })
    ));
    assert!(matches!(
        c.lookup(vec!["not a name".into()]).await,
        Err(PresenceError::InvalidInput { .. })
    ));
    let mut bad = account(&world, "tanaka", "secret", TlsMode::None);
    bad.mail = "nobody".into();
    assert!(matches!(
        PresenceClient::new(bad, dir("e"), None),
        Err(PresenceError::InvalidInput { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_changes_wait_in_the_outbox_and_survive_a_restart() {
    let world = World::new(&["tanaka", "sato"]);
    let _server = world.start_server();
    let dir = world
        .dir
        .path()
        .join("tanaka-offline")
        .display()
        .to_string();
    let mut unreachable = account(&world, "tanaka", "secret", TlsMode::Starttls);
    unreachable.smtp.port = mailpresence_e2e::free_port();
    let app = PresenceClient::new(unreachable, dir.clone(), None).unwrap();
    let heard = Arc::new(Recorder::default());
    app.set_listener(heard.clone());
    app.network_changed(false);
    app.set_status(Some(ActivityToken::Driving), None, None)
        .await
        .unwrap();
    app.add_schedule("17:00 帰社".into()).await.unwrap();
    assert_eq!(app.outbox_depth().unwrap(), 2, "kept while offline");
    // Each event says what it knows: two Publishes without a place, the
    // outbox growing to two; never a made-up depth or place.
    assert!(
        wait_until(Duration::from_secs(5), || async {
            heard.outbox.lock().unwrap().last() == Some(&2)
        })
        .await,
        "{:?}",
        heard.outbox.lock().unwrap()
    );
    assert_eq!(*heard.published.lock().unwrap(), [None, None]);
    assert_eq!(*heard.outbox.lock().unwrap(), [1, 2]);
    drop(app); // the app is killed
    let app = PresenceClient::new(
        account(&world, "tanaka", "secret", TlsMode::Starttls),
        dir,
        None,
    )
    .unwrap();
    assert_eq!(
        app.outbox_depth().unwrap(),
        2,
        "still there after a restart"
    );
    app.network_changed(true);
    app.start();
    assert!(
        wait_until(Duration::from_secs(20), || async {
            app.outbox_depth().unwrap() == 0
        })
        .await
    );
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["records"] == 1
        })
        .await,
        "{}",
        world.status()
    );
}
