//! A phone set up with one scan: `mailpresence-server enroll` makes the code,
//! `mailpresence enroll` reads it (the parser the apps use), shows what it
//! trusts, checks the company CA against the code's pin and writes the
//! account file — the worker types only the mail password — and that phone
//! then publishes through the real Postfix and Dovecot. A changed or foreign
//! code, or the wrong CA, is refused and writes nothing.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use mailpresence_e2e::{PHONE_CLIENT, TokenEndpoint, World, binary, sample, wait_until};

fn server_enroll(world: &World, args: &[&str]) -> std::process::Output {
    Command::new(binary("mailpresence-server"))
        .args(["--config", world.config_path().to_str().unwrap(), "enroll"])
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_code_sets_a_phone_up_and_a_changed_one_sets_up_nothing() {
    let mut world = World::new(&["tanaka"]).with_metrics();
    let s = &world.servers;
    // Phones on the road: STARTTLS on IMAP and submission, the company CA.
    world.extra_sections.push_str(&format!(
        "[phones]\nimap = {{ host = \"127.0.0.1\", port = {}, tls = \"starttls\" }}\nsmtp = {{ host = \"127.0.0.1\", port = {}, tls = \"starttls\" }}\n",
        s.imap_port, s.submission_port
    ));
    let server = world.start_server();

    let made = server_enroll(&world, &["tanaka"]);
    assert!(made.status.success(), "{}", text(&made));
    let printed = String::from_utf8_lossy(&made.stdout).to_string();
    assert!(
        printed.contains('▀') || printed.contains('█'),
        "a QR code is drawn:\n{printed}"
    );
    let code = printed
        .lines()
        .find(|l| l.starts_with("mailpresence:enrol/1/"))
        .unwrap()
        .to_owned();
    let link_only = server_enroll(&world, &["tanaka", "--link-only", "--valid-hours", "1"]);
    assert_eq!(
        String::from_utf8_lossy(&link_only.stdout).lines().count(),
        1
    );
    let unknown = server_enroll(&world, &["nobody"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("nobody is not in the directory"),
        "{}",
        text(&unknown)
    );

    let dir = world.dir.path();
    let account_file = dir.join("enrolled.toml");
    let password = dir.join("password");
    std::fs::write(&password, "secret\n").unwrap();
    let ca = world.servers.ca.display().to_string();
    let enroll = |code: &str, ca: &str| {
        world.mailpresence(&[
            "enroll",
            code,
            "--write",
            account_file.to_str().unwrap(),
            "--password-file",
            password.to_str().unwrap(),
            "--ca-file",
            ca,
        ])
    };

    // Changed, foreign, or with a CA that is not the pinned one: refused,
    // nothing written.
    let mut changed = code.clone().into_bytes();
    let i = code.len() / 2;
    changed[i] = if changed[i] == b'x' { b'y' } else { b'x' };
    let changed = String::from_utf8(changed).unwrap();
    for (bad, ca_file, why) in [
        (changed.as_str(), ca.as_str(), "damaged or was changed"),
        (
            "https://example.test/",
            ca.as_str(),
            "not a MailPresence enrolment code",
        ),
        (
            code.as_str(),
            "/etc/ssl/certs/ca-certificates.crt",
            "is not the company CA the code names",
        ),
    ] {
        let out = enroll(bad, ca_file);
        assert!(!out.status.success(), "{bad}");
        assert!(text(&out).contains(why), "{why}: {}", text(&out));
        assert!(!account_file.exists());
    }

    // The real code: what it trusts is shown, the file is written, and the
    // phone publishes with it.
    let out = enroll(&code, &ca);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&world.presence) && shown.contains("server key:"),
        "{shown}"
    );
    let set = world.mailpresence(&[
        "status",
        "set",
        "on-site — 設備点検中",
        "--config",
        account_file.to_str().unwrap(),
    ]);
    assert!(set.status.success(), "{}", text(&set));
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["records"] == 1
        })
        .await,
        "the enrolled phone's Publish was not applied:\n{}",
        server.log_text()
    );
    // IT's monitoring saw it: one mail applied, and how long it waited.
    let scrape = world.scrape().await;
    assert_eq!(
        sample(
            &scrape,
            r#"mailpresence_mails_total{verdict="applied",reason=""}"#
        ),
        Some(1.0),
        "{scrape}"
    );
    let waited = sample(&scrape, "mailpresence_mail_intake_lag_seconds_sum").unwrap();
    assert_eq!(
        sample(&scrape, "mailpresence_mail_intake_lag_seconds_count"),
        Some(1.0)
    );
    assert!((0.0..20.0).contains(&waited), "{waited} s");
}

/// A company on Microsoft 365 or Google Workspace: the code names the
/// phones' sign-in (`[phones] sign_in`), the phone asks for no password,
/// signs in (here by device code, through the tests' token endpoint in the
/// provider's place) and publishes on the signed-in tokens.
#[tokio::test(flavor = "multi_thread")]
async fn a_code_naming_the_company_sign_in_sets_a_phone_up_without_a_password() {
    let mut world = World::new(&["tanaka"]);
    let endpoint = TokenEndpoint::start(&world, 3600);
    let s = &world.servers;
    let b = endpoint.base_url();
    world.extra_sections.push_str(&format!(
        "[phones]\nimap = {{ host = \"127.0.0.1\", port = {}, tls = \"starttls\" }}\nsmtp = {{ host = \"127.0.0.1\", port = {}, tls = \"starttls\" }}\n\
         sign_in = {{ provider = \"custom\", client_id = \"{PHONE_CLIENT}\", scopes = [\"mail\"], authorize_url = \"{b}/authorize\", token_url = \"{b}/token\", device_authorization_url = \"{b}/device\", revocation_url = \"{b}/revoke\" }}\n",
        s.imap_port, s.submission_port
    ));
    let server = world.start_server();
    let made = server_enroll(&world, &["tanaka", "--link-only"]);
    assert!(made.status.success(), "{}", text(&made));
    let code = String::from_utf8_lossy(&made.stdout).trim().to_owned();

    let account_file = world.dir.path().join("enrolled.toml");
    let ca = world.servers.ca.display().to_string();
    let password = world.dir.path().join("password");
    std::fs::write(&password, "secret\n").unwrap();
    let with_password = world.mailpresence(&[
        "enroll",
        &code,
        "--write",
        account_file.to_str().unwrap(),
        "--password-file",
        password.to_str().unwrap(),
        "--ca-file",
        &ca,
    ]);
    assert!(!with_password.status.success());
    assert!(
        text(&with_password).contains("takes no password"),
        "{}",
        text(&with_password)
    );
    assert!(!account_file.exists());

    let out = world.mailpresence(&[
        "enroll",
        &code,
        "--write",
        account_file.to_str().unwrap(),
        "--ca-file",
        &ca,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&format!("app {PHONE_CLIENT}")) && shown.contains("mailpresence sign-in"),
        "{shown}"
    );
    let written = std::fs::read_to_string(&account_file).unwrap();
    assert!(!written.contains("password"), "{written}");

    world.sign_in(&account_file, "tanaka", &endpoint);
    let set = world.mailpresence(&[
        "status",
        "set",
        "on-site — 設備点検中",
        "--config",
        account_file.to_str().unwrap(),
    ]);
    assert!(set.status.success(), "{}", text(&set));
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["records"] == 1
        })
        .await,
        "the signed-in phone's Publish was not applied:\n{}",
        server.log_text()
    );
}
