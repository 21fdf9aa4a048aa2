//! `[imap]` and `[smtp]`: where presence mails are read and where answers
//! are sent, how the mailbox logs in (password, an OAuth access token from a
//! file, or the `[oauth]` section's client credentials), their defaults, the endpoints and timeouts the mail transports
//! are built from, and the checks of both sections (made together, since
//! most apply to each alike).

use std::path::PathBuf;
use std::time::Duration;

use mailpresence_protocol::secret::Secret;
use mailpresence_protocol::transport::imap::Timeouts;
use mailpresence_protocol::transport::oauth::TokenSource;
use mailpresence_protocol::transport::{BearerMechanism, Credentials, Endpoint, TlsMode};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: TlsMode,
    pub user: String,
    /// The password; or, instead, `oauth_token_file` or an `[oauth]` section.
    pub password: Option<Secret>,
    /// A file holding an OAuth 2.0 access token (Microsoft 365, Google
    /// Workspace), read at each login; whatever refreshes it rewrites it.
    pub oauth_token_file: Option<PathBuf>,
    /// The SASL mechanism for the token: `xoauth2` (default) or `oauthbearer`.
    #[serde(default)]
    pub oauth_mechanism: BearerMechanism,
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
    /// The `[oauth]` sign-in, set when the file is loaded.
    #[serde(skip)]
    pub signed_in: Option<TokenSource>,
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
    /// As in `[imap]`; SMTP always sends it as XOAUTH2 (lettre has no
    /// OAUTHBEARER; Microsoft 365, Gmail and Dovecot take XOAUTH2).
    pub oauth_token_file: Option<PathBuf>,
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
    /// The `[oauth]` sign-in, set when the file is loaded.
    #[serde(skip)]
    pub signed_in: Option<TokenSource>,
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
            credentials: login(
                Some(&self.user),
                self.password.as_ref(),
                self.oauth_token_file.as_ref(),
                self.signed_in.as_ref(),
                self.oauth_mechanism,
            ),
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
            credentials: login(
                self.user.as_ref(),
                self.password.as_ref(),
                self.oauth_token_file.as_ref(),
                self.signed_in.as_ref(),
                BearerMechanism::Xoauth2,
            ),
            ca_file: self.ca_file.clone(),
        }
    }
}

/// The login of a section: a token file wins over a password, a password
/// over the `[oauth]` sign-in (the checks refuse a section with both a
/// password and a token file).
fn login(
    user: Option<&String>,
    password: Option<&Secret>,
    token_file: Option<&PathBuf>,
    signed_in: Option<&TokenSource>,
    mechanism: BearerMechanism,
) -> Option<Credentials> {
    let user = user?.clone();
    match (token_file, password, signed_in) {
        (Some(token_file), _, _) => Some(Credentials::token_file(user, token_file, mechanism)),
        (None, Some(password), _) => Some(Credentials::Password {
            user,
            password: password.clone(),
        }),
        (None, None, Some(tokens)) => Some(Credentials::Bearer {
            user,
            tokens: tokens.clone(),
            mechanism,
        }),
        (None, None, None) => None,
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

/// What is wrong with `[imap]` and `[smtp]`; `oauth`: an `[oauth]` section
/// signs in a user without password or token file.
pub(super) fn problems(imap: &ImapConfig, smtp: &SmtpConfig, oauth: bool) -> Vec<String> {
    let mut p = Vec::new();
    for (section, host, port, ca) in [
        ("imap", &imap.host, imap.port, &imap.ca_file),
        ("smtp", &smtp.host, smtp.port, &smtp.ca_file),
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
            } else if let Err(e) = mailpresence_protocol::transport::tls::client_config(Some(ca)) {
                p.push(format!("[{section}] ca_file: {e}"));
            }
        }
    }
    let imap_both = imap.password.is_some() && imap.oauth_token_file.is_some();
    let imap_neither = imap.password.is_none() && imap.oauth_token_file.is_none() && !oauth;
    if imap_both || imap_neither {
        p.push("[imap] give either password or oauth_token_file".into());
    }
    let smtp_login = smtp.password.is_some()
        || smtp.oauth_token_file.is_some()
        || (oauth && smtp.user.is_some());
    if smtp.user.is_some() != smtp_login {
        p.push("[smtp] user and password go together: give both or neither".into());
    }
    if smtp.password.is_some() && smtp.oauth_token_file.is_some() {
        p.push("[smtp] give either password or oauth_token_file".into());
    }
    for (section, file) in [
        ("imap", &imap.oauth_token_file),
        ("smtp", &smtp.oauth_token_file),
    ] {
        if let Some(file) = file
            && !file.is_file()
        {
            p.push(format!(
                "[{section}] oauth_token_file {} does not exist",
                file.display()
            ));
        }
    }
    if smtp.max_per_second == 0 {
        p.push("[smtp] max_per_second must be at least 1".into());
    }
    if imap.command_timeout_secs == 0 || smtp.command_timeout_secs == 0 {
        p.push("[imap] and [smtp] command_timeout_secs must be at least 1".into());
    }
    if imap.idle_timeout_secs == 0 || imap.idle_timeout_secs > 29 * 60 {
        p.push(format!(
            "[imap] idle_timeout_secs {} must be between 1 and 1740 (servers log out after 30 min)",
            imap.idle_timeout_secs
        ));
    }
    p
}

/// What `[imap]` and `[smtp]` allow but probably do not mean.
pub(super) fn warnings(imap: &ImapConfig, smtp: &SmtpConfig) -> Vec<String> {
    let mut w = Vec::new();
    for (section, tls) in [("imap", imap.tls), ("smtp", smtp.tls)] {
        if tls == TlsMode::None {
            w.push(format!(
                "[{section}] tls = \"none\": passwords cross the network in clear text"
            ));
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imap(extra: &str) -> ImapConfig {
        toml::from_str(&format!(
            "host = \"mail.example.co.jp\"\nport = 993\nuser = \"p\"\npassword = \"p\"\n{extra}"
        ))
        .unwrap()
    }

    fn smtp(extra: &str) -> SmtpConfig {
        toml::from_str(&format!(
            "host = \"mail.example.co.jp\"\nport = 587\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(problems(&imap(""), &smtp(""), false), Vec::<String>::new());
        assert_eq!(warnings(&imap(""), &smtp("")), Vec::<String>::new());
    }

    #[test]
    fn each_mistake_names_its_section_and_setting() {
        let mut imap = imap("ca_file = \"/nonexistent/ca.pem\"\nidle_timeout_secs = 3600");
        imap.host = " ".into();
        let mut smtp = smtp("user = \"p\"\nmax_per_second = 0\ncommand_timeout_secs = 0");
        smtp.port = 0;
        assert_eq!(
            problems(&imap, &smtp, false),
            [
                "[imap] host is empty",
                "[imap] ca_file /nonexistent/ca.pem does not exist",
                "[smtp] port 0 is not a port",
                "[smtp] user and password go together: give both or neither",
                "[smtp] max_per_second must be at least 1",
                "[imap] and [smtp] command_timeout_secs must be at least 1",
                "[imap] idle_timeout_secs 3600 must be between 1 and 1740 (servers log out after 30 min)",
            ]
        );
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let problems = problems(
            &imap(&format!("ca_file = {:?}", ca.display().to_string())),
            &smtp(""),
            false,
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("[imap] ca_file: "), "{problems:?}");
    }

    #[test]
    fn a_token_file_instead_of_a_password_makes_a_bearer_login() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t").unwrap();
        let file = format!("oauth_token_file = {:?}", token.display().to_string());
        let imap: ImapConfig = toml::from_str(&format!(
            "host = \"h\"\nport = 993\nuser = \"p\"\n{file}\noauth_mechanism = \"oauthbearer\""
        ))
        .unwrap();
        let smtp = smtp(&format!("user = \"p\"\n{file}"));
        assert_eq!(problems(&imap, &smtp, false), Vec::<String>::new());
        assert_eq!(
            imap.endpoint().credentials,
            Some(Credentials::token_file(
                "p",
                token.clone(),
                BearerMechanism::Oauthbearer
            ))
        );
        assert!(matches!(
            smtp.endpoint().credentials,
            Some(Credentials::Bearer {
                mechanism: BearerMechanism::Xoauth2,
                ..
            })
        ));
    }

    #[test]
    fn a_password_and_a_token_file_together_or_neither_are_refused() {
        let both = imap("oauth_token_file = \"/nonexistent/token\"");
        let mut neither = both.clone();
        neither.password = None;
        neither.oauth_token_file = None;
        assert_eq!(
            problems(&both, &smtp(""), false),
            [
                "[imap] give either password or oauth_token_file",
                "[imap] oauth_token_file /nonexistent/token does not exist",
            ]
        );
        assert_eq!(
            problems(&neither, &smtp(""), false),
            ["[imap] give either password or oauth_token_file"]
        );
        // With an [oauth] section, neither is the client-credentials login.
        assert_eq!(problems(&neither, &smtp(""), true), Vec::<String>::new());
    }

    #[test]
    fn clear_text_is_warned_about_per_section() {
        assert_eq!(
            warnings(&imap(""), &smtp("tls = \"none\"")),
            ["[smtp] tls = \"none\": passwords cross the network in clear text"]
        );
    }
}
