//! A field worker's account: who they are, the presence server's address, and
//! how to reach their mail server. The CLI reads it from TOML; the apps fill
//! it from their settings screens.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::location::PolicyConfig;
use mailpresence_protocol::secret::REDACTED;
use mailpresence_protocol::summary::Lang;
use mailpresence_protocol::transport::oauth::{ProviderConfig, RefreshTokenStore, TokenSource};
use mailpresence_protocol::transport::{BearerMechanism, Credentials, Endpoint, TlsMode};

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
    /// The authserv-id of the company's mail system. A Notify counts only if
    /// that system's `Authentication-Results` proves it came from the
    /// presence server (`mail::auth::check_sender`); without it no Notify
    /// is believed, and the client says so when it opens.
    #[serde(default)]
    pub authserv_id: Option<String>,
    /// How many `Received:` headers the mailbox server's own delivery writes
    /// above that system's verdict (Dovecot's LMTP: 1; Postfix's `virtual`
    /// or `dovecot-lda`: 0). A verdict anywhere else is not believed.
    #[serde(default = "default_delivery_hops")]
    pub delivery_hops: u32,
    /// The folder read Notify mails are moved to, out of the inbox (created
    /// when missing).
    #[serde(default = "default_presence_folder")]
    pub presence_folder: String,
    /// A colleague's location is forgotten on the phone this long after it was
    /// published, like the server's `location_ttl_secs` (the same default, 8 h);
    /// the Notify mails in the presence folder are deleted after it too.
    #[serde(default = "default_location_ttl_secs")]
    pub location_ttl_secs: u64,
    /// `[oauth]`: the provider the worker signs in with (Microsoft 365,
    /// Google Workspace, or one named by its URLs) instead of passwords; the
    /// refresh token is kept outside this file (the CLI's `sign-in` writes
    /// it beside the phone's state, owner-only). A `[imap]`/`[smtp]` section
    /// with a user and neither password nor token file logs in with it.
    #[serde(default)]
    pub oauth: Option<ProviderConfig>,
    /// The phone's Ed25519 device key (a file `mailpresence enroll` writes,
    /// owner-only): every Publish and Subscribe is signed with it.
    #[serde(default)]
    pub device_key_file: Option<String>,
    /// The presence server's public key (base64url), pinned from the
    /// enrolment code: a Notify then counts only with its signature,
    /// whatever the mail system says or does not say.
    #[serde(default)]
    pub server_key: Option<String>,
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

/// One mail service (IMAP or SMTP) of the company's mail server. The apps
/// fill it from their settings screen as it is (a UniFFI record); printed in
/// Rust, Kotlin or Swift it never shows the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
#[uniffi::export(Debug, Display)]
#[serde(deny_unknown_fields)]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: TlsMode,
    #[uniffi(default = None)]
    pub user: Option<String>,
    #[uniffi(default = None)]
    pub password: Option<String>,
    /// Instead of a password: a file holding an OAuth 2.0 access token
    /// (Microsoft 365, Google Workspace), read at each login.
    #[serde(default)]
    #[uniffi(default = None)]
    pub oauth_token_file: Option<String>,
    /// The SASL mechanism for that token (SMTP always uses XOAUTH2).
    #[serde(default)]
    #[uniffi(default = None)]
    pub oauth_mechanism: Option<BearerMechanism>,
    /// A PEM file with the company's CA, when its certificate is not public.
    #[uniffi(default = None)]
    pub ca_file: Option<String>,
}

impl MailServer {
    /// The endpoint with a password or token-file login (or none).
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint_signed_in(None)
    }

    /// The endpoint; a user without password or token file logs in with
    /// `signed_in`'s tokens when given.
    pub fn endpoint_signed_in(&self, signed_in: Option<&TokenSource>) -> Endpoint {
        Endpoint {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
            credentials: self.credentials(signed_in),
            ca_file: self.ca_file.as_ref().map(PathBuf::from),
        }
    }

    /// A token file wins over a password, a password over a sign-in.
    fn credentials(&self, signed_in: Option<&TokenSource>) -> Option<Credentials> {
        let user = self.user.clone()?;
        let mechanism = self.oauth_mechanism.unwrap_or_default();
        match (&self.oauth_token_file, &self.password, signed_in) {
            (Some(file), _, _) => Some(Credentials::token_file(user, file, mechanism)),
            (None, Some(password), _) => Some(Credentials::password(user, password.clone())),
            (None, None, Some(tokens)) => Some(Credentials::Bearer {
                user,
                tokens: tokens.clone(),
                mechanism,
            }),
            (None, None, None) => None,
        }
    }
}

impl fmt::Debug for MailServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("oauth_token_file", &self.oauth_token_file)
            .field("oauth_mechanism", &self.oauth_mechanism)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// `mail.example.co.jp:993 (Implicit) as tanaka, password <redacted>`.
impl fmt::Display for MailServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} ({:?})", self.host, self.port, self.tls)?;
        if let Some(user) = &self.user {
            write!(f, " as {user}")?;
        }
        if self.password.is_some() {
            write!(f, ", password {REDACTED}")?;
        }
        Ok(())
    }
}

impl TerminalConfig {
    /// The IMAP and SMTP endpoints; with `[oauth]` and a refresh-token
    /// store both share one token source (one refresh serves both).
    pub fn endpoints(
        &self,
        refresh_tokens: Option<Arc<dyn RefreshTokenStore>>,
    ) -> (Endpoint, Endpoint) {
        let signed_in = self
            .oauth
            .clone()
            .zip(refresh_tokens)
            .map(|(provider, store)| TokenSource::refresh(provider, store));
        (
            self.imap.endpoint_signed_in(signed_in.as_ref()),
            self.smtp.endpoint_signed_in(signed_in.as_ref()),
        )
    }

    /// `location_ttl_secs` as a duration (capped, so a huge value cannot overflow).
    pub fn location_ttl(&self) -> chrono::Duration {
        let secs = i64::try_from(self.location_ttl_secs).unwrap_or(i64::MAX);
        chrono::Duration::try_seconds(secs).unwrap_or(chrono::Duration::MAX)
    }
}

fn default_delivery_hops() -> u32 {
    // Small: a count of header lines.
    mailpresence_protocol::mail::auth::DEFAULT_DELIVERY_HOPS as u32
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
    fn a_mail_server_never_prints_its_password() {
        let server = MailServer {
            host: "mail.example.co.jp".into(),
            port: 993,
            tls: TlsMode::Implicit,
            user: Some("tanaka".into()),
            password: Some("s3cret-パス".into()),
            oauth_token_file: None,
            oauth_mechanism: None,
            ca_file: None,
        };
        let config: TerminalConfig = toml::from_str(ACCOUNT).unwrap();
        let config = TerminalConfig {
            imap: server.clone(),
            ..config
        };
        for shown in [
            format!("{server:?}"),
            format!("{server:#?}"),
            server.to_string(),
            format!("{config:?}"),
            format!("{:?}", server.endpoint()),
        ] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        assert!(server.to_string().contains("tanaka"), "{server}");
    }

    #[test]
    fn colleagues_locations_are_kept_eight_hours_like_on_the_server_unless_set() {
        let config: TerminalConfig = toml::from_str(ACCOUNT).unwrap();
        assert_eq!(config.location_ttl(), chrono::Duration::hours(8));
        let set = format!("location_ttl_secs = 3600\n{ACCOUNT}");
        let config: TerminalConfig = toml::from_str(&set).unwrap();
        assert_eq!(config.location_ttl(), chrono::Duration::hours(1));
    }
}
