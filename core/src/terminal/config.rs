//! A field worker's account: who they are, the presence server's address, and
//! how to reach their mail server. The CLI reads it from TOML; the apps fill
//! it from their settings screens.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::location::PolicyConfig;
use crate::summary::Lang;
use crate::transport::{Endpoint, TlsMode};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalConfig {
    /// The account name in the company directory, e.g. `tanaka`.
    pub account: String,
    /// The worker's own mail address (Publish and Subscribe are sent from it).
    pub mail: String,
    /// The presence server's mailbox.
    pub presence_server: String,
    #[serde(default)]
    pub language: Lang,
    pub imap: MailServer,
    pub smtp: MailServer,
    #[serde(default)]
    pub location: PolicyConfig,
    /// The authserv-id of the company's mail system. When set, a Notify counts
    /// only if that system's `Authentication-Results` proves it came from the
    /// presence server's domain (a DKIM pass aligned with it, or DMARC).
    #[serde(default)]
    pub authserv_id: Option<String>,
    /// The folder read Notify mails are moved to, out of the inbox (created
    /// when missing).
    #[serde(default = "default_presence_folder")]
    pub presence_folder: String,
    /// A colleague's location is forgotten on the phone this long after it was
    /// published, like the server's `location_ttl_secs` (the same default, 8 h);
    /// the Notify mails in the presence folder are deleted after it too.
    #[serde(default = "default_location_ttl_secs")]
    pub location_ttl_secs: u64,
}

/// The server's default `location_ttl_secs`.
pub const DEFAULT_LOCATION_TTL_SECS: u64 = 8 * 3600;
/// Where read Notify mails go unless the account says otherwise.
pub const DEFAULT_PRESENCE_FOLDER: &str = "Presence";

fn default_presence_folder() -> String {
    DEFAULT_PRESENCE_FOLDER.into()
}

fn default_location_ttl_secs() -> u64 {
    DEFAULT_LOCATION_TTL_SECS
}

/// One mail service (IMAP or SMTP) of the company's mail server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: TlsMode,
    pub user: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
}

impl MailServer {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
            credentials: self.user.clone().zip(self.password.clone()),
            ca_file: self.ca_file.clone(),
        }
    }
}

impl TerminalConfig {
    /// `location_ttl_secs` as a duration (capped, so a huge value cannot overflow).
    pub fn location_ttl(&self) -> chrono::Duration {
        let secs = i64::try_from(self.location_ttl_secs).unwrap_or(i64::MAX);
        chrono::Duration::try_seconds(secs).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;

    const ACCOUNT: &str = r#"
        account = "tanaka"
        mail = "tanaka@example.co.jp"
        presence_server = "presence@example.co.jp"
        [imap]
        host = "mail.example.co.jp"
        port = 993
        [smtp]
        host = "mail.example.co.jp"
        port = 587
    "#;

    #[test]
    fn colleagues_locations_are_kept_eight_hours_like_on_the_server_unless_set() {
        let config: TerminalConfig = toml::from_str(ACCOUNT).unwrap();
        assert_eq!(config.location_ttl(), chrono::Duration::hours(8));
        let set = format!("location_ttl_secs = 3600\n{ACCOUNT}");
        let config: TerminalConfig = toml::from_str(&set).unwrap();
        assert_eq!(config.location_ttl(), chrono::Duration::hours(1));
    }
}
