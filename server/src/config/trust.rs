//! `[trust]`: how a presence mail proves who sent it (the company MTA's
//! `Authentication-Results`, DKIM checked here, or the bare From header),
//! its DKIM keys and DNS timeout, how strictly a signature must match the
//! From domain and whether the envelope sender must be the From address, and
//! the checks, warnings and `--check-config` explanation of the section.
//! Phones are on the internet: the From header alone proves nothing.

use mailpresence_protocol::mail::auth::{Alignment, EnvelopeRule};
use serde::Deserialize;

/// How a presence mail proves who sent it.
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
    /// How long the DKIM key lookups of one mail may take, together.
    #[serde(default = "default_dns_timeout")]
    pub dns_timeout_secs: u64,
    /// `authentication-results` and `dkim`: how the DKIM signing domain must
    /// match the From domain: `strict` (the same domain) or `relaxed` (the
    /// same organizational domain).
    #[serde(default)]
    pub alignment: Alignment,
    /// `authentication-results` and `dkim`: `require` (the envelope sender,
    /// `Return-Path`, must be the From address) or `ignore`.
    #[serde(default)]
    pub envelope: EnvelopeRule,
    /// `authentication-results`: how many `Received:` headers the mailbox
    /// server's own delivery writes above the MTA's verdict.
    #[serde(default = "default_delivery_hops")]
    pub delivery_hops: usize,
    /// A presence mail without an enrolled phone's signature: `accept`
    /// (judged by `mode` alone, the default) or `refuse` (only enrolled
    /// phones speak; hand-written mails from any mailer are refused).
    #[serde(default)]
    pub unsigned: crate::device_keys::UnsignedMail,
}

fn default_delivery_hops() -> usize {
    mailpresence_protocol::mail::auth::DEFAULT_DELIVERY_HOPS
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

/// What is wrong with `[trust]`, which must be there.
pub(super) fn problems(trust: Option<&TrustConfig>) -> Vec<String> {
    let Some(trust) = trust else {
        return vec![
            "[trust] is missing: say how a presence mail proves its sender. Usually\n    \
             [trust]\n    mode = \"authentication-results\"\n    authserv_id = \"<the id your mail system writes in Authentication-Results>\"\n    \
             or mode = \"dkim\" (the server checks DKIM itself), or mode = \"from-header\" (closed mail systems only; see the README)"
                .into(),
        ];
    };
    let mut p = trust.mode_problems();
    p.extend(trust.dkim_key_problems());
    if trust.dns_timeout_secs == 0 {
        p.push("[trust] dns_timeout_secs must be at least 1".into());
    }
    p
}

impl TrustConfig {
    /// Whether `authserv_id` is given where, and only where, the mode uses it.
    fn mode_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let id = self
            .authserv_id
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        match self.mode {
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
                if self.authserv_id.is_some() {
                    p.push("[trust] authserv_id is only used with mode = \"authentication-results\"".into());
                }
            }
        }
        p
    }

    /// Whether the `[[trust.dkim_key]]` entries are used and are DKIM keys.
    fn dkim_key_problems(&self) -> Vec<String> {
        use mail_auth::common::parse::TxtRecordParser;
        let mut p = Vec::new();
        if self.mode != TrustMode::Dkim && !self.dkim_keys.is_empty() {
            p.push("[[trust.dkim_key]] is only used with mode = \"dkim\"".into());
        }
        for key in &self.dkim_keys {
            if !key.name.contains("._domainkey.") {
                p.push(format!(
                    "[[trust.dkim_key]] name {:?} must be selector._domainkey.domain",
                    key.name
                ));
            }
            if let Err(e) = mail_auth::common::verify::DomainKey::parse(key.record.as_bytes()) {
                p.push(format!(
                    "[[trust.dkim_key]] {}: the record is not a DKIM key ({e})",
                    key.name
                ));
            }
        }
        p
    }

    /// What `[trust]` allows but probably does not mean.
    pub(super) fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.mode == TrustMode::FromHeader {
            w.push(
                "[trust] mode = \"from-header\": the server believes the From header, which anyone can write. \
                 Anyone who can send mail to the presence address can change a colleague's status and location. \
                 Use it only for a closed mail system that accepts no mail from outside."
                    .into(),
            );
        }
        if self.mode != TrustMode::FromHeader && self.envelope == EnvelopeRule::Ignore {
            w.push(
                "[trust] envelope = \"ignore\": any colleague who can log in to the company's mail can publish as anyone"
                    .into(),
            );
        }
        w
    }

    /// What this configuration trusts, in sentences for `--check-config`.
    pub fn explain(&self) -> Vec<String> {
        let mut lines = vec![match self.mode {
            TrustMode::AuthenticationResults => format!(
                "trust: a presence mail counts when the Authentication-Results header of {} (above at most {} Received headers) shows a DKIM pass of the From domain",
                self.authserv_id.as_deref().unwrap_or("?"),
                self.delivery_hops
            ),
            TrustMode::Dkim => "trust: a presence mail counts when the server itself verifies a DKIM signature of the From domain; mail from addresses not in the directory is refused before any DNS lookup".into(),
            TrustMode::FromHeader => "trust: the From header alone (anyone who can send mail to the presence address can speak for anyone)".into(),
        }];
        if self.mode == TrustMode::FromHeader {
            return lines;
        }
        lines.push(match self.alignment {
            Alignment::Strict => "trust: alignment = \"strict\": the signing domain must be the From domain itself".into(),
            Alignment::Relaxed => "trust: alignment = \"relaxed\": a signature of any domain under the same organizational domain counts (mail.example.co.jp for example.co.jp)".into(),
        });
        lines.push(match self.envelope {
            EnvelopeRule::Require => "trust: envelope = \"require\": the Return-Path must be the From address. The company's submission server must bind the envelope sender to the login (Postfix: smtpd_sender_login_maps with reject_sender_login_mismatch); then a colleague logged in as himself cannot speak for another, provided the inbound MX refuses the company's addresses as envelope senders from anyone not logged in as them (SPF -all enforced, or the same map on port 25)".into(),
            EnvelopeRule::Ignore => "trust: envelope = \"ignore\": the Return-Path is not compared. A DKIM pass proves only that the mail left through the company's mail system, so any colleague who can log in there can publish as anyone".into(),
        });
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(text: &str) -> TrustConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_missing_section_shows_how_to_write_one() {
        let p = problems(None);
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("[trust] is missing"), "{p:?}");
        assert!(p[0].contains("mode = \"authentication-results\""), "{p:?}");
    }

    #[test]
    fn authserv_id_belongs_to_authentication_results_only() {
        let dkim = trust("mode = \"dkim\"\nauthserv_id = \"mx.example.co.jp\"");
        assert_eq!(
            problems(Some(&dkim)),
            ["[trust] authserv_id is only used with mode = \"authentication-results\""]
        );
        let ok = trust("mode = \"authentication-results\"\nauthserv_id = \"mx.example.co.jp\"");
        assert_eq!(problems(Some(&ok)), Vec::<String>::new());
    }

    #[test]
    fn dkim_keys_outside_dkim_mode_and_a_zero_timeout_are_named() {
        let from = trust(
            "mode = \"from-header\"\ndns_timeout_secs = 0\n\
             [[dkim_key]]\nname = \"mail._domainkey.example.co.jp\"\nrecord = \"v=DKIM1; p=\"",
        );
        let p = problems(Some(&from));
        assert_eq!(p[0], "[[trust.dkim_key]] is only used with mode = \"dkim\"");
        assert_eq!(
            p.last().map(String::as_str),
            Some("[trust] dns_timeout_secs must be at least 1")
        );
    }

    #[test]
    fn only_the_from_header_is_warned_about() {
        assert_eq!(trust("mode = \"dkim\"").warnings(), Vec::<String>::new());
        let w = trust("mode = \"from-header\"").warnings();
        assert!(w[0].contains("anyone can write"), "{w:?}");
    }

    #[test]
    fn the_envelope_and_alignment_choices_are_explained_and_ignore_is_warned_of() {
        let strict = trust("mode = \"authentication-results\"\nauthserv_id = \"mx.example.co.jp\"");
        assert_eq!(strict.alignment, Alignment::Strict);
        assert_eq!(strict.envelope, EnvelopeRule::Require);
        let said = strict.explain().join("\n");
        assert!(said.contains("envelope = \"require\""), "{said}");
        assert!(said.contains("reject_sender_login_mismatch"), "{said}");
        assert!(said.contains("alignment = \"strict\""), "{said}");
        assert!(strict.warnings().is_empty());
        let loose = trust("mode = \"dkim\"\nalignment = \"relaxed\"\nenvelope = \"ignore\"");
        let said = loose.explain().join("\n");
        assert!(said.contains("can publish as anyone"), "{said}");
        assert!(said.contains("alignment = \"relaxed\""), "{said}");
        assert_eq!(loose.warnings().len(), 1, "{:?}", loose.warnings());
        assert!(toml::from_str::<TrustConfig>("mode = \"dkim\"\nenvelope = \"maybe\"").is_err());
    }
}
