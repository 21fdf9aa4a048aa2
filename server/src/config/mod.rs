//! The server's one TOML configuration file. [`Config`] is the whole file:
//! reading it, and gathering every section's mistakes at once
//! ([`Config::problems`]) and what is allowed but probably not meant
//! ([`Config::warnings`]), in words an administrator can act on; then the
//! report `--check-config` prints.
//!
//! Each section lives in its own file with its defaults and its own checks:
//! `server` (`[server]`), `store` (`[store]`: SQLite or PostgreSQL), `mail`
//! (`[imap]`, `[smtp]`), `oauth` (signing in
//! without a password), `presence`, `trust`, `sip`, `web`, `metrics`,
//! `directory` (people from LDAP), `phones` (the phones' mail settings for
//! enrolment), `people` (`[[person]]`, the directory) and `rules`
//! (`[[rule]]`, who may see whom). Their types are re-exported here, so the
//! rest of the crate names them `crate::config::WebConfig` and so on.

mod directory;
mod mail;
mod metrics;
mod oauth;
mod people;
mod phones;
mod presence;
mod presets;
mod rules;
mod server;
mod sip;
mod store;
mod trust;
mod web;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use directory::{AttributeNames, Attributes, DirectoryConfig, DirectoryKind};
pub use mail::{ImapConfig, SmtpConfig};
pub use mailpresence_protocol::transport::TlsMode;
pub use metrics::MetricsConfig;
pub use oauth::OAuthConfig;
pub use people::Person;
pub use phones::PhonesConfig;
pub use presence::PresencePolicy;
pub use presets::{PlaceKind, Preset, built_in as built_in_presets};
pub use rules::Rule;
pub use server::{LogFormat, ServerSection};
pub use sip::SipConfig;
pub use store::StoreConfig;
pub use trust::{DkimKey, TrustConfig, TrustMode};
pub use web::WebConfig;

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
    /// Where the data is kept: absent, the SQLite file `[server] storage`;
    /// with a PostgreSQL `url`, a database several instances share.
    pub store: Option<StoreConfig>,
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
    /// The mailbox's sign-in by client credentials, instead of passwords.
    pub oauth: Option<OAuthConfig>,
    #[serde(default)]
    pub presence: PresencePolicy,
    /// How the sender of a presence mail is proven; required (see `problems`).
    pub trust: Option<TrustConfig>,
    /// The SIP side; without this section the server speaks mail only.
    pub sip: Option<SipConfig>,
    /// The presence board in the browser for desk staff; off when absent.
    pub web: Option<WebConfig>,
    /// `/metrics` for IT's monitoring; off when absent.
    pub metrics: Option<MetricsConfig>,
    /// People and groups from the company's LDAP directory; `[[person]]`
    /// entries are added to them.
    pub directory: Option<DirectoryConfig>,
    /// How phones reach the mail servers, for the enrolment codes.
    pub phones: Option<PhonesConfig>,
    #[serde(default, rename = "person")]
    pub people: Vec<Person>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut problems = config.problems();
        if problems.is_empty() {
            match config.sign_in() {
                Ok(()) => return Ok(config),
                Err(e) => problems.push(format!("[oauth] {e}")),
            }
        }
        Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }

    /// Everything wrong with a parsed configuration, section by section:
    /// `[server]`, `[imap]` and `[smtp]`, `[presence]`, `[trust]`, `[sip]`,
    /// `[web]`, then the people and the rules (which refer to them).
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.server.problems();
        if let Some(store) = &self.store {
            p.extend(store.problems());
        }
        p.extend(mail::problems(&self.imap, &self.smtp, self.oauth.is_some()));
        if let Some(oauth) = &self.oauth {
            p.extend(oauth.problems());
        }
        p.extend(self.presence.problems());
        p.extend(trust::problems(self.trust.as_ref()));
        if let Some(sip) = &self.sip {
            p.extend(sip.problems());
        }
        if let Some(web) = &self.web {
            p.extend(web.problems());
        }
        p.extend(people::problems(&self.people, &self.server.address));
        match &self.directory {
            Some(directory) => p.extend(directory.problems()),
            // Groups and accounts of the rules are known only from the file.
            None => p.extend(rules::problems(&self.rules, &self.people)),
        }
        p
    }

    /// Gives `[imap]` and `[smtp]` the `[oauth]` sign-in (one token source,
    /// so one token serves both), when the section is there.
    fn sign_in(&mut self) -> Result<(), mailpresence_protocol::transport::oauth::TokenError> {
        if let Some(oauth) = &self.oauth {
            let tokens = oauth.token_source(&self.imap.user)?;
            self.imap.signed_in = Some(tokens.clone());
            self.smtp.signed_in = Some(tokens);
        }
        Ok(())
    }

    /// Where the store is: PostgreSQL with `[store] url`, else the SQLite file.
    pub fn store_place(&self) -> crate::store::StorePlace {
        store::place(self.store.as_ref(), &self.server.storage)
    }

    /// Things that are allowed but probably not meant.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = rules::warnings(&self.rules);
        if self.directory.is_none() {
            w.extend(people::warnings(&self.people));
        }
        if let Some(trust) = &self.trust {
            w.extend(trust.warnings());
        }
        if let Some(sip) = &self.sip {
            w.extend(sip.warnings(&self.people));
        }
        if let Some(web) = &self.web {
            w.extend(web.warnings());
        }
        if let Some(metrics) = &self.metrics {
            w.extend(metrics.warnings());
        }
        w.extend(mail::warnings(&self.imap, &self.smtp));
        w
    }

    /// What `--check-config` prints for a valid file read from `path`: each
    /// warning, then how many people and rules it holds.
    pub fn report(&self, path: &Path) -> String {
        let mut out = String::new();
        for w in self.warnings() {
            out.push_str(&format!("warning: {w}\n"));
        }
        for line in self.trust.iter().flat_map(TrustConfig::explain) {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&format!(
            "{}: valid ({} people, {} rules)\n",
            path.display(),
            self.people.len(),
            self.rules.len()
        ));
        out
    }
}

/// Whether `s` has the shape of a mail address (`local@domain.tld`), as
/// `[server] address` and each person's `mail` must.
fn looks_like_address(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest file that is valid: every required setting, one person
    /// and one rule, `[trust]` as most sites write it.
    const VALID: &str = r#"
[server]
address = "presence@example.co.jp"
storage = "/var/lib/mailpresence/presence.db"
[imap]
host = "mail.example.co.jp"
port = 993
user = "presence"
password = "secret"
[smtp]
host = "mail.example.co.jp"
port = 587
user = "presence"
password = "secret"
[trust]
mode = "authentication-results"
authserv_id = "mx.example.co.jp"
[[person]]
account = "tanaka"
mail = "tanaka@example.co.jp"
[[rule]]
watchers = ["*"]
may_see = ["*"]
"#;

    fn parse(text: &str) -> Config {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_valid_file_has_no_problems_and_no_warnings() {
        let config = parse(VALID);
        assert_eq!(config.problems(), Vec::<String>::new());
        assert_eq!(config.warnings(), Vec::<String>::new());
    }

    #[test]
    fn mistakes_of_several_sections_are_listed_together_in_file_order() {
        let text = VALID
            .replace("port = 993", "port = 0")
            .replace("mail = \"tanaka@example.co.jp\"", "mail = \"tanaka\"");
        let problems = parse(&text).problems();
        assert_eq!(
            problems,
            [
                "[imap] port 0 is not a port",
                "[[person]] #1 (tanaka): mail \"tanaka\" is not a mail address",
            ]
        );
    }

    #[test]
    fn load_names_the_file_and_every_mistake() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(&path, VALID.replace("port = 587", "port = 0")).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("server.toml has 1 mistake(s):"), "{err}");
        assert!(err.contains("  - [smtp] port 0 is not a port"), "{err}");
    }

    #[test]
    fn the_report_puts_warnings_before_the_count() {
        let config = parse(&VALID.replace("[[rule]]\nwatchers = [\"*\"]\nmay_see = [\"*\"]\n", ""));
        let report = config.report(Path::new("server.toml"));
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(
            lines.first().copied(),
            Some("warning: no [[rule]]: nobody may see anybody's presence")
        );
        // What the trust section means comes after the warnings …
        assert!(lines[1].starts_with("trust: "), "{report}");
        // … and the count closes the report.
        assert_eq!(
            lines.last().copied(),
            Some("server.toml: valid (1 people, 0 rules)")
        );
    }

    #[test]
    fn an_address_needs_a_local_part_and_a_dotted_domain() {
        assert!(looks_like_address("tanaka@example.co.jp"));
        for not in [
            "tanaka",
            "@example.co.jp",
            "tanaka@localhost",
            "ta naka@example.jp",
        ] {
            assert!(!looks_like_address(not), "{not}");
        }
    }
}
