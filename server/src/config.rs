//! The server's one TOML configuration file: mail endpoints, storage, presence
//! policy, the directory of people and the authorization rules. `validate`
//! explains every mistake at once, in words an administrator can act on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mailpresence_protocol::model::AccountName;
use mailpresence_protocol::summary::Lang;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path} has {} mistake(s):\n{}", .problems.len(), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
    #[serde(default)]
    pub presence: PresencePolicy,
    /// How the sender of a presence mail is proven; required (see `problems`).
    pub trust: Option<TrustConfig>,
    /// The SIP side; without this section the server speaks mail only.
    pub sip: Option<SipConfig>,
    /// The presence board in the browser for desk staff; off when absent.
    pub web: Option<WebConfig>,
    #[serde(default, rename = "person")]
    pub people: Vec<Person>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// The presence server's own mail address (terminals write to it).
    pub address: String,
    /// The SQLite database file; created with its folder when missing.
    pub storage: PathBuf,
    /// Language of the human summary in Notify and PIDF notes.
    #[serde(default)]
    pub language: Lang,
}

use mailpresence_protocol::secret::Secret;
use mailpresence_protocol::transport::Endpoint;
pub use mailpresence_protocol::transport::TlsMode;
use mailpresence_protocol::transport::imap::Timeouts;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: TlsMode,
    pub user: String,
    pub password: Secret,
    /// Extra CA certificate (PEM) to trust, e.g. the company's own CA.
    pub ca_file: Option<PathBuf>,
    /// The folder the presence mails arrive in.
    #[serde(default = "default_inbox")]
    pub mailbox: String,
    /// Move handled mails here; when absent they stay and are only flagged.
    pub done_mailbox: Option<String>,
    /// IDLE is renewed after this long; keep it under the server's 30 min
    /// autologout (RFC 3501) and under NAT timeouts.
    #[serde(default = "default_idle_secs")]
    pub idle_timeout_secs: u64,
    /// How often to look for mail when the server has no IDLE.
    #[serde(default = "default_poll_secs")]
    pub poll_interval_secs: u64,
    /// How long one IMAP command (or the connect and login) may take before
    /// the connection is given up and made again.
    #[serde(default = "default_command_secs")]
    pub command_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: TlsMode,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
    /// At most this many mails per second leave the outbox.
    #[serde(default = "default_rate")]
    pub max_per_second: u32,
    /// Longest wait between two tries of a mail the SMTP server did not take.
    #[serde(default = "default_retry_secs")]
    pub max_retry_secs: u64,
    /// How long the SMTP server may take to answer one command.
    #[serde(default = "default_smtp_command_secs")]
    pub command_timeout_secs: u64,
}

/// How a presence mail proves who sent it. Phones are on the internet: the
/// From header alone proves nothing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    pub mode: TrustMode,
    /// `authentication-results`: the authserv-id the company's receiving mail
    /// system writes in its `Authentication-Results` header.
    pub authserv_id: Option<String>,
    /// `dkim`: public keys to use instead of asking DNS, e.g. for a mail
    /// system whose DNS the server cannot reach.
    #[serde(default, rename = "dkim_key")]
    pub dkim_keys: Vec<DkimKey>,
    /// How long a DKIM key lookup in DNS may take.
    #[serde(default = "default_dns_timeout")]
    pub dns_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustMode {
    /// The company MTA's `Authentication-Results` (RFC 8601) header.
    AuthenticationResults,
    /// DKIM verified by the server itself.
    Dkim,
    /// The From header as written: only for a closed mail system.
    FromHeader,
}

/// A DKIM public key as its DNS TXT record holds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimKey {
    /// `selector._domainkey.domain`, e.g. `mail._domainkey.example.co.jp`.
    pub name: String,
    /// The TXT record, e.g. `v=DKIM1; k=rsa; p=MIIBIjAN…`.
    pub record: String,
}

fn default_dns_timeout() -> u64 {
    10
}

/// The SIP presence agent for desk phones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Address and port for UDP and TCP.
    #[serde(default = "default_sip_listen")]
    pub listen: std::net::SocketAddr,
    /// The SIP domain of presentity URIs; the domain of `[server] address` when absent.
    pub domain: Option<String>,
    /// `host:port` written in Via and Contact of our requests; the listen
    /// address when absent (set it when listening on 0.0.0.0).
    pub advertise: Option<String>,
    /// Subscription and publication lifetimes: default, floor and ceiling.
    #[serde(default = "default_sip_expires")]
    pub default_expires: u32,
    #[serde(default = "default_sip_min_expires")]
    pub min_expires: u32,
    #[serde(default = "default_sip_max_expires")]
    pub max_expires: u32,
    /// A NOTIFY unanswered this long drops the watcher (RFC 3261 Timer F is 32 s).
    #[serde(default = "default_notify_timeout")]
    pub notify_timeout_secs: u64,
    /// Sources believed without a password: the company's SIP proxy that
    /// has authenticated its phones, or a closed LAN (e.g. "10.1.0.0/16").
    /// From anywhere else PUBLISH and SUBSCRIBE need the person's
    /// `sip_password` (digest); a person without one cannot use SIP from there.
    #[serde(default)]
    pub trusted_networks: Vec<ipnet::IpNet>,
    /// Answer REGISTER (with the same authentication): for a site with no
    /// other SIP server, since most desk phones register before they publish.
    /// Leave off behind a company PBX, which is the registrar there.
    #[serde(default)]
    pub registrar: bool,
    /// Digest algorithms offered in a 401, most preferred first (RFC 8760):
    /// SHA-256, and MD5 for phones that know nothing else. A phone that reads
    /// only the first challenge and knows only MD5 (SIPp before 3.7) needs
    /// `["MD5"]`.
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<crate::sip::digest::Algorithm>,
    /// Bounds on subscriptions: in all, and per watcher (a desk phone
    /// watching a whole floor needs a few hundred).
    #[serde(default = "default_max_dialogs")]
    pub max_dialogs: usize,
    #[serde(default = "default_max_dialogs_per_watcher")]
    pub max_dialogs_per_watcher: usize,
    /// Live publications one person may have (one per device).
    #[serde(default = "default_max_publications_per_person")]
    pub max_publications_per_person: usize,
    // The bounds of TCP and TLS connections (counted together) and SIP over TLS.
    /// Connections open at once; more are closed as they come.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// A connection that sends nothing (not even a CRLF keep-alive) this
    /// long is closed.
    #[serde(default = "default_connection_idle_timeout")]
    pub connection_idle_timeout_secs: u64,
    /// A message must be complete this long after its first byte (a TLS
    /// handshake too, and each of our writes taken by the phone).
    #[serde(default = "default_message_timeout")]
    pub message_timeout_secs: u64,
    /// Bytes waiting to be sent on one connection; a phone that does not
    /// read is disconnected past this.
    #[serde(default = "default_connection_write_queue")]
    pub connection_write_queue_bytes: usize,
    /// SIP over TLS (usually "0.0.0.0:5061"); off when absent.
    pub tls_listen: Option<std::net::SocketAddr>,
    /// PEM file with the server's certificate (then any intermediates).
    pub tls_certificate: Option<PathBuf>,
    /// PEM file with the certificate's private key.
    pub tls_key: Option<PathBuf>,
}

fn default_digest_algorithms() -> Vec<crate::sip::digest::Algorithm> {
    use crate::sip::digest::Algorithm;
    vec![Algorithm::Sha256, Algorithm::Md5]
}
fn default_max_dialogs() -> usize {
    100_000
}
fn default_max_dialogs_per_watcher() -> usize {
    500
}
fn default_max_publications_per_person() -> usize {
    8
}

fn default_sip_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([0, 0, 0, 0], 5060))
}
fn default_sip_expires() -> u32 {
    3600
}
fn default_sip_min_expires() -> u32 {
    60
}
fn default_sip_max_expires() -> u32 {
    86400
}
fn default_notify_timeout() -> u64 {
    32
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_connections_per_ip() -> usize {
    32
}
fn default_connection_idle_timeout() -> u64 {
    300
}
fn default_message_timeout() -> u64 {
    10
}
fn default_connection_write_queue() -> usize {
    256 * 1024
}

impl SipConfig {
    pub fn domain<'a>(&'a self, server_address: &'a str) -> &'a str {
        self.domain
            .as_deref()
            .unwrap_or_else(|| server_address.rsplit('@').next().unwrap_or(server_address))
    }

    /// Whether requests from `ip` are believed without a password.
    pub fn trusts(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_networks.iter().any(|n| n.contains(&ip))
    }
}

/// The presence board in the browser (行き先掲示板) for desk staff.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address and port for HTTP, or HTTPS with a certificate.
    #[serde(default = "default_web_listen")]
    pub listen: std::net::SocketAddr,
    /// The board's address as people open it (`https://presence.example.co.jp`);
    /// sign-in links start with it, and a change must come from this origin.
    pub public_url: String,
    /// HTTPS with rustls: PEM certificate (then intermediates) and key. Without
    /// them the board speaks plain HTTP, for a reverse proxy in front.
    pub tls_certificate: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The reverse proxies in front, by address: their connections count
    /// only in the total (they carry everyone's), and the client address they
    /// append to `X-Forwarded-For` is the one rate limits count. With
    /// `user_header` (single sign-on), the header naming the user (account or
    /// mail address) is believed from these addresses, never from anyone else.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub user_header: Option<String>,
    /// Whether people may sign in with a link mailed to their address (on
    /// unless single sign-on replaces it).
    #[serde(default = "default_true")]
    pub mail_sign_in: bool,
    /// A sign-in link works once, within this many minutes.
    #[serde(default = "default_link_minutes")]
    pub link_minutes: u32,
    /// Sign-in mails one address may get per hour; more requests are
    /// answered the same way, but no mail goes out.
    #[serde(default = "default_links_per_hour")]
    pub links_per_hour: u32,
    /// Sign-in requests one IP address may make per hour.
    #[serde(default = "default_link_requests_per_ip")]
    pub link_requests_per_ip_hour: u32,
    /// A session ends this many hours after sign-in.
    #[serde(default = "default_session_hours")]
    pub session_hours: u32,
    /// Board pages open at once (live streams); more are refused with 503.
    #[serde(default = "default_web_max_streams")]
    pub max_streams: usize,
    /// Connections one address may hold open (streams, page loads); a
    /// trusted proxy is bound by the total alone.
    #[serde(default = "default_web_connections_per_address")]
    pub connections_per_address: usize,
    /// The phone's map pack, for the map view's prefecture outlines and the
    /// towns' representative points; no map view without it.
    pub map_pack: Option<PathBuf>,
}

fn default_web_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_true() -> bool {
    true
}
fn default_link_minutes() -> u32 {
    15
}
fn default_links_per_hour() -> u32 {
    5
}
fn default_link_requests_per_ip() -> u32 {
    30
}
fn default_session_hours() -> u32 {
    12
}
fn default_web_connections_per_address() -> usize {
    64
}
fn default_web_max_streams() -> usize {
    5000
}

impl WebConfig {
    /// The origin of `public_url` (`scheme://host[:port]`), as browsers send
    /// it in `Origin`.
    pub fn origin(&self) -> &str {
        let url = self.public_url.trim_end_matches('/');
        match url.find("://") {
            Some(i) => match url[i + 3..].find('/') {
                Some(j) => &url[..i + 3 + j],
                None => url,
            },
            None => url,
        }
    }

    /// Whether the board is reached over HTTPS (then cookies are `Secure`).
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// Whether a request from `ip` may name its user in `user_header`.
    pub fn trusts_proxy(&self, ip: std::net::IpAddr) -> bool {
        self.user_header.is_some() && self.is_proxy(ip)
    }

    /// Whether `ip` is one of the reverse proxies in front.
    pub fn is_proxy(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|p| p.to_canonical() == ip)
    }
}

/// How presence behaves over time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresencePolicy {
    /// An unanswered request is dropped after this long.
    pub request_ttl_secs: u64,
    /// The longest a `watch` may last, whatever it asks for.
    pub watch_max_secs: u64,
    /// A watcher gets at most one Notify mail per colleague per this interval
    /// (changes in between are folded into the next one).
    pub notify_interval_secs: u64,
    /// The same for SIP watchers (desk phones), in milliseconds: short, since a
    /// NOTIFY costs a datagram, not a phone's download (RFC 6446's rate control).
    pub sip_notify_interval_ms: u64,
    /// Presence older than this is sent as stale (its Updated says how old).
    pub stale_after_secs: u64,
    /// A location is forgotten this long after it was published.
    pub location_ttl_secs: u64,
    /// Presence mails one sender may send per hour; more are refused.
    pub sender_mails_per_hour: u32,
}

impl Default for PresencePolicy {
    fn default() -> Self {
        Self {
            request_ttl_secs: 24 * 3600,
            watch_max_secs: 24 * 3600,
            notify_interval_secs: 60,
            sip_notify_interval_ms: 1000,
            stale_after_secs: 2 * 3600,
            location_ttl_secs: 8 * 3600,
            sender_mails_per_hour: 120,
        }
    }
}

/// One person of the directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub account: String,
    #[serde(default)]
    pub name: String,
    /// Mail address; people without one use SIP only.
    pub mail: Option<String>,
    /// SIP URI; people without one use mail only.
    pub sip: Option<String>,
    /// Digest password for the SIP side, when authentication is wanted.
    pub sip_password: Option<Secret>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// An authorization rule: these watchers may see these people — their
/// activity and schedule always, their location only with `location = true`.
/// Entries are account names, `group:NAME`, or `*` for everyone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub watchers: Vec<String>,
    pub may_see: Vec<String>,
    #[serde(default)]
    pub location: bool,
}

impl ImapConfig {
    pub fn timeouts(&self) -> Timeouts {
        let command = Duration::from_secs(self.command_timeout_secs.max(1));
        Timeouts {
            connect: command,
            command,
            idle: Duration::from_secs(self.idle_timeout_secs.max(1)),
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
            credentials: Some((self.user.clone(), self.password.expose().to_owned())),
            ca_file: self.ca_file.clone(),
        }
    }
}

impl SmtpConfig {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
            credentials: self
                .user
                .clone()
                .zip(self.password.as_ref().map(|p| p.expose().to_owned())),
            ca_file: self.ca_file.clone(),
        }
    }
}

fn default_inbox() -> String {
    "INBOX".into()
}
fn default_idle_secs() -> u64 {
    25 * 60
}
fn default_poll_secs() -> u64 {
    60
}
fn default_command_secs() -> u64 {
    60
}
fn default_smtp_command_secs() -> u64 {
    30
}
fn default_rate() -> u32 {
    20
}
fn default_retry_secs() -> u64 {
    300
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }

    /// Everything wrong with a parsed configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !looks_like_address(&self.server.address) {
            p.push(format!(
                "[server] address {:?} is not a mail address",
                self.server.address
            ));
        }
        for (section, host, port, ca) in [
            ("imap", &self.imap.host, self.imap.port, &self.imap.ca_file),
            ("smtp", &self.smtp.host, self.smtp.port, &self.smtp.ca_file),
        ] {
            if host.trim().is_empty() {
                p.push(format!("[{section}] host is empty"));
            }
            if port == 0 {
                p.push(format!("[{section}] port 0 is not a port"));
            }
            // Read, not only looked for: a file that is not PEM certificates
            // would otherwise fail only at the first connection.
            if let Some(ca) = ca {
                if !ca.is_file() {
                    p.push(format!(
                        "[{section}] ca_file {} does not exist",
                        ca.display()
                    ));
                } else if let Err(e) =
                    mailpresence_protocol::transport::tls::client_config(Some(ca))
                {
                    p.push(format!("[{section}] ca_file: {e}"));
                }
            }
        }
        if self.smtp.user.is_some() != self.smtp.password.is_some() {
            p.push("[smtp] user and password go together: give both or neither".into());
        }
        if self.smtp.max_per_second == 0 {
            p.push("[smtp] max_per_second must be at least 1".into());
        }
        if self.imap.command_timeout_secs == 0 || self.smtp.command_timeout_secs == 0 {
            p.push("[imap] and [smtp] command_timeout_secs must be at least 1".into());
        }
        if self.imap.idle_timeout_secs == 0 || self.imap.idle_timeout_secs > 29 * 60 {
            p.push(format!(
                "[imap] idle_timeout_secs {} must be between 1 and 1740 (servers log out after 30 min)",
                self.imap.idle_timeout_secs
            ));
        }
        if self.presence.notify_interval_secs == 0 {
            p.push("[presence] notify_interval_secs must be at least 1".into());
        }
        if self.presence.sender_mails_per_hour == 0 {
            p.push("[presence] sender_mails_per_hour must be at least 1".into());
        }
        self.trust_problems(&mut p);
        if let Some(sip) = &self.sip
            && !(sip.min_expires <= sip.default_expires && sip.default_expires <= sip.max_expires)
        {
            p.push("[sip] needs min_expires <= default_expires <= max_expires".into());
        }
        if let Some(sip) = &self.sip {
            sip_connection_problems(sip, &mut p);
            sip_tls_problems(sip, &mut p);
        }
        if let Some(web) = &self.web {
            web_problems(web, &mut p);
        }
        self.people_problems(&mut p);
        self.rule_problems(&mut p);
        p
    }

    fn trust_problems(&self, p: &mut Vec<String>) {
        let Some(trust) = &self.trust else {
            p.push(
                "[trust] is missing: say how a presence mail proves its sender. Usually\n    \
                 [trust]\n    mode = \"authentication-results\"\n    authserv_id = \"<the id your mail system writes in Authentication-Results>\"\n    \
                 or mode = \"dkim\" (the server checks DKIM itself), or mode = \"from-header\" (closed mail systems only; see the README)"
                    .into(),
            );
            return;
        };
        let id = trust
            .authserv_id
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        match trust.mode {
            TrustMode::AuthenticationResults if id.is_empty() => p.push(
                "[trust] mode = \"authentication-results\" needs authserv_id: the name your receiving mail system writes first in its Authentication-Results header (e.g. \"mx.example.co.jp\"; Google Workspace: \"mx.google.com\"; see the README)"
                    .into(),
            ),
            TrustMode::AuthenticationResults => {
                if id.contains(char::is_whitespace) || id.contains(';') {
                    p.push(format!("[trust] authserv_id {id:?} must be one word"));
                }
            }
            TrustMode::Dkim | TrustMode::FromHeader => {
                if trust.authserv_id.is_some() {
                    p.push("[trust] authserv_id is only used with mode = \"authentication-results\"".into());
                }
            }
        }
        if trust.mode != TrustMode::Dkim && !trust.dkim_keys.is_empty() {
            p.push("[[trust.dkim_key]] is only used with mode = \"dkim\"".into());
        }
        for key in &trust.dkim_keys {
            if !key.name.contains("._domainkey.") {
                p.push(format!(
                    "[[trust.dkim_key]] name {:?} must be selector._domainkey.domain",
                    key.name
                ));
            }
            use mail_auth::common::parse::TxtRecordParser;
            if let Err(e) = mail_auth::common::verify::DomainKey::parse(key.record.as_bytes()) {
                p.push(format!(
                    "[[trust.dkim_key]] {}: the record is not a DKIM key ({e})",
                    key.name
                ));
            }
        }
        if trust.dns_timeout_secs == 0 {
            p.push("[trust] dns_timeout_secs must be at least 1".into());
        }
    }

    fn people_problems(&self, p: &mut Vec<String>) {
        let mut accounts = HashSet::new();
        let mut mails = HashSet::new();
        for (i, person) in self.people.iter().enumerate() {
            let at = format!("[[person]] #{} ({})", i + 1, person.account);
            if let Err(e) = person.account.parse::<AccountName>() {
                p.push(format!("{at}: account: {e}"));
            }
            if !accounts.insert(person.account.as_str()) {
                p.push(format!("{at}: account {} is listed twice", person.account));
            }
            if person.mail.is_none() && person.sip.is_none() {
                p.push(format!("{at}: needs a mail address or a SIP URI, or both"));
            }
            if let Some(m) = &person.mail {
                if !looks_like_address(m) {
                    p.push(format!("{at}: mail {m:?} is not a mail address"));
                } else if !mails.insert(m.to_ascii_lowercase()) {
                    p.push(format!("{at}: mail {m} belongs to someone else too"));
                }
                if m.eq_ignore_ascii_case(&self.server.address) {
                    p.push(format!("{at}: mail {m} is the server's own address"));
                }
            }
            if let Some(s) = &person.sip
                && !(s.starts_with("sip:") || s.starts_with("sips:"))
            {
                p.push(format!("{at}: sip {s:?} must start with sip: or sips:"));
            }
        }
    }

    fn rule_problems(&self, p: &mut Vec<String>) {
        let accounts: HashSet<&str> = self.people.iter().map(|x| x.account.as_str()).collect();
        let groups: HashSet<&str> = self
            .people
            .iter()
            .flat_map(|x| x.groups.iter().map(String::as_str))
            .collect();
        for (i, rule) in self.rules.iter().enumerate() {
            for entry in rule.watchers.iter().chain(&rule.may_see) {
                let known = match entry.strip_prefix("group:") {
                    _ if entry == "*" => true,
                    Some(g) => groups.contains(g),
                    None => accounts.contains(entry.as_str()),
                };
                if !known {
                    p.push(format!(
                        "[[rule]] #{}: {entry:?} is no account, group:NAME of a known group, or *",
                        i + 1
                    ));
                }
            }
            if rule.watchers.is_empty() || rule.may_see.is_empty() {
                p.push(format!(
                    "[[rule]] #{}: watchers and may_see must each name someone",
                    i + 1
                ));
            }
        }
    }

    /// Things that are allowed but probably not meant.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.rules.is_empty() {
            w.push("no [[rule]]: nobody may see anybody's presence".into());
        }
        if self.people.is_empty() {
            w.push("no [[person]]: every presence mail will be refused".into());
        }
        if self
            .trust
            .as_ref()
            .is_some_and(|t| t.mode == TrustMode::FromHeader)
        {
            w.push(
                "[trust] mode = \"from-header\": the server believes the From header, which anyone can write. \
                 Anyone who can send mail to the presence address can change a colleague's status and location. \
                 Use it only for a closed mail system that accepts no mail from outside."
                    .into(),
            );
        }
        if let Some(sip) = &self.sip {
            self.sip_warnings(sip, &mut w);
        }
        if let Some(web) = &self.web
            && web.tls_certificate.is_none()
            && !web.listen.ip().is_loopback()
        {
            w.push(format!(
                "[web] listens on {} without HTTPS: put a reverse proxy with HTTPS in front, or give tls_certificate and tls_key",
                web.listen
            ));
        }
        for (section, tls) in [("imap", self.imap.tls), ("smtp", self.smtp.tls)] {
            if tls == TlsMode::None {
                w.push(format!(
                    "[{section}] tls = \"none\": passwords cross the network in clear text"
                ));
            }
        }
        w
    }
}

impl Config {
    /// What a `[sip]` section leaves open, or shut, without saying so.
    fn sip_warnings(&self, sip: &SipConfig, w: &mut Vec<String>) {
        if let Some(open) = sip.trusted_networks.iter().find(|n| n.prefix_len() == 0) {
            w.push(format!(
                "[sip] trusted_networks has {open}: anyone who reaches the SIP port can publish as any \
                 desk user and watch every field worker's location, without a password. List only the \
                 company's SIP proxy or a closed LAN, and give people a sip_password."
            ));
        }
        if sip.trusted_networks.is_empty() {
            let without: Vec<&str> = self
                .people
                .iter()
                .filter(|p| p.sip.is_some() && p.sip_password.is_none())
                .map(|p| p.account.as_str())
                .collect();
            if !without.is_empty() {
                w.push(format!(
                    "[sip] has no trusted_networks and {} have a SIP URI but no sip_password: \
                     their phones will be refused (403). Give each a sip_password, or list the \
                     SIP proxy that authenticates them in trusted_networks.",
                    without.join(", ")
                ));
            }
        }
    }
}

fn sip_connection_problems(sip: &SipConfig, p: &mut Vec<String>) {
    if sip.max_connections == 0 || sip.max_connections_per_ip == 0 {
        p.push("[sip] max_connections and max_connections_per_ip must be at least 1".into());
    }
    if sip.max_connections_per_ip > sip.max_connections {
        p.push(format!(
            "[sip] max_connections_per_ip {} is more than max_connections {}",
            sip.max_connections_per_ip, sip.max_connections
        ));
    }
    if sip.connection_idle_timeout_secs == 0 || sip.message_timeout_secs == 0 {
        p.push(
            "[sip] connection_idle_timeout_secs and message_timeout_secs must be at least 1".into(),
        );
    }
    let largest = crate::sip::message::MAX_MESSAGE_BYTES;
    if sip.connection_write_queue_bytes < largest {
        p.push(format!(
            "[sip] connection_write_queue_bytes {} must hold at least one message of the largest size ({largest})",
            sip.connection_write_queue_bytes
        ));
    }
}

fn sip_tls_problems(sip: &SipConfig, p: &mut Vec<String>) {
    let Some(tls_listen) = sip.tls_listen else {
        if sip.tls_certificate.is_some() || sip.tls_key.is_some() {
            p.push("[sip] tls_certificate and tls_key are only used with tls_listen".into());
        }
        return;
    };
    let (tcp, tls) = (sip.listen, tls_listen);
    let same_host = tcp.ip() == tls.ip() || tcp.ip().is_unspecified() || tls.ip().is_unspecified();
    if same_host && tcp.port() == tls.port() && tls.port() != 0 {
        p.push(format!(
            "[sip] tls_listen {tls_listen} is the TCP address of listen: give TLS its own port (usually 5061)"
        ));
    }
    let (Some(certificate), Some(key)) = (&sip.tls_certificate, &sip.tls_key) else {
        p.push("[sip] tls_listen needs tls_certificate and tls_key (PEM files)".into());
        return;
    };
    // Read and matched now, not at the first phone's handshake.
    if let Err(e) = crate::tls::server_config(certificate, key) {
        p.push(format!("[sip] {e}"));
    }
}

fn web_problems(web: &WebConfig, p: &mut Vec<String>) {
    let url = web.public_url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
        p.push(format!(
            "[web] public_url {url:?} must be the board's address as people open it, e.g. \"https://presence.example.co.jp\""
        ));
    }
    match (&web.tls_certificate, &web.tls_key) {
        (Some(certificate), Some(key)) => {
            if let Err(e) = crate::tls::server_config(certificate, key) {
                p.push(format!("[web] {e}"));
            }
        }
        (None, None) => {}
        _ => p.push("[web] tls_certificate and tls_key go together: give both or neither".into()),
    }
    if web.user_header.is_some() && web.trusted_proxies.is_empty() {
        p.push(
            "[web] user_header needs trusted_proxies: the header is believed only from the proxy's addresses".into(),
        );
    }
    if !web.mail_sign_in && web.user_header.is_none() {
        p.push("[web] with mail_sign_in = false, nobody can sign in: set user_header and trusted_proxies".into());
    }
    if web.link_minutes == 0 || web.link_minutes > 24 * 60 {
        p.push("[web] link_minutes must be between 1 and 1440".into());
    }
    if web.session_hours == 0 {
        p.push("[web] session_hours must be at least 1".into());
    }
    if web.links_per_hour == 0
        || web.link_requests_per_ip_hour == 0
        || web.max_streams == 0
        || web.connections_per_address == 0
    {
        p.push(
            "[web] links_per_hour, link_requests_per_ip_hour, max_streams and \
             connections_per_address must be at least 1"
                .into(),
        );
    }
    if let Some(pack) = &web.map_pack
        && !pack.is_file()
    {
        p.push(format!("[web] map_pack {} does not exist", pack.display()));
    }
}

fn looks_like_address(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}
