//! Talking to the company's mail server, for the phone and the presence server
//! alike: TLS settings, one bounded IMAP session type, an SMTP transport, one
//! outbox policy, and the jittered back-off both use.

pub mod backoff;
pub mod imap;
pub mod oauth;
pub mod outbox;
pub mod sasl;
pub mod smtp;
pub mod tls;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use backoff::Backoff;
pub use sasl::{BearerMechanism, Credentials};

/// How a connection to a mail service is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text; only sensible on loopback or a trusted LAN.
    None,
    /// Plain connect, then STARTTLS (the default).
    #[default]
    Starttls,
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
}

/// Where and how to reach one mail service. Its debug output leaves the
/// password out (and a token source never shows a token).
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Who logs in and how (password or bearer token), when the service
    /// wants a login.
    pub credentials: Option<Credentials>,
    /// Extra CA certificate (PEM) to trust, e.g. the company's own CA.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("credentials", &self.credentials)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}
