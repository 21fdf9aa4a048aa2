//! Mail settings a worker does not type: from the mail address alone, the
//! IMAP and SMTP hosts, ports and TLS, and which sign-in the mailbox needs —
//! for the apps ([`find_mail_settings`]) and the CLI (`mailpresence
//! settings`). Tried in this order, the first answer winning:
//!
//! 1. a provider's own domain (outlook.com, gmail.com, `*.onmicrosoft.com`)
//!    — no lookup (`known`);
//! 2. the domain's MX, when it names Microsoft 365 or Google Workspace — how
//!    most companies' domains are found (`known`);
//! 3. RFC 6186 SRV records (`srv`);
//! 4. the autoconfig XML Thunderbird reads (`autoconfig`);
//! 5. else [`DiscoveryError::NotFound`]: the app shows the form.
//!
//! Choosing is pure (records in, settings out) and tested without a
//! network; `address` checks the address and the host names that come back;
//! `net` asks DNS and HTTP, every wait bounded, and the whole
//! discovery has its own bound. What is found is shown to the person before
//! it is used: DNS and a web server can be spoofed (RFC 6186 §6).

mod address;
mod autoconfig;
mod known;
mod net;
mod srv;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mailpresence_protocol::enrolment::ServiceSettings;
use mailpresence_protocol::transport::oauth::ProviderKind;
use tracing::{debug, info};

use crate::error::{Error, PresenceError};
use crate::terminal::MailServer;
pub use address::Address;
use address::valid_host;
pub use autoconfig::AutoconfigError;
pub use net::{DNS_TIMEOUT, HTTP_TIMEOUT, MAX_AUTOCONFIG_BYTES};
use srv::{MailService, SrvAnswers};

/// The bound on one whole discovery: every DNS query and both autoconfig
/// requests, with room to spare.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);

/// What was found for an address: the two services as the account settings
/// take them (the user name filled in, no password), and the sign-in the
/// mailbox needs when it is Microsoft 365 or Google.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MailSettings {
    pub imap: MailServer,
    pub smtp: MailServer,
    /// Sign in with this provider instead of a password.
    pub sign_in: Option<SignInHint>,
    /// Where the settings came from (to show the person).
    pub found_by: FoundBy,
}

/// The provider to sign in with; the app adds its own client id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignInHint {
    pub provider: ProviderKind,
    /// Microsoft: the tenant (the company's domain, or `consumers` for
    /// Outlook.com accounts); none for Google.
    pub tenant: Option<String>,
}

/// Where settings came from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FoundBy {
    /// The address is on a provider's own domain.
    KnownProvider,
    /// The domain's mail goes to this exchanger of a known provider.
    Mx { exchange: String },
    /// The domain's RFC 6186 SRV records.
    Srv,
    /// The autoconfig document at this URL.
    Autoconfig { url: String },
}

/// Why no settings came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("not a mail address: {0:?}")]
    NotAnAddress(String),
    /// Nothing is published for the domain: the settings are typed in.
    #[error("no mail settings are published for {domain}: enter them by hand")]
    NotFound { domain: String },
    /// DNS did not answer, so nothing could be decided.
    #[error("cannot look up the mail settings of {domain}: {detail}")]
    Unreachable { domain: String, detail: String },
    /// The DNS servers cannot be used (none given where they must be, an
    /// unreadable system configuration).
    #[error("DNS: {0}")]
    Resolver(String),
}

/// How to look: the DNS servers to ask, and (for tests only) where the
/// autoconfig documents are served instead of the domain's own hosts.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    /// Empty: the system's resolver (on Android the app must pass them).
    pub dns: Vec<SocketAddr>,
    /// Replaces `https://autoconfig.<domain>` and `https://<domain>`; the
    /// paths stay the real ones.
    pub autoconfig_base: Option<String>,
}

impl MailSettings {
    /// Both services logging in as the whole address.
    fn for_address(
        address: &Address,
        imap: ServiceSettings,
        smtp: ServiceSettings,
        sign_in: Option<SignInHint>,
        found_by: FoundBy,
    ) -> Self {
        let user = address.text();
        Self {
            imap: server(imap, user.clone()),
            smtp: server(smtp, user),
            sign_in,
            found_by,
        }
    }

    /// The IMAP service as the enrolment code writes it.
    pub fn imap_service(&self) -> ServiceSettings {
        service_of(&self.imap)
    }

    /// The SMTP service as the enrolment code writes it.
    pub fn smtp_service(&self) -> ServiceSettings {
        service_of(&self.smtp)
    }
}

fn server(service: ServiceSettings, user: String) -> MailServer {
    MailServer {
        host: service.host,
        port: service.port,
        tls: service.tls,
        user: Some(user),
        password: None,
        oauth_token_file: None,
        oauth_mechanism: None,
        ca_file: None,
    }
}

fn service_of(server: &MailServer) -> ServiceSettings {
    ServiceSettings {
        host: server.host.clone(),
        port: server.port,
        tls: server.tls,
    }
}

/// The sign-in for settings that point at a provider's own mail hosts
/// (published as SRV records or autoconfig by a company on Microsoft 365).
fn sign_in_for_hosts(address: &Address, imap_host: &str) -> Option<SignInHint> {
    let provider = known::provider_of_host(imap_host)?;
    Some(SignInHint {
        provider,
        tenant: (provider == ProviderKind::Microsoft).then(|| address.domain.clone()),
    })
}

/// Finds the settings for `address` (see the module's opening for the
/// order). Needs a Tokio runtime.
pub async fn find(address: &str, lookups: &Lookups) -> Result<MailSettings, DiscoveryError> {
    let address = Address::parse(address)?;
    if let Some(found) = known::by_domain(&address) {
        return Ok(found);
    }
    let domain = address.domain.clone();
    let found = tokio::time::timeout(DISCOVERY_TIMEOUT, look_up(&address, lookups))
        .await
        .unwrap_or_else(|_| {
            Err(DiscoveryError::Unreachable {
                domain,
                detail: format!("no answer within {} s", DISCOVERY_TIMEOUT.as_secs()),
            })
        })?;
    info!(domain = %address.domain, found_by = ?found.found_by, imap = %found.imap.host, smtp = %found.smtp.host, "mail settings found");
    Ok(found)
}

/// Steps 2–5: DNS (all five queries at once), then autoconfig.
async fn look_up(address: &Address, lookups: &Lookups) -> Result<MailSettings, DiscoveryError> {
    let dns = net::Dns::new(&lookups.dns).map_err(DiscoveryError::Resolver)?;
    let domain = address.domain.as_str();
    let (mx, imaps, imap, submissions, submission) = tokio::join!(
        dns.mx(domain),
        dns.srv(MailService::Imaps.label(), domain),
        dns.srv(MailService::Imap.label(), domain),
        dns.srv(MailService::Submissions.label(), domain),
        dns.srv(MailService::Submission.label(), domain),
    );
    let mut failures = Vec::new();
    let mx = answered("MX", mx, &mut failures);
    let mut srv = SrvAnswers::default();
    for (service, got) in MailService::ALL
        .into_iter()
        .zip([imaps, imap, submissions, submission])
    {
        srv.set(service, answered(service.label(), got, &mut failures));
    }
    if let Some(found) = known::by_mx(address, &mx) {
        return Ok(found);
    }
    if let Some(found) = from_srv(address, &srv) {
        return Ok(found);
    }
    if let Some(found) = from_autoconfig(address, lookups).await {
        return Ok(found);
    }
    // Without DNS's answer, "nothing published" would be a guess.
    Err(if failures.is_empty() {
        DiscoveryError::NotFound {
            domain: domain.to_owned(),
        }
    } else {
        DiscoveryError::Unreachable {
            domain: domain.to_owned(),
            detail: failures.join("; "),
        }
    })
}

/// The records of one query; a query without an answer counts as none and
/// is noted in `failures`.
fn answered<T>(name: &str, got: net::Answer<T>, failures: &mut Vec<String>) -> Vec<T> {
    got.unwrap_or_else(|e| {
        debug!(name, error = %e, "DNS gave no answer");
        failures.push(format!("{name}: {e}"));
        Vec::new()
    })
}

fn from_srv(address: &Address, answers: &SrvAnswers) -> Option<MailSettings> {
    let (imap, smtp) = srv::choose(answers)?;
    if !valid_host(&imap.host) || !valid_host(&smtp.host) {
        return None;
    }
    let sign_in = sign_in_for_hosts(address, &imap.host);
    Some(MailSettings::for_address(
        address,
        imap,
        smtp,
        sign_in,
        FoundBy::Srv,
    ))
}

/// Where the autoconfig document may be, in the order Thunderbird asks.
fn autoconfig_urls(address: &Address, base: Option<&str>) -> Vec<String> {
    let domain = &address.domain;
    let (sub, own) = match base {
        Some(base) => {
            let base = base.trim_end_matches('/');
            (base.to_owned(), base.to_owned())
        }
        None => (
            format!("https://autoconfig.{domain}"),
            format!("https://{domain}"),
        ),
    };
    vec![
        format!(
            "{sub}/mail/config-v1.1.xml?emailaddress={}",
            query_escape(&address.text())
        ),
        format!("{own}/.well-known/autoconfig/mail/config-v1.1.xml"),
    ]
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn from_autoconfig(address: &Address, lookups: &Lookups) -> Option<MailSettings> {
    let client = net::http_client()
        .inspect_err(|e| debug!(error = %e, "no HTTP client"))
        .ok()?;
    for url in autoconfig_urls(address, lookups.autoconfig_base.as_deref()) {
        let text = match net::fetch_text(&client, &url).await {
            Ok(text) => text,
            Err(e) => {
                debug!(error = %e, "no autoconfig here");
                continue;
            }
        };
        match autoconfig::parse(&text, address) {
            Ok((imap, smtp)) => {
                let sign_in = sign_in_for_hosts(address, &imap.service.host);
                if sign_in.is_none() && (imap.oauth || smtp.oauth) {
                    debug!(
                        url,
                        "OAuth2 at an unknown provider: password sign-in assumed"
                    );
                }
                return Some(MailSettings {
                    imap: server(imap.service, imap.user),
                    smtp: server(smtp.service, smtp.user),
                    sign_in,
                    found_by: FoundBy::Autoconfig { url },
                });
            }
            Err(e) => debug!(url, error = %e, "autoconfig not usable"),
        }
    }
    None
}

/// For the apps: the settings for `address`, or none when nothing is
/// published (show the form). `dns_servers` are the network's DNS servers
/// (`IP` or `IP:PORT`); empty asks the system's resolver — on Android pass
/// `LinkProperties.getDnsServers()`, where the core cannot read them.
#[uniffi::export]
pub async fn find_mail_settings(
    address: String,
    dns_servers: Vec<String>,
) -> Result<Option<MailSettings>, PresenceError> {
    let lookups = Lookups {
        dns: parse_dns_servers(&dns_servers)?,
        autoconfig_base: None,
    };
    // hickory and reqwest need Tokio; the app's executor polls this.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("mailpresence-settings")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let found = runtime
        .spawn(async move { find(&address, &lookups).await })
        .await;
    // Never blocks, so it is safe wherever this future is polled.
    runtime.shutdown_background();
    match found.map_err(Error::from)? {
        Ok(settings) => Ok(Some(settings)),
        Err(DiscoveryError::NotFound { .. }) => Ok(None),
        Err(e) => Err(Error::from(e).into()),
    }
}

/// `IP` (port 53) or `IP:PORT` (`[v6]:PORT`), as given by the app, the CLI
/// (`--dns`) or `MAILPRESENCE_DNS`.
pub fn parse_dns_servers(given: &[String]) -> Result<Vec<SocketAddr>, Error> {
    given
        .iter()
        .map(|text| {
            let text = text.trim();
            text.parse::<SocketAddr>()
                .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| Error::InvalidInput(format!("not a DNS server address: {text:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use mailpresence_protocol::transport::TlsMode;

    use super::srv::SrvRecord;
    use super::*;

    #[test]
    fn autoconfig_is_asked_at_the_domain_s_two_places() {
        let a = Address::parse("tanaka+x@example.co.jp").unwrap();
        assert_eq!(
            autoconfig_urls(&a, None),
            [
                "https://autoconfig.example.co.jp/mail/config-v1.1.xml?emailaddress=tanaka%2Bx%40example.co.jp",
                "https://example.co.jp/.well-known/autoconfig/mail/config-v1.1.xml",
            ]
        );
        assert_eq!(
            autoconfig_urls(&a, Some("http://127.0.0.1:8080/"))[1],
            "http://127.0.0.1:8080/.well-known/autoconfig/mail/config-v1.1.xml"
        );
    }

    #[test]
    fn srv_records_pointing_at_microsoft_ask_for_its_sign_in() {
        let a = Address::parse("tanaka@example.co.jp").unwrap();
        let record = |target: &str, port| SrvRecord {
            priority: 0,
            weight: 0,
            port,
            target: target.into(),
        };
        let answers = SrvAnswers {
            imaps: vec![record("outlook.office365.com", 993)],
            submission: vec![record("smtp.office365.com", 587)],
            ..SrvAnswers::default()
        };
        let found = from_srv(&a, &answers).unwrap();
        assert_eq!(found.found_by, FoundBy::Srv);
        assert_eq!(found.imap.tls, TlsMode::Implicit);
        assert_eq!(
            found.sign_in,
            Some(SignInHint {
                provider: ProviderKind::Microsoft,
                tenant: Some("example.co.jp".into())
            })
        );
        // A target that is no host name is not connected to.
        let odd = SrvAnswers {
            imaps: vec![record("imap example", 993)],
            submission: vec![record("smtp.example.co.jp", 587)],
            ..SrvAnswers::default()
        };
        assert_eq!(from_srv(&a, &odd), None);
    }

    #[test]
    fn dns_servers_are_addresses_with_port_53_unless_said() {
        let got = parse_dns_servers(&[
            "192.0.2.1".into(),
            "127.0.0.1:5353".into(),
            "[::1]:53".into(),
        ])
        .unwrap();
        assert_eq!(got[0], "192.0.2.1:53".parse().unwrap());
        assert_eq!(got[1].port(), 5353);
        assert!(got[2].is_ipv6());
        assert!(parse_dns_servers(&["dns.example".into()]).is_err());
    }

    #[test]
    fn a_provider_s_own_domain_is_answered_without_the_network() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A DNS server that does not exist: not asked for outlook.com.
        let lookups = Lookups {
            dns: vec!["127.0.0.1:9".parse().unwrap()],
            autoconfig_base: None,
        };
        let found = rt.block_on(find("yamada@outlook.com", &lookups)).unwrap();
        assert_eq!(found.found_by, FoundBy::KnownProvider);
        let err = rt.block_on(find("no-address", &lookups)).unwrap_err();
        assert!(matches!(err, DiscoveryError::NotAnAddress(_)));
    }
}
