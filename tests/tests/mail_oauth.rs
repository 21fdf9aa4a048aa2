//! Signing in without a password, as Microsoft 365 and Google Workspace want
//! it: phones whose IMAP and SMTP logins are OAuth 2.0 access tokens (SASL
//! XOAUTH2 and OAUTHBEARER) against the real Dovecot and Postfix, whose
//! oauth2 passdb validates the tokens `scripts/oauth-token.py` mints. A
//! refused token is "sign in again", and the outbox keeps what waits.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailpresence_core::api::{
    AccountConfig, ColleaguePresence, MailServer, PresenceClient, PresenceListener,
};
use mailpresence_core::location::Granularity;
use mailpresence_e2e::{Security, ServerProcess, World, repo_root, wait_until};
use mailpresence_protocol::model::ActivityToken;
use mailpresence_protocol::transport::imap::{ConnectError, ImapError, MailSession, Timeouts};
use mailpresence_protocol::transport::{BearerMechanism, Credentials, Endpoint, TlsMode};

/// A token for `address` signed with the test Dovecot's key, valid for
/// `expires_in` seconds (negative: expired that long ago), written to `file`.
fn mint_token(world: &World, address: &str, expires_in: i64, file: &Path) {
    let out = Command::new(repo_root().join("scripts/oauth-token.py"))
        .arg(address)
        .args(["--dir", world.servers.dir.to_str().unwrap()])
        .args(["--expires-in", &expires_in.to_string()])
        .output()
        .expect("scripts/oauth-token.py runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(file, out.stdout).unwrap();
}

/// `who`'s account with a token file instead of a password.
fn account(
    world: &World,
    who: &str,
    token_file: &Path,
    mechanism: BearerMechanism,
) -> AccountConfig {
    let s = &world.servers;
    let server = |port: u16| MailServer {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::Starttls,
        user: Some(world.mail_of(who)),
        password: None,
        oauth_token_file: Some(token_file.display().to_string()),
        oauth_mechanism: Some(mechanism),
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
        authserv_id: Some(s.authserv_id.clone()),
        delivery_hops: None,
        oauth: None,
        server_key: None,
    }
}

/// A phone signed in with a fresh token of `mechanism`.
fn signed_in_phone(world: &World, who: &str, mechanism: BearerMechanism) -> Arc<PresenceClient> {
    let token = token_path(world, who);
    mint_token(world, &world.mail_of(who), 3600, &token);
    let dir = world.dir.path().join(format!("{who}-app"));
    PresenceClient::new(
        account(world, who, &token, mechanism),
        dir.display().to_string(),
        None,
    )
    .unwrap()
}

fn token_path(world: &World, who: &str) -> PathBuf {
    world.dir.path().join(format!("{who}.token"))
}

/// The presence server, its mailbox signed in with an XOAUTH2 token on IMAP
/// and SMTP: the test configuration with each password replaced by the file.
fn server_signed_in_with_a_token(world: &World) -> ServerProcess {
    let token = world.dir.path().join("presence.token");
    mint_token(world, &world.presence, 3600, &token);
    let config = world.write_config();
    let text = std::fs::read_to_string(&config).unwrap();
    let with_token = text.replace(
        "password = \"secret\"\n",
        &format!("oauth_token_file = {:?}\n", token.display().to_string()),
    );
    assert_eq!(
        with_token.matches("oauth_token_file").count(),
        2,
        "[imap] and [smtp]: {text}"
    );
    std::fs::write(&config, with_token).unwrap();
    let server = ServerProcess::start(&config, &world.dir.path().join("server.log"));
    server.wait_until_running();
    server
}

#[derive(Default)]
struct Heard(Mutex<Vec<ColleaguePresence>>);

impl PresenceListener for Heard {
    fn on_colleague(&self, colleague: ColleaguePresence) {
        self.0.lock().unwrap().push(colleague);
    }
    fn on_published(&self, _: Option<String>) {}
    fn on_outbox_changed(&self, _: u32) {}
    fn on_connection(&self, _: mailpresence_core::api::ConnectionStatus) {}
    fn on_mail_refused(&self, _: mailpresence_core::api::MailRefused) {}
    fn on_directory(&self, _: u32, _: u32) {}
    fn on_phone_message(&self, _: mailpresence_core::api::PhoneMessage) {}
}

#[tokio::test(flavor = "multi_thread")]
async fn phones_signed_in_with_tokens_publish_and_hear_a_notify() {
    let mut world = World::new(&["tanaka", "sato"]);
    world.policy = "notify_interval_secs = 1".into();
    // The server's Notify goes through submission, where it is signed.
    world.security = Security::Starttls;
    let _server = server_signed_in_with_a_token(&world);
    let tanaka = signed_in_phone(&world, "tanaka", BearerMechanism::Xoauth2);
    let sato = signed_in_phone(&world, "sato", BearerMechanism::Oauthbearer);
    let heard = Arc::new(Heard::default());
    sato.set_listener(heard.clone());
    sato.start();
    let _watch = sato.watch(vec!["tanaka".into()]).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["open_watches"] == 1
        })
        .await,
        "sato's Subscribe went out over SMTP with a token: {}",
        world.status()
    );
    tanaka.start();
    tanaka
        .set_status(Some(ActivityToken::OnSite), Some("設備点検中".into()), None)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || async {
            heard
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.presence.activity == Some(ActivityToken::OnSite))
        })
        .await,
        "sato read the Notify over IMAP with a token: {:?}",
        heard.0.lock().unwrap()
    );
}

/// The session both the phone and the server use, signed in with `token`.
async fn open_with_token(
    world: &World,
    token: &Path,
    mechanism: BearerMechanism,
) -> Result<MailSession, ImapError> {
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port: world.servers.imaps_port,
        tls: TlsMode::Implicit,
        credentials: Some(Credentials::token_file(
            world.mail_of("tanaka"),
            token,
            mechanism,
        )),
        ca_file: Some(world.servers.ca.clone()),
    };
    MailSession::open(&endpoint, Timeouts::default()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_sign_in_again_and_the_outbox_keeps_the_mail() {
    let world = World::new(&["tanaka", "sato"]);
    let _server = world.start_server();
    let token = token_path(&world, "tanaka");
    mint_token(&world, &world.mail_of("tanaka"), -60, &token);

    for mechanism in [BearerMechanism::Xoauth2, BearerMechanism::Oauthbearer] {
        let err = open_with_token(&world, &token, mechanism)
            .await
            .expect_err("an expired token is refused");
        assert!(err.needs_sign_in(), "{mechanism:?}: {err}");
        // Dovecot, like the providers, explains the refusal in a
        // continuation first: Google's form for XOAUTH2, RFC 7628 §3.2.2's
        // for OAUTHBEARER.
        let status = match mechanism {
            BearerMechanism::Xoauth2 => r#""status":"401""#,
            BearerMechanism::Oauthbearer => r#""status":"invalid_token""#,
        };
        assert!(
            matches!(
                &err,
                ImapError::Connect(ConnectError::TokenRefused { server_error: Some(e), .. })
                    if e.contains(status)
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("sign in again"), "{err}");
        assert!(
            !err.to_string()
                .contains(&std::fs::read_to_string(&token).unwrap().trim().to_owned()),
            "the token is never shown"
        );
    }
    // A password refusal is not mistaken for it.
    let wrong = Endpoint {
        host: "127.0.0.1".into(),
        port: world.servers.imaps_port,
        tls: TlsMode::Implicit,
        credentials: Some(Credentials::password(world.mail_of("tanaka"), "wrong")),
        ca_file: Some(world.servers.ca.clone()),
    };
    let err = MailSession::open(&wrong, Timeouts::default())
        .await
        .expect_err("wrong password");
    assert!(!err.needs_sign_in(), "{err}");

    // The phone's change waits in its outbox while SMTP refuses the token…
    let dir = world.dir.path().join("tanaka-app").display().to_string();
    let app = PresenceClient::new(
        account(&world, "tanaka", &token, BearerMechanism::Xoauth2),
        dir,
        None,
    )
    .unwrap();
    app.start();
    app.set_status(Some(ActivityToken::Driving), None, None)
        .await
        .unwrap();
    let sync = app
        .sync()
        .await
        .expect_err("IMAP refuses the expired token");
    assert!(sync.to_string().contains("sign in again"), "{sync}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app.outbox_depth().unwrap(), 1, "nothing lost, nothing sent");
    assert_eq!(world.status()["records"], 0);

    // …and goes once the person has signed in again: a fresh token in the
    // file, which the app reads when it opens (a sign-in with a refresh
    // token is tests/tests/mail_sign_in.rs').
    drop(app);
    mint_token(&world, &world.mail_of("tanaka"), 3600, &token);
    open_with_token(&world, &token, BearerMechanism::Oauthbearer)
        .await
        .expect("a fresh token signs in");
    let dir = world.dir.path().join("tanaka-app").display().to_string();
    let app = PresenceClient::new(
        account(&world, "tanaka", &token, BearerMechanism::Xoauth2),
        dir,
        None,
    )
    .unwrap();
    assert_eq!(app.outbox_depth().unwrap(), 1, "kept across the restart");
    app.start();
    assert!(
        wait_until(Duration::from_secs(30), || async {
            app.outbox_depth().unwrap() == 0 && world.status()["records"] == 1
        })
        .await,
        "outbox {} status {}",
        app.outbox_depth().unwrap(),
        world.status()
    );
}
