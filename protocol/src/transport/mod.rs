//! Talking to the company's mail server, for the phone and the presence server
//! alike: TLS settings, one bounded IMAP session type, an SMTP transport, one
//! outbox policy, and the jittered back-off both use; and [`error_chain`],
//! how a transport error is told in one line.

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

/// An error and its causes on one line (reqwest, rustls and the IMAP client
/// keep the useful part in their sources); a cause the text already holds
/// (`transparent` and `{0}` variants print theirs) is not repeated.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod chain_tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("connecting")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("sending: {0}")]
    struct Says(#[source] std::io::Error);

    #[test]
    fn causes_follow_once() {
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(error_chain(&Outer(refused())), "connecting: refused");
        assert_eq!(error_chain(&Says(refused())), "sending: refused");
    }
}
