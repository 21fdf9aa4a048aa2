//! Signing in as Microsoft 365 and Google Workspace want it, end to end with
//! the tests' own token endpoint (`scripts/oauth-endpoint.py`) in the
//! provider's place: the CLI phone signs in by a device code and its IMAP and
//! SMTP logins live on refreshed access tokens; the presence server's mailbox
//! runs on client credentials; the app's browser sign-in (PKCE) through the
//! core's API; a revoked sign-in is "sign in again" and the outbox keeps
//! what waits until the next sign-in.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailpresence_core::api::{AccountConfig, MailServer, PresenceClient, PresenceError};
use mailpresence_core::location::Granularity;
use mailpresence_core::sign_in::{SignIn, TokenStorage};
use mailpresence_e2e::{
    PHONE_CLIENT, Security, ServerProcess, TokenEndpoint, World, binary, wait_until,
};
use mailpresence_protocol::model::ActivityToken;
use mailpresence_protocol::transport::TlsMode;
use mailpresence_protocol::transport::oauth::{ProviderConfig, ProviderKind};
use serde_json::Value;

/// Runs `mailpresence ARGS`; (success, stdout, stderr).
fn cli(world: &World, args: &[&str]) -> (bool, String, String) {
    let out = world.mailpresence(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn server_signed_in(world: &World, endpoint: &TokenEndpoint) -> ServerProcess {
    let config = world.write_config_signed_in(endpoint);
    let server = ServerProcess::start(&config, &world.dir.path().join("server.log"));
    server.wait_until_running();
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_phone_signs_in_by_device_code_and_hears_notifies_across_token_expiry() {
    let mut world = World::new(&["tanaka", "sato"]);
    world.policy = "notify_interval_secs = 1".into();
    world.security = Security::Starttls;
    // Access tokens live 4 s: each is refreshed, by the phones and the
    // server alike, many times in this test.
    let endpoint = TokenEndpoint::start(&world, 4);
    let server = server_signed_in(&world, &endpoint);
    let tanaka = world.terminal_config_signed_in("tanaka", &endpoint);
    let sato = world.terminal_config_signed_in("sato", &endpoint);

    let shown = world.sign_in(&tanaka, "tanaka", &endpoint);
    assert!(shown.contains("enter the code"), "{shown}");
    world.sign_in(&sato, "sato", &endpoint);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(world.refresh_token_file("tanaka"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the refresh token is owner-only");
    }

    // Sato watches Tanaka: one IMAP session in IDLE that outlives its token.
    let watcher = tokio::process::Command::new(binary("mailpresence"))
        .args(["watch", "tanaka", "--count", "2", "--for", "60", "--config"])
        .arg(&sato)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["open_watches"] == 1
        })
        .await,
        "the Subscribe went out over SMTP on a signed-in token: {}",
        server.log_text()
    );

    let first_refresh_token = std::fs::read_to_string(world.refresh_token_file("tanaka")).unwrap();
    let (ok, _, err) = cli(
        &world,
        &[
            "status",
            "set",
            "meeting",
            "--config",
            tanaka.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let rotated = std::fs::read_to_string(world.refresh_token_file("tanaka")).unwrap();
    assert_ne!(
        first_refresh_token, rotated,
        "the rotated refresh token was kept"
    );

    // Every token issued so far has expired: the watcher's session goes on,
    // the server refreshes its own, Tanaka's next run refreshes again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (ok, _, err) = cli(
        &world,
        &[
            "status",
            "set",
            "on-site — 設備点検中",
            "--config",
            tanaka.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");

    let out = tokio::time::timeout(Duration::from_secs(40), watcher.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "both changes heard: {lines:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    assert_eq!(lines[0]["activity"]["token"], "meeting");
    assert_eq!(lines[1]["activity"]["token"], "on-site");
    assert_eq!(lines[1]["activity"]["text"], "設備点検中");
    assert!(
        !server.log_text().contains("sign in again"),
        "the server's client credentials never ran out: {}",
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_sign_in_is_sign_in_again_and_the_outbox_waits_for_the_next() {
    let world = World::new(&["tanaka"]);
    let endpoint = TokenEndpoint::start(&world, 3600);
    let _server = world.start_server();
    let tanaka = world.terminal_config_signed_in("tanaka", &endpoint);
    let config = tanaka.to_str().unwrap();
    world.sign_in(&tanaka, "tanaka", &endpoint);

    // The administrator (or the person, elsewhere) revokes the sign-in.
    let refresh_token = std::fs::read_to_string(world.refresh_token_file("tanaka")).unwrap();
    endpoint.revoke(refresh_token.trim());

    let (ok, _, err) = cli(&world, &["status", "set", "meeting", "--config", config]);
    assert!(!ok, "nothing can be sent without a sign-in");
    assert!(err.contains("sign in again"), "{err}");
    assert!(err.contains("kept in the outbox: 1"), "{err}");
    assert!(
        !world.refresh_token_file("tanaka").exists(),
        "the refused refresh token is forgotten, so it is not tried again"
    );
    // Asked again, it says the same at once, without a loop.
    let (ok, _, err) = cli(&world, &["status", "set", "driving", "--config", config]);
    assert!(!ok && err.contains("sign in again"), "{err}");
    let (_, shown, _) = cli(&world, &["status", "show", "--config", config]);
    let own: Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(own["outbox"], 2, "both changes wait: {own}");
    assert_eq!(world.status()["mails_handled"], 0);

    // A new sign-in, and the next send takes everything that waited (once
    // their retry times, a second or two after the refusal, have passed).
    world.sign_in(&tanaka, "tanaka", &endpoint);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (ok, shown, err) = cli(&world, &["status", "set", "on-site", "--config", config]);
    assert!(ok, "{err}");
    let own: Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(own["outbox"], 0, "{own}");
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["mails_handled"] == 3
        })
        .await,
        "the server handled the three Publishes: {}",
        world.status()
    );
}

/// The app's Keychain/Keystore, as the core sees it.
#[derive(Debug, Default)]
struct Keychain(Mutex<Option<String>>);

impl TokenStorage for Keychain {
    fn load(&self) -> Option<String> {
        self.0.lock().unwrap().clone()
    }
    fn save(&self, token: String) {
        *self.0.lock().unwrap() = Some(token);
    }
    fn clear(&self) {
        *self.0.lock().unwrap() = None;
    }
}

const REDIRECT: &str = "org.mailpresence.app:/oauth2redirect";

fn app_account(world: &World, provider: ProviderConfig) -> AccountConfig {
    let s = &world.servers;
    let server = |port: u16| MailServer {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::Starttls,
        user: Some(world.mail_of("tanaka")),
        password: None,
        oauth_token_file: None,
        oauth_mechanism: None,
        ca_file: Some(s.ca.display().to_string()),
    };
    AccountConfig {
        account: "tanaka".into(),
        mail: world.mail_of("tanaka"),
        presence_server: world.presence.clone(),
        language: "ja".into(),
        imap: server(s.imap_port),
        smtp: server(s.submission_port),
        granularity: Granularity::City,
        authserv_id: Some(s.authserv_id.clone()),
        delivery_hops: None,
        oauth: Some(provider),
        server_key: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_apps_browser_sign_in_publishes_and_a_sign_out_is_sign_in_again() {
    let world = World::new(&["tanaka"]);
    let endpoint = TokenEndpoint::start(&world, 3600);
    let _server = world.start_server();
    let mut provider = ProviderConfig::custom(PHONE_CLIENT, &endpoint.base_url());
    provider.scopes = Some(vec!["mail".into()]);
    assert_eq!(provider.provider, ProviderKind::Custom);
    let keychain = Arc::new(Keychain::default());

    // Started: the app opens this URL in its browser session…
    let sign_in = SignIn::new(provider.clone(), REDIRECT.into(), keychain.clone()).unwrap();
    assert!(!sign_in.is_signed_in());
    let url = sign_in.begin().unwrap();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    // …which comes back to the app's redirect with a code.
    let redirected = endpoint.authorize(&url, &world.mail_of("tanaka"));
    assert!(redirected.starts_with(REDIRECT), "{redirected}");
    // A forged redirect (another state) is refused and ends that sign-in.
    let forged = redirected.replace("state=", "state=x");
    let err = sign_in.finish(forged).await.expect_err("not our state");
    assert!(matches!(err, PresenceError::SignInAgain { .. }), "{err}");
    let url = sign_in.begin().unwrap();
    let redirected = endpoint.authorize(&url, &world.mail_of("tanaka"));
    sign_in.finish(redirected).await.unwrap();
    assert!(
        sign_in.is_signed_in(),
        "the refresh token is in the keychain"
    );

    // Refreshed: the client logs in to IMAP and SMTP with it and publishes.
    let dir = world.dir.path().join("tanaka-app").display().to_string();
    let app = PresenceClient::with_sign_in(
        app_account(&world, provider.clone()),
        dir.clone(),
        None,
        keychain.clone(),
    )
    .unwrap();
    app.sync().await.expect("IMAP on the signed-in token");
    app.set_status(Some(ActivityToken::Meeting), None, None)
        .await
        .unwrap();
    assert_eq!(app.outbox_depth().unwrap(), 0);
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["mails_handled"] == 1
        })
        .await,
        "{}",
        world.status()
    );
    drop(app);

    // Revoked (by an administrator): the next login is "sign in again",
    // and the refused token is dropped from the keychain.
    endpoint.revoke(&keychain.load().unwrap());
    let app = PresenceClient::with_sign_in(
        app_account(&world, provider.clone()),
        dir.clone(),
        None,
        keychain.clone(),
    )
    .unwrap();
    let err = app.sync().await.expect_err("a revoked sign-in");
    assert!(matches!(err, PresenceError::SignInAgain { .. }), "{err:?}");
    assert_eq!(keychain.load(), None, "the refused token is forgotten");
    drop(app);

    // Signed in again, and out: the keychain forgets it.
    let url = sign_in.begin().unwrap();
    let redirected = endpoint.authorize(&url, &world.mail_of("tanaka"));
    sign_in.finish(redirected).await.unwrap();
    let app =
        PresenceClient::with_sign_in(app_account(&world, provider), dir, None, keychain.clone())
            .unwrap();
    app.sync().await.expect("signed in again");
    sign_in.sign_out().await.unwrap();
    assert!(!sign_in.is_signed_in());
}

#[test]
fn check_config_asks_the_provider_and_explains_a_refused_secret() {
    let world = World::new(&["tanaka"]);
    let endpoint = TokenEndpoint::start(&world, 3600);
    let config = world.write_config_signed_in(&endpoint);
    let check = || {
        std::process::Command::new(binary("mailpresence-server"))
            .arg("--check-config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = check();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("issued a token"), "{said}");

    std::fs::write(world.dir.path().join("oauth-client-secret"), "wrong\n").unwrap();
    let out = check();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("refused (invalid_client)") && said.contains("wrong secret"),
        "the provider's code and its own words: {said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_signs_in_as_a_google_service_account() {
    let world = World::new(&["tanaka"]);
    let endpoint = TokenEndpoint::start_with_service_account(&world, 3600);
    let config = world.write_config_as_service_account();
    let out = std::process::Command::new(binary("mailpresence-server"))
        .arg("--check-config")
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("issued a token"), "{said}");

    let server = ServerProcess::start(&config, &world.dir.path().join("server.log"));
    server.wait_until_running();
    // Tanaka (a password phone) publishes; the server reads it with the
    // service account's token.
    let tanaka = world.terminal_config("tanaka");
    let (ok, _, err) = cli(
        &world,
        &[
            "status",
            "set",
            "meeting",
            "--config",
            tanaka.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["mails_handled"] == 1
        })
        .await,
        "{}\n{}",
        world.status(),
        server.log_text()
    );
    drop(endpoint);
}
