//! `[sip]`: the SIP presence agent for desk phones — where it listens, its
//! domain, lifetimes, who is believed without a password, digest algorithms,
//! the bounds on dialogs, publications and connections, SIP over TLS — with
//! its defaults, its checks (the TLS certificate is read and matched now,
//! not at the first phone's handshake) and its warnings.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use super::Person;
use crate::sip::digest::Algorithm;

/// The SIP presence agent for desk phones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Address and port for UDP and TCP.
    #[serde(default = "default_sip_listen")]
    pub listen: SocketAddr,
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
    /// Only over TCP and TLS, where the source address was proven by the
    /// handshake: a UDP datagram's source address is whatever its sender
    /// wrote, so any host on the LAN could send a PUBLISH "from the PBX".
    #[serde(default)]
    pub trusted_networks: Vec<ipnet::IpNet>,
    /// Believe `trusted_networks` over UDP too: only where nobody can send
    /// packets with a forged source address (`--check-config` warns).
    #[serde(default)]
    pub trusted_over_udp: bool,
    /// Answer REGISTER (with the same authentication): for a site with no
    /// other SIP server, since most desk phones register before they publish.
    /// Leave off behind a company PBX, which is the registrar there.
    #[serde(default)]
    pub registrar: bool,
    /// Digest algorithms offered in a 401, most preferred first (RFC 8760):
    /// SHA-256 alone by default. MD5 only for phones that know nothing else
    /// (baresip 1.0, SIPp before 3.7: `["MD5"]`); with MD5 an answer without
    /// qop is taken too, as such phones send.
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<Algorithm>,
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
    pub tls_listen: Option<SocketAddr>,
    /// PEM file with the server's certificate (then any intermediates).
    pub tls_certificate: Option<PathBuf>,
    /// PEM file with the certificate's private key.
    pub tls_key: Option<PathBuf>,
}

fn default_digest_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::Sha256]
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

fn default_sip_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 5060))
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

    /// Whether requests from `ip` are believed without a password; `over_udp`:
    /// the request came in a datagram, whose source address proves nothing
    /// unless `trusted_over_udp` says the network makes it so.
    pub fn trusts(&self, ip: IpAddr, over_udp: bool) -> bool {
        if over_udp && !self.trusted_over_udp {
            return false;
        }
        let ip = ip.to_canonical();
        self.trusted_networks.iter().any(|n| n.contains(&ip))
    }

    /// What is wrong with `[sip]`.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(self.min_expires <= self.default_expires && self.default_expires <= self.max_expires) {
            p.push("[sip] needs min_expires <= default_expires <= max_expires".into());
        }
        p.extend(self.connection_problems());
        p.extend(self.tls_problems());
        p
    }

    /// Whether the bounds on TCP and TLS connections can work.
    fn connection_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            p.push("[sip] max_connections and max_connections_per_ip must be at least 1".into());
        }
        if self.max_connections_per_ip > self.max_connections {
            p.push(format!(
                "[sip] max_connections_per_ip {} is more than max_connections {}",
                self.max_connections_per_ip, self.max_connections
            ));
        }
        if self.connection_idle_timeout_secs == 0 || self.message_timeout_secs == 0 {
            p.push(
                "[sip] connection_idle_timeout_secs and message_timeout_secs must be at least 1"
                    .into(),
            );
        }
        let largest = crate::sip::message::MAX_MESSAGE_BYTES;
        if self.connection_write_queue_bytes < largest {
            p.push(format!(
                "[sip] connection_write_queue_bytes {} must hold at least one message of the largest size ({largest})",
                self.connection_write_queue_bytes
            ));
        }
        p
    }

    /// Whether SIP over TLS has its own port and a certificate that loads.
    fn tls_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let Some(tls_listen) = self.tls_listen else {
            if self.tls_certificate.is_some() || self.tls_key.is_some() {
                p.push("[sip] tls_certificate and tls_key are only used with tls_listen".into());
            }
            return p;
        };
        let (tcp, tls) = (self.listen, tls_listen);
        let same_host =
            tcp.ip() == tls.ip() || tcp.ip().is_unspecified() || tls.ip().is_unspecified();
        if same_host && tcp.port() == tls.port() && tls.port() != 0 {
            p.push(format!(
                "[sip] tls_listen {tls_listen} is the TCP address of listen: give TLS its own port (usually 5061)"
            ));
        }
        let (Some(certificate), Some(key)) = (&self.tls_certificate, &self.tls_key) else {
            p.push("[sip] tls_listen needs tls_certificate and tls_key (PEM files)".into());
            return p;
        };
        // Read and matched now, not at the first phone's handshake.
        if let Err(e) = crate::tls::server_config(certificate, key) {
            p.push(format!("[sip] {e}"));
        }
        p
    }

    /// What `[sip]` leaves open, or shut, without saying so; `people` are
    /// the directory, whose SIP users may lack a password.
    pub(super) fn warnings(&self, people: &[Person]) -> Vec<String> {
        let mut w = Vec::new();
        if self.trusted_over_udp && !self.trusted_networks.is_empty() {
            w.push(
                "[sip] trusted_over_udp = true: a UDP packet's source address can be forged by any host that reaches \
                 the SIP port, and it would then publish as anyone without a password. Trust the PBX over TCP or TLS instead."
                    .into(),
            );
        }
        if let Some(open) = self.trusted_networks.iter().find(|n| n.prefix_len() == 0) {
            w.push(format!(
                "[sip] trusted_networks has {open}: anyone who reaches the SIP port can publish as any \
                 desk user and watch every field worker's location, without a password. List only the \
                 company's SIP proxy or a closed LAN, and give people a sip_password."
            ));
        }
        if self.trusted_networks.is_empty() {
            let without: Vec<&str> = people
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
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_certificate;

    fn sip(text: &str) -> SipConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(sip("").problems(), Vec::<String>::new());
    }

    #[test]
    fn lifetimes_out_of_order_are_named() {
        assert_eq!(
            sip("min_expires = 600\ndefault_expires = 300").problems(),
            ["[sip] needs min_expires <= default_expires <= max_expires"]
        );
    }

    #[test]
    fn a_write_queue_smaller_than_a_message_names_the_size() {
        let largest = crate::sip::message::MAX_MESSAGE_BYTES;
        assert_eq!(
            sip("connection_write_queue_bytes = 1000").problems(),
            [format!(
                "[sip] connection_write_queue_bytes 1000 must hold at least one message of the largest size ({largest})"
            )]
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_named_under_sip() {
        let one = test_certificate::make();
        let other = test_certificate::make();
        let config = sip(&format!(
            "tls_listen = \"0.0.0.0:5061\"\ntls_certificate = {:?}\ntls_key = {:?}",
            one.certificate.display().to_string(),
            other.key.display().to_string()
        ));
        let p = config.problems();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("[sip] tls_key "), "{p:?}");
        assert!(p[0].contains("does not belong to tls_certificate"), "{p:?}");
    }

    #[test]
    fn sip_users_without_a_password_are_named_when_no_network_is_trusted() {
        let people: Vec<Person> = vec![
            toml::from_str("account = \"sato\"\nsip = \"sip:sato@example.co.jp\"").unwrap(),
            toml::from_str(
                "account = \"ito\"\nsip = \"sip:ito@example.co.jp\"\nsip_password = \"pw\"",
            )
            .unwrap(),
        ];
        let w = sip("").warnings(&people);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "[sip] has no trusted_networks and sato have a SIP URI but no sip_password"
            ),
            "{w:?}"
        );
        assert_eq!(
            sip("trusted_networks = [\"10.1.0.0/16\"]").warnings(&people),
            Vec::<String>::new()
        );
    }

    #[test]
    fn trust_is_by_network_and_domain_falls_back_to_the_servers() {
        let config = sip("trusted_networks = [\"10.1.0.0/16\"]");
        assert!(config.trusts("10.1.2.3".parse().unwrap(), false));
        assert!(config.trusts("::ffff:10.1.2.3".parse().unwrap(), false));
        assert!(!config.trusts("10.2.0.1".parse().unwrap(), false));
        // A datagram's source address is the sender's word alone.
        assert!(!config.trusts("10.1.2.3".parse().unwrap(), true));
        let udp_too = sip("trusted_networks = [\"10.1.0.0/16\"]\ntrusted_over_udp = true");
        assert!(udp_too.trusts("10.1.2.3".parse().unwrap(), true));
        assert!(
            udp_too
                .warnings(&[])
                .iter()
                .any(|w| w.contains("trusted_over_udp")),
            "{:?}",
            udp_too.warnings(&[])
        );
        assert_eq!(config.domain("presence@example.co.jp"), "example.co.jp");
    }
}
