//! A test's world: its presence mailbox, its people (each address with the
//! test's random tag), what its server is given (SIP, the board, policies,
//! rules), and where its files go. Built by `World::new` and the `with_*`
//! steps; what a world does lives beside it (`config`, `programs`,
//! `sending`, `mailbox`, `sip`).

use std::path::PathBuf;

use crate::mail_servers::{MailServers, OwnMailServers};
use crate::sip::SipTls;
use crate::{free_port, tag};

/// One person of a test's directory.
#[derive(Debug, Clone)]
pub struct Staff {
    pub account: String,
    pub mail: String,
    pub groups: Vec<String>,
    /// Digest password for the SIP side, when the test wants one.
    pub sip_password: Option<String>,
    /// More of the person's `[[person]]` lines (name, reading, extension,
    /// mobile), when the test wants them.
    pub details: String,
}

/// How the server reaches the mail servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    Starttls,
    Implicit,
}

/// A test's world: its presence mailbox, its people, its server configuration.
#[derive(Debug)]
pub struct World {
    pub servers: MailServers,
    pub tag: String,
    pub presence: String,
    pub staff: Vec<Staff>,
    pub security: Security,
    /// Extra TOML for the `[presence]` section.
    pub policy: String,
    /// `[[rule]]` tables; default: everyone sees everyone, location included.
    pub rules: String,
    pub smtp_max_retry_secs: u64,
    /// Extra `[imap]` lines (e.g. `done_mailbox`).
    pub imap_extra: String,
    /// The server's SIP port, when the test speaks SIP; extra `[sip]` lines.
    pub sip_port: Option<u16>,
    pub sip_extra: String,
    /// `[sip] trusted_networks` (TOML array items); default loopback, where
    /// the tests' SIP peers run. Empty: every request must prove its password.
    pub sip_trusted: String,
    /// `[sip] trusted_over_udp`: the tests' SIPp speaks UDP from loopback,
    /// where no one forges a source address, so they say true.
    pub sip_trusted_over_udp: bool,
    /// SIP over TLS, when the test wants it (see `with_sip_tls`).
    pub sip_tls: Option<SipTls>,
    /// The `[trust]` section; default: the test MTA's Authentication-Results.
    pub trust: String,
    /// The web board's port, when the test opens it (see `with_web`).
    pub web_port: Option<u16>,
    /// The `/metrics` port, when the test reads it (see `with_metrics`).
    pub metrics_port: Option<u16>,
    /// Extra `[web]` lines (e.g. a trusted proxy's sign-on header).
    pub web_extra: String,
    /// The `[directory]` section, when people come from LDAP.
    pub directory: String,
    /// Further sections (e.g. `[phones]`), written before the people.
    pub extra_sections: String,
    pub dir: tempfile::TempDir,
    /// The world's own mail servers, when it disrupts them (see
    /// `on_own_mail_servers`); stopped when the world goes.
    own_mail: Option<OwnMailServers>,
}

impl World {
    /// Accounts as `name` or `name:group1,group2`.
    pub fn new(accounts: &[&str]) -> Self {
        Self::on(MailServers::from_env(), accounts)
    }

    /// A world on mail servers of its own (`OwnMailServers`), for a test
    /// that stops, freezes or refuses them: the other tests, running at the
    /// same time on the shared instance, are not disturbed.
    pub fn on_own_mail_servers(accounts: &[&str]) -> Self {
        let own = OwnMailServers::start();
        let mut world = Self::on(own.servers.clone(), accounts);
        world.own_mail = Some(own);
        world
    }

    fn on(servers: MailServers, accounts: &[&str]) -> Self {
        let tag = tag();
        let staff = accounts
            .iter()
            .map(|a| {
                let (name, groups) = a.split_once(':').unwrap_or((a, ""));
                Staff {
                    account: name.to_owned(),
                    mail: format!("{name}.{tag}@{}", servers.domain),
                    groups: groups
                        .split(',')
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    sip_password: None,
                    details: String::new(),
                }
            })
            .collect();
        let trust = format!(
            "[trust]\nmode = \"authentication-results\"\nauthserv_id = \"{}\"\n",
            servers.authserv_id
        );
        Self {
            trust,
            presence: format!("presence.{tag}@{}", servers.domain),
            servers,
            tag,
            staff,
            security: Security::Plain,
            policy: String::new(),
            rules: "[[rule]]\nwatchers = [\"*\"]\nmay_see = [\"*\"]\nlocation = true\n".into(),
            smtp_max_retry_secs: 2,
            imap_extra: String::new(),
            sip_port: None,
            sip_extra: String::new(),
            sip_trusted: "\"127.0.0.0/8\"".into(),
            sip_trusted_over_udp: true,
            sip_tls: None,
            web_port: None,
            metrics_port: None,
            web_extra: String::new(),
            directory: String::new(),
            extra_sections: String::new(),
            dir: tempfile::tempdir().expect("tempdir"),
            own_mail: None,
        }
    }

    pub fn mail_of(&self, account: &str) -> String {
        self.staff
            .iter()
            .find(|s| s.account == account)
            .map(|s| s.mail.clone())
            .unwrap_or_else(|| format!("{account}.{}@{}", self.tag, self.servers.domain))
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("server.toml")
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("state/presence.db")
    }

    /// Gives `account` a name, reading, extension or mobile: `[[person]]`
    /// lines such as `name = "山田 花子"`.
    pub fn describe(mut self, account: &str, lines: &str) -> Self {
        if let Some(s) = self.staff.iter_mut().find(|s| s.account == account) {
            s.details = lines.to_owned();
        }
        self
    }

    /// Gives the server its web board on a free port.
    pub fn with_web(mut self) -> Self {
        self.web_port = Some(free_port());
        self
    }

    /// Gives the server its `/metrics` listener on a free port.
    pub fn with_metrics(mut self) -> Self {
        self.metrics_port = Some(free_port());
        self
    }

    /// The board's address, as people open it.
    pub fn web_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.web_port.expect("web board enabled")
        )
    }
}
