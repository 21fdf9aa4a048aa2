//! Settings a worker does not type, found from the mail address against a
//! real DNS server (dnsmasq) and a real web server: a company domain whose
//! MX is Microsoft 365's, one that publishes RFC 6186 SRV records, one that
//! publishes only autoconfig (at the real path, `.well-known` after the
//! `autoconfig.` host's), one with nothing (the form), and a DNS server that
//! does not answer (no guess). Also the CLI's `mailpresence settings`.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use mailpresence_core::api::PresenceError;
use mailpresence_core::settings::{
    DISCOVERY_TIMEOUT, DiscoveryError, FoundBy, Lookups, MailSettings, SignInHint, find,
    find_mail_settings,
};
use mailpresence_e2e::{DnsServer, WebServer, binary, free_port};
use mailpresence_protocol::transport::TlsMode;
use mailpresence_protocol::transport::oauth::ProviderKind;

/// The DNS of four company domains:
/// - contoso.test: mail on Microsoft 365 (with an on-premises backup MX);
/// - fabrikam.test: mail on Google Workspace;
/// - example.test: its own mail servers, published as SRV records — two
///   `_imaps` targets by priority, `_submissions` "not offered" (target
///   `.`), `_submission` with STARTTLS;
/// - autoconf.test and nothing.test: no records at all.
const RECORDS: [&str; 9] = [
    "mx-host=contoso.test,contoso-test.mail.protection.outlook.com,0",
    "mx-host=contoso.test,backup.contoso.test,20",
    "mx-host=fabrikam.test,aspmx.l.google.com,1",
    "mx-host=example.test,mx.example.test,10",
    "srv-host=_imaps._tcp.example.test,imap-backup.example.test,993,20,0",
    "srv-host=_imaps._tcp.example.test,imap.example.test,9993,10,5",
    "srv-host=_imap._tcp.example.test,imap.example.test,143,0,0",
    "srv-host=_submissions._tcp.example.test",
    "srv-host=_submission._tcp.example.test,smtp.example.test,587,0,0",
];

/// A company's published autoconfig: IMAP with implicit TLS, SMTP with
/// STARTTLS and the local part as the user name.
const AUTOCONFIG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="autoconf.test">
    <domain>autoconf.test</domain>
    <incomingServer type="imap">
      <hostname>mail.%EMAILDOMAIN%</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>mail.autoconf.test</hostname>
      <port>587</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"#;

struct Internet {
    dns: DnsServer,
    web: WebServer,
}

impl Internet {
    fn start() -> Self {
        Self {
            dns: DnsServer::start(&RECORDS),
            web: WebServer::start(),
        }
    }

    fn lookups(&self) -> Lookups {
        Lookups {
            dns: vec![self.dns.addr],
            autoconfig_base: Some(self.web.base()),
        }
    }

    async fn find(&self, address: &str) -> Result<MailSettings, DiscoveryError> {
        find(address, &self.lookups()).await
    }
}

fn service(s: &mailpresence_core::terminal::MailServer) -> (&str, u16, TlsMode, &str) {
    (
        s.host.as_str(),
        s.port,
        s.tls,
        s.user.as_deref().unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_company_on_microsoft_365_is_found_by_its_mx() {
    let net = Internet::start();
    let found = net.find("tanaka@contoso.test").await.unwrap();
    assert_eq!(
        found.found_by,
        FoundBy::Mx {
            exchange: "contoso-test.mail.protection.outlook.com".into()
        },
        "{}",
        net.dns.log()
    );
    assert_eq!(
        service(&found.imap),
        (
            "outlook.office365.com",
            993,
            TlsMode::Implicit,
            "tanaka@contoso.test"
        )
    );
    assert_eq!(
        service(&found.smtp),
        (
            "smtp.office365.com",
            587,
            TlsMode::Starttls,
            "tanaka@contoso.test"
        )
    );
    assert_eq!(
        found.sign_in,
        Some(SignInHint {
            provider: ProviderKind::Microsoft,
            tenant: Some("contoso.test".into())
        })
    );

    let google = net.find("sato@fabrikam.test").await.unwrap();
    assert_eq!(
        service(&google.smtp),
        (
            "smtp.gmail.com",
            465,
            TlsMode::Implicit,
            "sato@fabrikam.test"
        )
    );
    assert_eq!(google.sign_in.unwrap().provider, ProviderKind::Google);
}

#[tokio::test]
async fn a_domain_with_srv_records_gets_the_hosts_ports_and_tls_they_name() {
    let net = Internet::start();
    let found = net.find("yamada@example.test").await.unwrap();
    assert_eq!(found.found_by, FoundBy::Srv, "{}", net.dns.log());
    // Priority 10 before 20; implicit TLS preferred over `_imap`'s STARTTLS.
    assert_eq!(
        service(&found.imap),
        (
            "imap.example.test",
            9993,
            TlsMode::Implicit,
            "yamada@example.test"
        )
    );
    // `_submissions` says "not offered": `_submission` with STARTTLS.
    assert_eq!(
        service(&found.smtp),
        (
            "smtp.example.test",
            587,
            TlsMode::Starttls,
            "yamada@example.test"
        )
    );
    assert_eq!(found.sign_in, None);
}

#[tokio::test]
async fn autoconfig_is_read_at_the_domain_s_real_paths() {
    let net = Internet::start();
    // Only the second place Thunderbird asks has it; the first answers 404.
    net.web
        .put(".well-known/autoconfig/mail/config-v1.1.xml", AUTOCONFIG);
    let found = net.find("suzuki@autoconf.test").await.unwrap();
    assert_eq!(
        found.found_by,
        FoundBy::Autoconfig {
            url: format!(
                "{}/.well-known/autoconfig/mail/config-v1.1.xml",
                net.web.base()
            )
        }
    );
    assert_eq!(
        service(&found.imap),
        (
            "mail.autoconf.test",
            993,
            TlsMode::Implicit,
            "suzuki@autoconf.test"
        )
    );
    assert_eq!(
        service(&found.smtp),
        ("mail.autoconf.test", 587, TlsMode::Starttls, "suzuki")
    );
    let requests = net.web.log();
    assert!(
        requests.contains("GET /mail/config-v1.1.xml?emailaddress=suzuki%40autoconf.test"),
        "{requests}"
    );
}

#[tokio::test]
async fn a_domain_that_publishes_nothing_is_the_form() {
    let net = Internet::start();
    let err = net.find("ito@nothing.test").await.unwrap_err();
    assert_eq!(
        err,
        DiscoveryError::NotFound {
            domain: "nothing.test".into()
        },
        "{}",
        net.dns.log()
    );
    // A broken document is no settings either.
    net.web
        .put("mail/config-v1.1.xml", "<clientConfig><emailProvider>");
    let err = net.find("ito@nothing.test").await.unwrap_err();
    assert!(matches!(err, DiscoveryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn a_dns_server_that_does_not_answer_is_no_guess_and_no_hang() {
    let web = WebServer::start();
    let lookups = Lookups {
        // Nothing listens there.
        dns: vec![format!("127.0.0.1:{}", free_port()).parse().unwrap()],
        autoconfig_base: Some(web.base()),
    };
    let started = Instant::now();
    let err = find("ito@contoso.test", &lookups).await.unwrap_err();
    assert!(matches!(err, DiscoveryError::Unreachable { .. }), "{err}");
    assert!(started.elapsed() < DISCOVERY_TIMEOUT + Duration::from_secs(2));
}

/// The apps' call, polled by an executor that is not Tokio (as Kotlin's
/// coroutines and Swift's tasks poll it): it brings its own runtime.
#[test]
fn the_apps_call_works_from_any_executor_and_tells_errors_apart() {
    let dns = DnsServer::start(&RECORDS);
    let found = futures::executor::block_on(find_mail_settings(
        "tanaka@contoso.test".into(),
        vec![dns.addr.to_string()],
    ))
    .unwrap()
    .expect("settings");
    assert_eq!(found.imap.host, "outlook.office365.com");
    assert_eq!(found.sign_in.unwrap().provider, ProviderKind::Microsoft);

    let silent = format!("127.0.0.1:{}", free_port());
    let err = futures::executor::block_on(find_mail_settings(
        "tanaka@contoso.test".into(),
        vec![silent],
    ))
    .unwrap_err();
    assert!(matches!(err, PresenceError::Unreachable { .. }), "{err}");

    for (address, dns) in [
        ("no address", dns.addr.to_string()),
        ("a@contoso.test", "dns.example".into()),
    ] {
        let err =
            futures::executor::block_on(find_mail_settings(address.into(), vec![dns])).unwrap_err();
        assert!(matches!(err, PresenceError::InvalidInput { .. }), "{err}");
    }
}

#[test]
fn the_cli_says_what_it_found_and_where() {
    let dns = DnsServer::start(&RECORDS);
    let out = Command::new(binary("mailpresence"))
        .args(["settings", "--json", "tanaka@contoso.test"])
        .env("MAILPRESENCE_DNS", dns.addr.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["found_by"], "mx");
    assert_eq!(json["from"], "contoso-test.mail.protection.outlook.com");
    assert_eq!(json["imap"]["host"], "outlook.office365.com");
    assert_eq!(json["smtp"]["tls"], "starttls");
    assert_eq!(json["sign_in"]["provider"], "microsoft");

    let text = Command::new(binary("mailpresence"))
        .args(["settings", "yamada@example.test", "--dns"])
        .arg(dns.addr.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("SRV records"), "{text}");
    assert!(
        text.contains("imap.example.test:9993 (implicit TLS)"),
        "{text}"
    );
}
