//! A field worker's account: who they are, the presence server's address, and
//! how to reach their mail server. The CLI reads it from TOML; the apps fill
//! it from their settings screens.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::location::{Granularity, PolicyConfig};
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
    /// The folder handled Notify mails are moved to, out of the inbox
    /// (created when missing).
    #[serde(default = "default_presence_folder")]
    pub presence_folder: String,
    /// How long colleagues' Notify mails (which may hold where they were)
    /// stay in that folder, and their locations in the phone's store.
    #[serde(default = "default_location_ttl")]
    pub location_ttl_secs: u64,
}

pub(crate) fn default_presence_folder() -> String {
    "Presence".into()
}

/// The server's default location TTL: a working day.
pub(crate) fn default_location_ttl() -> u64 {
    8 * 3600
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
    pub fn granularity(&self) -> Granularity {
        self.location.granularity
    }
}
