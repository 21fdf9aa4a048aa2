//! A phone set up with one scan: `mailpresence-server enroll` makes the code,
//! `mailpresence enroll` reads it (the parser the apps use), shows what it
//! trusts, checks the company CA against the code's pin and writes the
//! account file — the worker types only the mail password — and that phone
//! then publishes through the real Postfix and Dovecot. A changed or foreign
//! code, or the wrong CA, is refused and writes nothing.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use mailpresence_e2e::{Mailbox, PHONE_CLIENT, TokenEndpoint, World, binary, sample, wait_until};
use mailpresence_protocol::mail::{
    self, ComposeEnvelope, Notify, PresenceMessage, Publish, device_signature,
};
use mailpresence_protocol::model::{Activity, PresenceFields};

fn server_enroll(world: &World, args: &[&str]) -> std::process::Output {
    Command::new(binary("mailpresence-server"))
        .args(["--config", world.config_path().to_str().unwrap(), "enroll"])
        .args(args)
        .output()
        .unwrap()
}

/// The enrolled phone (its account file) sets a status; the server applies
/// its signed Publish within 20 s.
async fn publish_and_wait(
    world: &World,
    server: &mailpresence_e2e::ServerProcess,
    account_file: &std::path::Path,
    phone: &str,
) {
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
        "{phone}'s Publish was not applied:\n{}",
        server.log_text()
    );
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
    // An expired code, signed with the server's own key (so only its age is wrong).
    let server_key: [u8; 32] = std::fs::read(world.storage().with_file_name("server-signing.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let mut old = mailpresence_protocol::enrolment::Enrolment::decode(&code, 0).unwrap();
    old.expires = chrono::Utc::now().timestamp() - 60;
    let expired = old.encode(&ed25519_dalek::SigningKey::from_bytes(&server_key));
    let mut changed = code.clone().into_bytes();
    let i = code.len() / 2;
    changed[i] = if changed[i] == b'x' { b'y' } else { b'x' };
    let changed = String::from_utf8(changed).unwrap();
    for (bad, ca_file, why) in [
        (changed.as_str(), ca.as_str(), "damaged or was changed"),
        (expired.as_str(), ca.as_str(), "expired at"),
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
    publish_and_wait(&world, &server, &account_file, "the enrolled phone").await;
    // IT's monitoring saw it: two mails applied (the phone's Enrol and its
    // Publish), and how long they waited.
    let scrape = world.scrape().await;
    assert_eq!(
        sample(
            &scrape,
            r#"mailpresence_mails_total{verdict="applied",reason=""}"#
        ),
        Some(2.0),
        "{scrape}"
    );
    let waited = sample(&scrape, "mailpresence_mail_intake_lag_seconds_sum").unwrap();
    assert_eq!(
        sample(&scrape, "mailpresence_mail_intake_lag_seconds_count"),
        Some(2.0)
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
    // Signed in, the phone enrols its key with the same code.
    let enrolled = world.mailpresence(&[
        "enroll",
        &code,
        "--config",
        account_file.to_str().unwrap(),
        "--wait",
        "60",
    ]);
    assert!(enrolled.status.success(), "{}", text(&enrolled));
    assert!(
        text(&enrolled).contains("enrolled: device"),
        "{}",
        text(&enrolled)
    );
    publish_and_wait(&world, &server, &account_file, "the signed-in phone").await;
}

/// Enrols `who` from a fresh code: the account file, the device key, the
/// Enrol mail and the server's signed answer. Returns the account file.
fn enrol_phone(world: &World, who: &str) -> std::path::PathBuf {
    let made = server_enroll(world, &[who, "--link-only"]);
    assert!(made.status.success(), "{}", text(&made));
    let code = String::from_utf8_lossy(&made.stdout).trim().to_owned();
    let dir = world.dir.path();
    let file = dir.join(format!("{who}-phone.toml"));
    let password = dir.join(format!("{who}-password"));
    std::fs::write(&password, "secret\n").unwrap();
    let ca = world.servers.ca.display().to_string();
    let out = world.mailpresence(&[
        "enroll",
        &code,
        "--write",
        file.to_str().unwrap(),
        "--password-file",
        password.to_str().unwrap(),
        "--ca-file",
        &ca,
        "--device-name",
        &format!("{who}のスマホ"),
        "--wait",
        "60",
    ]);
    assert!(out.status.success(), "{who} enrols: {}", text(&out));
    assert!(text(&out).contains("enrolled: device"), "{}", text(&out));
    // The code was for one phone: used once, it enrols nothing more.
    file
}

/// A presence mail as `who`'s phone writes it, signed with the key in
/// `key_file` (or unsigned), with a Message-ID of its own.
fn phone_mail(
    world: &World,
    from: &str,
    message: &PresenceMessage,
    key_file: Option<&std::path::Path>,
) -> Vec<u8> {
    let env = ComposeEnvelope {
        from: from.into(),
        to: world.presence.clone(),
        message_id: Some(format!("<{}@{}>", rand_id(), world.servers.domain)),
        in_reply_to: None,
    };
    let raw = mail::compose(message, &env).unwrap();
    match key_file {
        None => raw,
        Some(file) => {
            let text = std::fs::read_to_string(file).unwrap();
            let bytes: [u8; 32] = URL_SAFE_NO_PAD
                .decode(text.trim())
                .unwrap()
                .try_into()
                .unwrap();
            let key = ed25519_dalek::SigningKey::from_bytes(&bytes);
            device_signature::sign_mail(&raw, &key, chrono::Utc::now().timestamp()).unwrap()
        }
    }
}

fn key_of(file: &std::path::Path) -> ed25519_dalek::SigningKey {
    let text = std::fs::read_to_string(file).unwrap();
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(text.trim())
        .unwrap()
        .try_into()
        .unwrap();
    ed25519_dalek::SigningKey::from_bytes(&bytes)
}

/// `raw` with its text body in another transfer encoding (as a mail system
/// on the way might re-encode it).
fn reencode(raw: &[u8], encoding: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    let body = mail_parser::MessageParser::default()
        .parse(raw)
        .unwrap()
        .body_text(0)
        .unwrap()
        .into_owned();
    let head: String = head
        .split("\r\n")
        .filter(|l| {
            !l.to_ascii_lowercase()
                .starts_with("content-transfer-encoding")
        })
        .map(|l| format!("{l}\r\n"))
        .collect();
    let encoded = match encoding {
        "base64" => base64::engine::general_purpose::STANDARD
            .encode(body.as_bytes())
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n"),
        "quoted-printable" => body
            .bytes()
            .map(|b| match b {
                b'\r' | b'\n' => (b as char).to_string(),
                33..=60 | 62..=126 | b' ' => (b as char).to_string(),
                _ => format!("={b:02X}"),
            })
            .collect::<String>(),
        _ => body.clone(),
    };
    format!("{head}Content-Transfer-Encoding: {encoding}\r\n\r\n{encoded}\r\n").into_bytes()
}

fn rand_id() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    )
}

fn publish(who: &str, activity: &str) -> PresenceMessage {
    PresenceMessage::Publish(Publish {
        publisher: who.parse().unwrap(),
        presence: PresenceFields::new(
            format!("{who}@example.test"),
            Activity::parse(activity).unwrap(),
        ),
    })
}

async fn refused(world: &World, reason: &str) -> f64 {
    sample(
        &world.scrape().await,
        &format!(r#"mailpresence_mails_total{{verdict="refused",reason="{reason}"}}"#),
    )
    .unwrap_or(0.0)
}

async fn applied(world: &World) -> f64 {
    sample(
        &world.scrape().await,
        r#"mailpresence_mails_total{verdict="applied",reason=""}"#,
    )
    .unwrap_or(0.0)
}

/// The issue's end-to-end: enrolled phones whose signed mail is applied; a
/// colleague's own key cannot speak for another person; a replay changes
/// nothing; a revoked phone is refused from its next mail; a Notify without
/// the server's signature is not shown.
#[tokio::test(flavor = "multi_thread")]
async fn only_an_enrolled_phone_speaks_for_its_person() {
    let mut world = World::new(&["tanaka", "sato"]).with_metrics();
    let s = &world.servers;
    world.extra_sections.push_str(&format!(
        "[phones]\nimap = {{ host = \"127.0.0.1\", port = {}, tls = \"starttls\" }}\nsmtp = {{ host = \"127.0.0.1\", port = {}, tls = \"starttls\" }}\n",
        s.imap_port, s.submission_port
    ));
    let server = world.start_server();
    let tanaka = enrol_phone(&world, "tanaka");
    let sato = enrol_phone(&world, "sato");
    let tanaka_key = tanaka.with_extension("device-key");
    let listed = Command::new(binary("mailpresence-server"))
        .args([
            "--config",
            world.config_path().to_str().unwrap(),
            "devices",
            "tanaka",
        ])
        .output()
        .unwrap();
    let listing = text(&listed);
    assert!(
        listing.contains("tanakaのスマホ") && listing.contains("live"),
        "{listing}"
    );
    let device_id = listing.split_whitespace().next().unwrap().to_owned();

    // Tanaka's phone publishes: signed with its key, applied.
    let (tanaka_mail, sato_mail) = (world.mail_of("tanaka"), world.mail_of("sato"));
    let signed_break = phone_mail(
        &world,
        &tanaka_mail,
        &publish("tanaka", "break"),
        Some(&tanaka_key),
    );
    world
        .submit(&tanaka_mail, &world.presence, &signed_break)
        .await;
    let enrolments = applied(&world).await;
    assert!(
        wait_until(Duration::from_secs(20), || async {
            applied(&world).await > enrolments
        })
        .await,
        "tanaka's signed Publish was not applied:\n{}",
        server.log_text()
    );
    let set = world.mailpresence(&[
        "status",
        "set",
        "on-site — 設備点検中",
        "--config",
        tanaka.to_str().unwrap(),
    ]);
    assert!(set.status.success(), "{}", text(&set));
    assert!(
        wait_until(Duration::from_secs(20), || async {
            applied(&world).await > enrolments + 1.0
        })
        .await,
        "the CLI phone's signed Publish was not applied:\n{}",
        server.log_text()
    );

    // The same signature holds whatever transfer encoding the body travels
    // in: 7bit, quoted-printable and base64 Publish mails, each signed as its
    // phone would (over what the parser reads), through Postfix and Dovecot.
    for (i, encoding) in ["7bit", "quoted-printable", "base64"].iter().enumerate() {
        let text = if *encoding == "7bit" {
            "on-site - inspection"
        } else {
            "on-site — 設備点検中"
        };
        let plain = phone_mail(&world, &tanaka_mail, &publish("tanaka", text), None);
        let reencoded = reencode(&plain, encoding);
        let signed = device_signature::sign_mail(
            &reencoded,
            &key_of(&tanaka_key),
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
        assert!(
            String::from_utf8_lossy(&signed)
                .contains(&format!("Content-Transfer-Encoding: {encoding}"))
        );
        world.submit(&tanaka_mail, &world.presence, &signed).await;
        let wanted = enrolments + 2.0 + i as f64;
        assert!(
            wait_until(Duration::from_secs(20), || async {
                applied(&world).await > wanted
            })
            .await,
            "the {encoding} Publish was not applied:\n{}",
            server.log_text()
        );
    }

    // Sato's own, valid key on a mail that speaks for Tanaka: refused.
    let sato_key = sato.with_extension("device-key");
    let forged = phone_mail(
        &world,
        &sato_mail,
        &publish("tanaka", "vacation"),
        Some(&sato_key),
    );
    world.submit(&sato_mail, &world.presence, &forged).await;
    assert!(
        wait_until(Duration::from_secs(20), || async {
            refused(&world, "spoofed_from").await >= 1.0
        })
        .await,
        "{}",
        server.log_text()
    );
    // Tanaka's signed mail replayed as it was: handled already, nothing
    // changes; replayed under a new Message-ID: the signature no longer fits.
    world
        .submit(&tanaka_mail, &world.presence, &signed_break)
        .await;
    let renamed = String::from_utf8_lossy(&signed_break)
        .replacen("Message-ID: <", "Message-ID: <again.", 1)
        .into_bytes();
    world.submit(&tanaka_mail, &world.presence, &renamed).await;
    assert!(
        wait_until(Duration::from_secs(20), || async {
            refused(&world, "device_signature").await >= 1.0
        })
        .await,
        "{}",
        server.log_text()
    );

    // A Notify put into Sato's mailbox without the server's signature is
    // not shown; the server's own answer, signed, is.
    let fake = mail::compose(
        &PresenceMessage::Notify(Notify {
            notifier: "tanaka".parse().unwrap(),
            presence: {
                let mut p =
                    PresenceFields::new(tanaka_mail.clone(), Activity::parse("vacation").unwrap());
                p.location = Some("沖縄県那覇市".into());
                p
            },
        }),
        &ComposeEnvelope {
            from: world.presence.clone(),
            to: sato_mail.clone(),
            message_id: None,
            in_reply_to: None,
        },
    )
    .unwrap();
    Mailbox::open(&world.servers, &sato_mail)
        .await
        .append(&fake)
        .await;
    let lookup = world.mailpresence(&[
        "lookup",
        "tanaka",
        "--timeout",
        "40",
        "--config",
        sato.to_str().unwrap(),
    ]);
    let answer = String::from_utf8_lossy(&lookup.stdout).to_string();
    assert!(
        lookup.status.success(),
        "{}\n{}",
        text(&lookup),
        server.log_text()
    );
    assert!(
        !answer.contains("沖縄"),
        "the unsigned Notify was shown: {answer}"
    );
    assert!(
        answer.contains("設備点検中"),
        "the replay changed nothing and the signed answer is read: {answer}"
    );

    // IT revokes Tanaka's phone: its next mail is refused.
    let revoked = Command::new(binary("mailpresence-server"))
        .args([
            "--config",
            world.config_path().to_str().unwrap(),
            "devices",
            "tanaka",
            "--revoke",
            &device_id,
        ])
        .output()
        .unwrap();
    assert!(text(&revoked).contains("revoked"), "{}", text(&revoked));
    let before = refused(&world, "device_signature").await;
    let set = world.mailpresence(&[
        "status",
        "set",
        "meeting",
        "--config",
        tanaka.to_str().unwrap(),
    ]);
    assert!(set.status.success(), "{}", text(&set));
    assert!(
        wait_until(Duration::from_secs(20), || async {
            refused(&world, "device_signature").await > before
        })
        .await,
        "the revoked phone's Publish was not refused:\n{}",
        server.log_text()
    );
}
