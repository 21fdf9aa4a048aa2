//! `[web]`: the presence board in the browser (行き先掲示板) for desk staff —
//! where it listens and is reached, HTTPS, the reverse proxies and single
//! sign-on in front, sign-in links and sessions, the bounds on streams and
//! connections, the map pack — with its defaults, its checks and the
//! warning about plain HTTP.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

/// The presence board in the browser (行き先掲示板) for desk staff.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address and port for HTTP, or HTTPS with a certificate.
    #[serde(default = "default_web_listen")]
    pub listen: SocketAddr,
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
    pub trusted_proxies: Vec<IpAddr>,
    pub user_header: Option<String>,
    /// Whether people may sign in with a link mailed to their address (on
    /// unless single sign-on replaces it).
    #[serde(default = "default_true")]
    pub mail_sign_in: bool,
    /// Who may use the Phones page (enrolment codes, revoking a lost phone):
    /// accounts and `group:NAME` entries, e.g. `["group:it"]`. Nobody when empty.
    #[serde(default)]
    pub admins: Vec<String>,
    /// Display names of the departments (the directory's first group of a
    /// person) for the board's headings: `{ desk = "内勤", field = "外勤" }`;
    /// a group not named here is shown as it is.
    #[serde(default)]
    pub departments: std::collections::BTreeMap<String, String>,
    /// How the board calls a desk phone's extension: a URI with `{ext}`,
    /// `tel:{ext}` (the default: a softphone or the PC's dialler) or
    /// `sip:{ext}@pbx.example.co.jp`.
    #[serde(default = "default_extension_uri")]
    pub extension_uri: String,
    /// A sign-in link works once, within this many minutes.
    #[serde(default = "default_link_minutes")]
    pub link_minutes: u32,
    /// A person gets at most one sign-in mail in this many minutes; more
    /// requests are answered the same way, and the link already sent still
    /// works (the gap is shorter than `link_minutes`).
    #[serde(default = "default_link_mail_minutes")]
    pub link_mail_minutes: u32,
    /// No longer used (it let others' requests use up a person's links for
    /// the hour); accepted so that an old configuration still starts, with a
    /// warning.
    pub links_per_hour: Option<u32>,
    /// Sign-in requests one source (an IPv4 address, an IPv6 /64) may make
    /// per hour.
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
    /// The office states the board offers (see `presets.rs`); the built-in
    /// ones when absent.
    pub presets: Option<Vec<super::presets::Preset>>,
    /// Whether a person's first sign-in of the day sets them 在席 (a state
    /// already set today, by phone or board, is left alone).
    #[serde(default)]
    pub present_at_first_sign_in: bool,
}

fn default_web_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_extension_uri() -> String {
    "tel:{ext}".into()
}
fn default_true() -> bool {
    true
}
fn default_link_minutes() -> u32 {
    15
}
fn default_link_mail_minutes() -> u32 {
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

    /// The office states the board offers: the company's, or the built-in ones.
    pub fn office_states(&self) -> &[super::presets::Preset] {
        static BUILT_IN: std::sync::LazyLock<Vec<super::presets::Preset>> =
            std::sync::LazyLock::new(super::presets::built_in);
        self.presets.as_deref().unwrap_or(&BUILT_IN)
    }

    /// Whether a request from `ip` may name its user in `user_header`.
    pub fn trusts_proxy(&self, ip: IpAddr) -> bool {
        self.user_header.is_some() && self.is_proxy(ip)
    }

    /// Whether `ip` is one of the reverse proxies in front.
    pub fn is_proxy(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|p| p.to_canonical() == ip)
    }

    /// What is wrong with `[web]`; the certificate, when given, is read and
    /// matched with its key now.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let url = self.public_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
            p.push(format!(
                "[web] public_url {url:?} must be the board's address as people open it, e.g. \"https://presence.example.co.jp\""
            ));
        }
        match (&self.tls_certificate, &self.tls_key) {
            (Some(certificate), Some(key)) => {
                if let Err(e) = crate::tls::server_config(certificate, key) {
                    p.push(format!("[web] {e}"));
                }
            }
            (None, None) => {}
            _ => {
                p.push("[web] tls_certificate and tls_key go together: give both or neither".into())
            }
        }
        p.extend(self.sign_in_problems());
        if let Some(presets) = &self.presets {
            p.extend(super::presets::problems(presets));
        }
        if let Some(pack) = &self.map_pack
            && !pack.is_file()
        {
            p.push(format!("[web] map_pack {} does not exist", pack.display()));
        }
        p
    }

    /// Whether somebody can sign in, and the sign-in bounds can work.
    fn sign_in_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.user_header.is_some() && self.trusted_proxies.is_empty() {
            p.push(
                "[web] user_header needs trusted_proxies: the header is believed only from the proxy's addresses".into(),
            );
        }
        if !self.mail_sign_in && self.user_header.is_none() {
            p.push("[web] with mail_sign_in = false, nobody can sign in: set user_header and trusted_proxies".into());
        }
        if self.link_minutes == 0 || self.link_minutes > 24 * 60 {
            p.push("[web] link_minutes must be between 1 and 1440".into());
        }
        if self.link_mail_minutes == 0 || self.link_mail_minutes >= self.link_minutes {
            p.push(
                "[web] link_mail_minutes must be at least 1 and less than link_minutes, \
                 so that a person refused a new link still holds a live one"
                    .into(),
            );
        }
        if self.session_hours == 0 {
            p.push("[web] session_hours must be at least 1".into());
        }
        if self.link_requests_per_ip_hour == 0
            || self.max_streams == 0
            || self.connections_per_address == 0
        {
            p.push(
                "[web] link_requests_per_ip_hour, max_streams and \
                 connections_per_address must be at least 1"
                    .into(),
            );
        }
        p
    }

    /// What `[web]` allows but probably does not mean: plain HTTP beyond
    /// loopback.
    pub(super) fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.links_per_hour.is_some() {
            w.push(
                "[web] links_per_hour is no longer used: a person gets one sign-in mail per link_mail_minutes".into(),
            );
        }
        if self.tls_certificate.is_none() && !self.listen.ip().is_loopback() {
            w.push(format!(
                "[web] listens on {} without HTTPS: put a reverse proxy with HTTPS in front, or give tls_certificate and tls_key",
                self.listen
            ));
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_certificate;

    fn web(extra: &str) -> WebConfig {
        toml::from_str(&format!(
            "public_url = \"https://presence.example.co.jp/\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn the_defaults_are_valid_and_quiet() {
        assert_eq!(web("").problems(), Vec::<String>::new());
        assert_eq!(web("").warnings(), Vec::<String>::new());
    }

    #[test]
    fn a_public_url_without_a_scheme_is_named() {
        let mut config = web("");
        config.public_url = "presence.example.co.jp".into();
        assert_eq!(
            config.problems(),
            [
                "[web] public_url \"presence.example.co.jp\" must be the board's address as people open it, e.g. \"https://presence.example.co.jp\""
            ]
        );
    }

    #[test]
    fn sign_in_that_cannot_work_is_named() {
        assert_eq!(
            web("mail_sign_in = false\nlink_minutes = 0\nsession_hours = 0\nmax_streams = 0")
                .problems(),
            [
                "[web] with mail_sign_in = false, nobody can sign in: set user_header and trusted_proxies",
                "[web] link_minutes must be between 1 and 1440",
                "[web] link_mail_minutes must be at least 1 and less than link_minutes, so that a person refused a new link still holds a live one",
                "[web] session_hours must be at least 1",
                "[web] link_requests_per_ip_hour, max_streams and connections_per_address must be at least 1",
            ]
        );
        assert_eq!(
            web("user_header = \"X-Remote-User\"").problems(),
            [
                "[web] user_header needs trusted_proxies: the header is believed only from the proxy's addresses"
            ]
        );
    }

    #[test]
    fn https_files_go_together_and_must_match() {
        let one = test_certificate::make();
        let other = test_certificate::make();
        let certificate = one.certificate.display().to_string();
        assert_eq!(
            web(&format!("tls_certificate = {certificate:?}")).problems(),
            ["[web] tls_certificate and tls_key go together: give both or neither"]
        );
        let mismatched = web(&format!(
            "tls_certificate = {certificate:?}\ntls_key = {:?}",
            other.key.display().to_string()
        ));
        let p = mismatched.problems();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("[web] tls_key "), "{p:?}");
        assert!(p[0].contains("does not belong"), "{p:?}");
    }

    #[test]
    fn a_missing_map_pack_is_named() {
        assert_eq!(
            web("map_pack = \"/nonexistent/japan.mappack\"").problems(),
            ["[web] map_pack /nonexistent/japan.mappack does not exist"]
        );
    }

    #[test]
    fn plain_http_beyond_loopback_is_warned_about() {
        assert_eq!(
            web("listen = \"0.0.0.0:8080\"").warnings(),
            [
                "[web] listens on 0.0.0.0:8080 without HTTPS: put a reverse proxy with HTTPS in front, or give tls_certificate and tls_key"
            ]
        );
    }

    #[test]
    fn the_old_links_per_hour_still_parses_and_is_warned_about() {
        let config = web("links_per_hour = 5");
        assert_eq!(config.problems(), Vec::<String>::new());
        assert_eq!(
            config.warnings(),
            [
                "[web] links_per_hour is no longer used: a person gets one sign-in mail per link_mail_minutes"
            ]
        );
    }

    #[test]
    fn the_origin_is_scheme_and_host_of_the_public_url() {
        let mut config = web("");
        assert_eq!(config.origin(), "https://presence.example.co.jp");
        config.public_url = "http://board.example.co.jp:8080/presence/".into();
        assert_eq!(config.origin(), "http://board.example.co.jp:8080");
        assert!(!config.is_https());
    }
}
