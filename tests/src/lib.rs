//! Harness for end-to-end tests: the real `mailpresence-server` process, real
//! Postfix (SMTP) and Dovecot (IMAP) started by `scripts/mail-servers.sh`.
//!
//! Each test takes its own mail addresses (a random tag in each), so tests run
//! side by side on one Dovecot and Postfix without seeing each other's mail.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness stops at the first surprise

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailpresence_protocol::mail::{self, ComposeEnvelope, Limits, Outcome, PresenceMessage};
use mailpresence_protocol::transport::imap::{Fetched, MailSession, Timeouts};
use mailpresence_protocol::transport::{Endpoint, TlsMode};
use rand::Rng;

pub mod browser;
pub mod phones;

/// Where the test mail servers listen (exported by `scripts/mail-servers.sh start`).
#[derive(Debug, Clone)]
pub struct MailServers {
    pub dir: PathBuf,
    pub domain: String,
    pub smtp_port: u16,
    pub submission_port: u16,
    pub smtps_port: u16,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub ca: PathBuf,
    /// The name the inbound OpenDKIM writes in Authentication-Results.
    pub authserv_id: String,
    /// DKIM keys: `example.test/mail.private`, `other.test/mail.private`,
    /// and `keys.txt` (selector name and TXT record per line).
    pub dkim_dir: PathBuf,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the real mail servers. Run the README's test \
             command (scripts/test.sh), or `eval \"$(scripts/mail-servers.sh start)\"` first."
        )
    })
}

impl MailServers {
    /// The shared instance, from the `export` lines of `scripts/mail-servers.sh
    /// start` (scripts/test.sh sets them).
    pub fn from_env() -> Self {
        Self::from_vars(env)
    }

    /// From the variables `scripts/mail-servers.sh start` exports, read by `var`.
    fn from_vars(var: impl Fn(&str) -> String) -> Self {
        let port = |n: &str| {
            let value = var(n);
            value
                .parse()
                .unwrap_or_else(|_| panic!("{n}={value} is not a port"))
        };
        Self {
            dir: var("MAILPRESENCE_MAIL_DIR").into(),
            domain: var("MAILPRESENCE_MAIL_DOMAIN"),
            smtp_port: port("MAILPRESENCE_SMTP_PORT"),
            submission_port: port("MAILPRESENCE_SUBMISSION_PORT"),
            smtps_port: port("MAILPRESENCE_SMTPS_PORT"),
            imap_port: port("MAILPRESENCE_IMAP_PORT"),
            imaps_port: port("MAILPRESENCE_IMAPS_PORT"),
            ca: var("MAILPRESENCE_MAIL_CA").into(),
            authserv_id: var("MAILPRESENCE_AUTHSERV_ID"),
            dkim_dir: var("MAILPRESENCE_DKIM_DIR").into(),
        }
    }

    /// Runs `scripts/mail-servers.sh ACTION` on the running instance.
    pub fn control(&self, action: &str) {
        self.control_args(&[action]);
    }

    /// Runs `scripts/mail-servers.sh ARGS… DIR` on the running instance.
    pub fn control_args(&self, args: &[&str]) {
        if let Err(e) = self.try_control(args) {
            panic!("{e}");
        }
    }

    fn try_control(&self, args: &[&str]) -> Result<(), String> {
        let out = mail_servers_script()
            .args(args)
            .arg(&self.dir)
            .output()
            .map_err(|e| format!("mail-servers.sh does not run: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "mail-servers.sh {} {} failed ({}):\n{}",
                args.join(" "),
                self.dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Every port of the instance by name (`MAILPRESENCE_SMTP_PORT` …, the
    /// LMTP and OpenDKIM ports too), as recorded in its `ports.env`.
    pub fn ports(&self) -> Vec<(String, u16)> {
        let path = self.dir.join("ports.env");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (an instance started before mail-servers.sh recorded its ports: \
                 start it again)",
                path.display()
            )
        });
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(name, port)| {
                let port = port
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: {name}={port}", path.display()));
                (name.to_owned(), port)
            })
            .collect()
    }

    /// SIGSTOP to every process of this Dovecot instance: an IMAP command in
    /// progress gets no answer, a new connection no greeting. Undone when the
    /// guard is dropped (also when the test fails) or by `thaw_dovecot`.
    pub fn freeze_dovecot(&self) -> Disruption<'_> {
        self.control("freeze-dovecot");
        Disruption::new(self, &["thaw-dovecot"])
    }

    /// SIGCONT to every process of this Dovecot instance.
    pub fn thaw_dovecot(&self) {
        self.control("thaw-dovecot");
    }

    /// SIGSTOP to every process of this Postfix instance: an SMTP session
    /// stops mid-send. Undone when the guard is dropped or by `thaw_postfix`.
    pub fn freeze_postfix(&self) -> Disruption<'_> {
        self.control("freeze-postfix");
        Disruption::new(self, &["thaw-postfix"])
    }

    /// SIGCONT to every process of this Postfix instance.
    pub fn thaw_postfix(&self) {
        self.control("thaw-postfix");
    }

    /// Turns SMTP logins on or off: while off, every AUTH on the submission
    /// ports fails with 535 (IMAP logins still work). Takes effect for the
    /// next login, within a second.
    pub fn smtp_logins(&self, on: bool) {
        self.control_args(&["smtp-logins", if on { "on" } else { "off" }]);
    }

    /// `smtp_logins(false)`, turned on again when the guard is dropped.
    pub fn smtp_logins_off(&self) -> Disruption<'_> {
        self.smtp_logins(false);
        Disruption::new(self, &["smtp-logins", "on"])
    }
}

fn mail_servers_script() -> Command {
    let mut command = Command::new(repo_root().join("scripts/mail-servers.sh"));
    command.stdin(Stdio::null());
    command
}

/// A disruption of a mail-server instance (frozen, logins off), undone when
/// dropped: a test that fails half-way does not leave the other tests a
/// frozen server. `undo` ends it earlier.
#[derive(Debug)]
#[must_use = "dropping the guard undoes the disruption at once"]
pub struct Disruption<'a> {
    servers: &'a MailServers,
    undo: &'static [&'static str],
    done: bool,
}

impl<'a> Disruption<'a> {
    fn new(servers: &'a MailServers, undo: &'static [&'static str]) -> Self {
        Self {
            servers,
            undo,
            done: false,
        }
    }

    /// Undoes the disruption now.
    pub fn undo(mut self) {
        self.done = true;
        self.servers.control_args(self.undo);
    }
}

impl Drop for Disruption<'_> {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds.
        if !self.done
            && let Err(e) = self.servers.try_control(self.undo)
        {
            eprintln!("{e}");
        }
    }
}

/// An instance of the mail servers of a test's own, in a temporary folder,
/// beside the shared one: free ports of its own, stopped by its process ids
/// when dropped.
#[derive(Debug)]
pub struct OwnMailServers {
    pub servers: MailServers,
    /// Removed when dropped, after the stop.
    _dir: tempfile::TempDir,
    stopped: bool,
}

impl OwnMailServers {
    /// `scripts/mail-servers.sh start` in a new folder, without the shared
    /// instance's variables (whose ports it would otherwise try to take).
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("mailpresence-own-mail.")
            .tempdir()
            .expect("tempdir");
        let mut command = mail_servers_script();
        command.arg("start").arg(dir.path());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MAILPRESENCE_") {
                command.env_remove(name);
            }
        }
        let out = command.output().expect("mail-servers.sh runs");
        assert!(
            out.status.success(),
            "mail-servers.sh start {} failed ({}):\n{}",
            dir.path().display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: std::collections::HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .flat_map(str::split_whitespace)
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let servers = MailServers::from_vars(|n| {
            vars.get(n)
                .cloned()
                .unwrap_or_else(|| panic!("mail-servers.sh start printed no {n}"))
        });
        Self {
            servers,
            _dir: dir,
            stopped: false,
        }
    }

    /// `scripts/mail-servers.sh stop`: this instance's processes, and no others.
    pub fn stop(&mut self) {
        self.stopped = true;
        self.servers.control("stop");
    }
}

impl Drop for OwnMailServers {
    fn drop(&mut self) {
        // Before the folder goes; no panic while a failed test unwinds.
        if !self.stopped
            && let Err(e) = self.servers.try_control(&["stop"])
        {
            eprintln!("{e}");
        }
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A binary of the workspace, next to the test executable's folder.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A random tag that keeps one test's addresses apart from every other's.
pub fn tag() -> String {
    format!("{:08x}", rand::rng().random::<u32>())
}

/// One person of a test's directory.
#[derive(Debug, Clone)]
pub struct Staff {
    pub account: String,
    pub mail: String,
    pub groups: Vec<String>,
    /// Digest password for the SIP side, when the test wants one.
    pub sip_password: Option<String>,
}

/// How the server reaches the mail servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    Starttls,
    Implicit,
}

/// The server's SIP over TLS in a test: its port, and its self-signed
/// certificate (which is also what a client trusts).
#[derive(Debug, Clone)]
pub struct SipTls {
    pub port: u16,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl SipTls {
    /// Its lines of the `[sip]` section.
    fn config(&self) -> String {
        format!(
            "tls_listen = \"127.0.0.1:{}\"\ntls_certificate = \"{}\"\ntls_key = \"{}\"\n",
            self.port,
            self.certificate.display(),
            self.key.display()
        )
    }
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
    /// The server's SIP port, when the test speaks SIP; extra `[sip]` lines.
    pub sip_port: Option<u16>,
    pub sip_extra: String,
    /// `[sip] trusted_networks` (TOML array items); default loopback, where
    /// the tests' SIP peers run. Empty: every request must prove its password.
    pub sip_trusted: String,
    /// SIP over TLS, when the test wants it (see `with_sip_tls`).
    pub sip_tls: Option<SipTls>,
    /// The `[trust]` section; default: the test MTA's Authentication-Results.
    pub trust: String,
    /// The web board's port, when the test opens it (see `with_web`).
    pub web_port: Option<u16>,
    pub dir: tempfile::TempDir,
}

impl World {
    /// Accounts as `name` or `name:group1,group2`.
    pub fn new(accounts: &[&str]) -> Self {
        let servers = MailServers::from_env();
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
            sip_port: None,
            sip_extra: String::new(),
            sip_trusted: "\"127.0.0.0/8\"".into(),
            sip_tls: None,
            web_port: None,
            dir: tempfile::tempdir().expect("tempdir"),
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

    /// Writes the server's configuration file and returns its path.
    pub fn write_config(&self) -> PathBuf {
        let s = &self.servers;
        let (imap_port, imap_tls, smtp_port, smtp_tls, smtp_auth) = match self.security {
            Security::Plain => (s.imap_port, "none", s.smtp_port, "none", false),
            Security::Starttls => (s.imap_port, "starttls", s.submission_port, "starttls", true),
            Security::Implicit => (s.imaps_port, "implicit", s.smtps_port, "implicit", true),
        };
        let mut t = String::new();
        writeln!(
            t,
            "[server]\naddress = \"{}\"\nstorage = \"{}\"\nlanguage = \"ja\"\n",
            self.presence,
            self.storage().display()
        )
        .unwrap();
        writeln!(
            t,
            "[imap]\nhost = \"127.0.0.1\"\nport = {imap_port}\ntls = \"{imap_tls}\"\nuser = \"{}\"\npassword = \"secret\"\nca_file = \"{}\"\nidle_timeout_secs = 60\ncommand_timeout_secs = 5\n",
            self.presence,
            s.ca.display()
        )
        .unwrap();
        writeln!(t, "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"{smtp_tls}\"\nca_file = \"{}\"\nmax_per_second = 200\nmax_retry_secs = {}\ncommand_timeout_secs = 5", s.ca.display(), self.smtp_max_retry_secs).unwrap();
        if smtp_auth {
            writeln!(t, "user = \"{}\"\npassword = \"secret\"", self.presence).unwrap();
        }
        writeln!(t, "\n{}", self.trust).unwrap();
        writeln!(t, "\n[presence]\n{}", self.policy).unwrap();
        if let Some(port) = self.sip_port {
            writeln!(
                t,
                "[sip]\nlisten = \"127.0.0.1:{port}\"\ndomain = \"{}\"\ntrusted_networks = [{}]\n{}{}\n",
                s.domain,
                self.sip_trusted,
                self.sip_tls
                    .as_ref()
                    .map(SipTls::config)
                    .unwrap_or_default(),
                self.sip_extra
            )
            .unwrap();
        }
        if let Some(port) = self.web_port {
            writeln!(
                t,
                "[web]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{}\"\nmap_pack = \"{}\"\n",
                self.web_url(),
                repo_root().join("assets/mappack.bin").display()
            )
            .unwrap();
        }
        for p in &self.staff {
            let groups: Vec<String> = p.groups.iter().map(|g| format!("\"{g}\"")).collect();
            writeln!(
                t,
                "[[person]]\naccount = \"{}\"\nmail = \"{}\"\nsip = \"sip:{}@{}\"\ngroups = [{}]",
                p.account,
                p.mail,
                p.account,
                s.domain,
                groups.join(", ")
            )
            .unwrap();
            if let Some(pw) = &p.sip_password {
                writeln!(t, "sip_password = \"{pw}\"").unwrap();
            }
            t.push('\n');
        }
        t.push_str(&self.rules);
        std::fs::write(self.config_path(), t).expect("write config");
        self.config_path()
    }

    /// Starts the server on this world's configuration and waits until it
    /// says it runs (its store open, its SIP sockets bound).
    pub fn start_server(&self) -> ServerProcess {
        let server =
            ServerProcess::start(&self.write_config(), &self.dir.path().join("server.log"));
        server.wait_until_running();
        server
    }

    /// The server's counts, read from its database by `--status`.
    pub fn status(&self) -> serde_json::Value {
        let out = Command::new(binary("mailpresence-server"))
            .args(["--config", self.config_path().to_str().unwrap(), "--status"])
            .output()
            .expect("status runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    /// Sends `raw` over plain SMTP (Postfix's inbound port, no login), as a
    /// stranger on the internet would: the mail is verified there, not signed.
    pub async fn send(&self, from: &str, to: &str, raw: &[u8]) {
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.servers.smtp_port)
            .build();
        let env = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        smtp.send_raw(&env, raw)
            .await
            .expect("Postfix takes the mail");
    }

    /// Sends `raw` as a phone does: logged in as `from` on the submission
    /// port (STARTTLS), where the company's mail system signs it.
    pub async fn submit(&self, from: &str, to: &str, raw: &[u8]) {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: self.servers.submission_port,
            tls: TlsMode::Starttls,
            credentials: Some((from.to_owned(), "secret".to_owned())),
            ca_file: Some(self.servers.ca.clone()),
        };
        let smtp =
            mailpresence_protocol::transport::smtp::transport(&endpoint, Duration::from_secs(30))
                .expect("SMTP setup");
        let env = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        smtp.send_raw(&env, raw)
            .await
            .expect("Postfix takes the mail on submission");
    }

    /// `raw` with a DKIM signature by `domain`'s test key, as that domain's
    /// submission server would sign it.
    pub fn sign_as(&self, domain: &str, raw: &[u8]) -> Vec<u8> {
        use mail_auth::common::crypto::{RsaKey, Sha256};
        use mail_auth::common::headers::HeaderWriter;
        let pem = std::fs::read_to_string(self.servers.dkim_dir.join(domain).join("mail.private"))
            .expect("DKIM key of the test mail servers");
        #[allow(deprecated)] // the PEM helper is deprecated in favour of DER plumbing
        let key = RsaKey::<Sha256>::from_pkcs8_pem(&pem).expect("PKCS#8 key");
        let signature = mail_auth::dkim::DkimSigner::from_key(key)
            .domain(domain)
            .selector("mail")
            .headers(["From", "To", "Subject", "Message-ID"])
            .sign(raw)
            .expect("signs");
        let mut signed = signature.to_header().into_bytes();
        signed.extend_from_slice(raw);
        signed
    }

    /// A presence mail signed with the company's key and delivered on the
    /// inbound port, as mail from the company's submission server relayed by
    /// another MTA: it needs no login, so it goes through while Dovecot (the
    /// login backend) is down.
    pub async fn send_presence_signed(&self, from: &str, message: &PresenceMessage) -> String {
        let (id, raw) = self.compose_presence(from, message);
        let signed = self.sign_as(&self.servers.domain, &raw);
        self.send(from, &self.presence, &signed).await;
        id
    }

    /// A presence mail from `from` to the presence mailbox, with a fresh
    /// Message-ID (returned with it).
    fn compose_presence(&self, from: &str, message: &PresenceMessage) -> (String, Vec<u8>) {
        let id = format!("<{}.{}@{}>", tag(), self.tag, self.servers.domain);
        let env = ComposeEnvelope {
            from: from.into(),
            to: self.presence.clone(),
            message_id: Some(id.clone()),
            in_reply_to: None,
        };
        (id, mail::compose(message, &env).expect("composes"))
    }

    /// Composes a presence mail with the core and submits it to the presence
    /// mailbox as the phone of `from` would.
    pub async fn send_presence(&self, from: &str, message: &PresenceMessage) -> String {
        let (id, raw) = self.compose_presence(from, message);
        self.submit(from, &self.presence, &raw).await;
        id
    }

    pub async fn mailbox(&self, address: &str) -> Mailbox {
        Mailbox::open(&self.servers, address).await
    }

    /// Freezes the shared Dovecot (see `MailServers::freeze_dovecot`); thawed
    /// when the guard is dropped.
    pub fn freeze_dovecot(&self) -> Disruption<'_> {
        self.servers.freeze_dovecot()
    }

    pub fn thaw_dovecot(&self) {
        self.servers.thaw_dovecot();
    }

    /// Freezes the shared Postfix (see `MailServers::freeze_postfix`); thawed
    /// when the guard is dropped.
    pub fn freeze_postfix(&self) -> Disruption<'_> {
        self.servers.freeze_postfix()
    }

    pub fn thaw_postfix(&self) {
        self.servers.thaw_postfix();
    }

    /// SMTP logins on the shared instance on or off (see `MailServers::smtp_logins`).
    pub fn smtp_logins(&self, on: bool) {
        self.servers.smtp_logins(on);
    }

    /// SMTP logins off until the guard is dropped.
    pub fn smtp_logins_off(&self) -> Disruption<'_> {
        self.servers.smtp_logins_off()
    }
}

/// A free port on loopback (UDP and TCP both free at the time of asking).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl World {
    /// Gives the server its web board on a free port.
    pub fn with_web(mut self) -> Self {
        self.web_port = Some(free_port());
        self
    }

    /// The board's address, as people open it.
    pub fn web_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.web_port.expect("web board enabled")
        )
    }

    /// Gives the server a SIP side on a free port.
    pub fn with_sip(mut self) -> Self {
        self.sip_port = Some(free_port());
        self
    }

    pub fn sip_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.sip_port.expect("SIP enabled")))
    }

    /// Gives the server SIP over TLS too, on a free port of its own, with a
    /// self-signed certificate for localhost and 127.0.0.1 made by openssl.
    pub fn with_sip_tls(self) -> Self {
        let mut world = if self.sip_port.is_some() {
            self
        } else {
            self.with_sip()
        };
        let certificate = world.dir.path().join("sip-cert.pem");
        let key = world.dir.path().join("sip-key.pem");
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&certificate)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        world.sip_tls = Some(SipTls {
            port,
            certificate,
            key,
        });
        world
    }

    pub fn sip_tls_addr(&self) -> std::net::SocketAddr {
        let tls = self.sip_tls.as_ref().expect("SIP over TLS enabled");
        std::net::SocketAddr::from(([127, 0, 0, 1], tls.port))
    }

    /// Runs a SIPp scenario from `tests/sipp/` against the server as one call:
    /// `service` is the Request-URI user, `user` the phone's own account.
    pub fn sipp(
        &self,
        scenario: &str,
        service: &str,
        user: &str,
        extra: &[&str],
    ) -> tokio::process::Child {
        self.sipp_at(self.sip_addr(), scenario, service, user, extra)
    }

    /// `sipp`, sending to `target` instead of the server's SIP address.
    pub fn sipp_at(
        &self,
        target: std::net::SocketAddr,
        scenario: &str,
        service: &str,
        user: &str,
        extra: &[&str],
    ) -> tokio::process::Child {
        let port = free_port().to_string();
        let server = target.to_string();
        let scenario = repo_root().join("tests/sipp").join(scenario);
        tokio::process::Command::new("timeout")
            .arg("40")
            .arg("sipp")
            .arg("-sf")
            .arg(&scenario)
            .args(["-m", "1", "-i", "127.0.0.1", "-p", &port, "-s", service])
            .args(["-key", "user", user, "-key", "domain", &self.servers.domain])
            .args([
                "-nostdin",
                "-timeout",
                "30s",
                "-timeout_error",
                "-trace_err",
            ])
            .args(extra)
            .arg(&server)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("sipp runs (Debian package sip-tester)")
    }

    /// What SIPp logged as unexpected, for failure messages.
    pub fn sipp_errors(&self) -> String {
        std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("_errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Waits for a SIPp run; true when its one call succeeded.
pub async fn sipp_passed(child: tokio::process::Child) -> (bool, String) {
    let out = child.wait_with_output().await.expect("sipp finishes");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A bare SIP endpoint on UDP, for what SIPp cannot do easily: hostile input,
/// silence, exact timing.
#[derive(Debug)]
pub struct RawSip {
    pub socket: tokio::net::UdpSocket,
    pub server: std::net::SocketAddr,
}

impl RawSip {
    pub async fn new(server: std::net::SocketAddr) -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self { socket, server }
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("addr").port()
    }

    /// Sends a message written with `\n` line ends (turned into CRLF).
    pub async fn send_text(&self, text: &str) {
        self.send_bytes(text.replace('\n', "\r\n").as_bytes()).await;
    }

    pub async fn send_bytes(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).await.expect("send");
    }

    /// The next message within `timeout`.
    pub async fn recv(&self, timeout: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65_536];
        match tokio::time::timeout(timeout, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            _ => None,
        }
    }

    /// The status code of the next response within two seconds.
    pub async fn status(&self) -> Option<u16> {
        let text = self.recv(Duration::from_secs(2)).await?;
        text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }
}

/// A header's value in a message's text.
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl World {
    /// A phone's account file for `account` (STARTTLS IMAP, submission with
    /// AUTH, as a phone on the road would use), and its state folder.
    pub fn terminal_config(&self, account: &str) -> PathBuf {
        let s = &self.servers;
        let mail = self.mail_of(account);
        let text = format!(
            "{trust}account = \"{account}\"\nmail = \"{mail}\"\npresence_server = \"{presence}\"\n\n\
             [imap]\nhost = \"127.0.0.1\"\nport = {imap}\ntls = \"starttls\"\nuser = \"{mail}\"\npassword = \"secret\"\nca_file = \"{ca}\"\n\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"starttls\"\nuser = \"{mail}\"\npassword = \"secret\"\nca_file = \"{ca}\"\n\n\
             [location]\ngranularity = \"city\"\nmin_interval_secs = 0\n",
            presence = self.presence,
            imap = s.imap_port,
            smtp = s.submission_port,
            ca = s.ca.display(),
            trust = self.terminal_trust(),
        );
        let path = self.dir.path().join(format!("{account}.toml"));
        std::fs::write(&path, text).expect("write account file");
        path
    }

    /// The phone believes a Notify only as the test MTA's Authentication-Results
    /// prove it. The server's Notify is signed only when it sends through
    /// submission, so a test whose phones read Notify mails sets
    /// `security` to `Starttls` or `Implicit`.
    fn terminal_trust(&self) -> String {
        format!("authserv_id = \"{}\"\n", self.servers.authserv_id)
    }

    /// Runs the `mailpresence` command and waits for it.
    pub fn mailpresence(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary("mailpresence"))
            .args(args)
            .output()
            .expect("mailpresence runs")
    }
}

/// What the server logs once it is ready.
const RUNNING: &str = "presence server running";

/// The running server process; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub log: PathBuf,
    config: PathBuf,
}

impl ServerProcess {
    /// The server's process id (for /proc and prlimit).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn start(config: &Path, log: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(binary("mailpresence-server"))
            .args(["--config", config.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("server starts");
        Self {
            child,
            log: log.to_owned(),
            config: config.to_owned(),
        }
    }

    /// SIGKILL: no chance to clean up, as in a crash.
    pub fn kill9(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// The server's resident memory in KiB (VmRSS), as `ps` would show it.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// SIGTERM and wait: the planned stop an administrator makes.
    pub fn stop_gracefully(&mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .ok();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A planned stop, then a start on the same configuration and store.
    pub fn restart_gracefully(&mut self) {
        self.stop_gracefully();
        let runs_before = self.log_text().matches(RUNNING).count();
        *self = Self::start(&self.config.clone(), &self.log.clone());
        self.wait_for_runs(runs_before + 1);
    }

    pub fn restart(&mut self) {
        self.kill9();
        let runs_before = self.log_text().matches(RUNNING).count();
        *self = Self::start(&self.config.clone(), &self.log.clone());
        self.wait_for_runs(runs_before + 1);
    }

    fn wait_until_running(&self) {
        self.wait_for_runs(1);
    }

    fn wait_for_runs(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.log_text().matches(RUNNING).count() < n {
            assert!(
                Instant::now() < deadline,
                "server did not start:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || async { self.log_text().contains(needle) }).await
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A person's mailbox, read over IMAP as their phone would, with the
/// project's own IMAP session type.
#[derive(Debug)]
pub struct Mailbox {
    session: MailSession,
}

impl Mailbox {
    pub async fn open(servers: &MailServers, address: &str) -> Self {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: servers.imap_port,
            tls: TlsMode::None,
            credentials: Some((address.to_owned(), "secret".to_owned())),
            ca_file: None,
        };
        let mut session = MailSession::open(&endpoint, Timeouts::default())
            .await
            .expect("IMAP login");
        session.select("INBOX").await.expect("select");
        Self { session }
    }

    /// Every mail in `folder`, oldest first.
    pub async fn all_in(&mut self, folder: &str) -> Vec<Vec<u8>> {
        self.session.select(folder).await.expect("select");
        let uids = self.session.search("ALL").await.expect("search");
        let fetched = self.session.fetch(&uids, usize::MAX).await.expect("fetch");
        fetched
            .into_iter()
            .filter_map(|f| match f {
                Fetched::Mail { raw, .. } => Some(raw),
                Fetched::TooLarge { .. } => None,
            })
            .collect()
    }

    /// Every mail in the inbox, oldest first.
    pub async fn all(&mut self) -> Vec<Vec<u8>> {
        self.all_in("INBOX").await
    }

    /// Waits until at least `n` mails are here; returns them all.
    pub async fn wait_for(&mut self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let mails = self.all().await;
            if mails.len() >= n || Instant::now() > deadline {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Puts a mail straight into this mailbox (no SMTP needed).
    pub async fn append(&mut self, raw: &[u8]) {
        self.session.append("INBOX", raw).await.expect("append");
    }

    /// How many mails `folder` holds (0 when it does not exist).
    pub async fn count_in(&mut self, folder: &str, query: &str) -> usize {
        if self.session.select(folder).await.is_err() {
            // A failed SELECT leaves no mailbox selected; the session is fine.
            return 0;
        }
        self.session.search(query).await.expect("search").len()
    }

    /// Waits up to `timeout` for the inbox to be empty; returns how many
    /// mails are left.
    pub async fn wait_until_empty(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let left = self.count().await;
            if left == 0 || Instant::now() > deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many mails the inbox holds.
    pub async fn count(&mut self) -> usize {
        self.count_in("INBOX", "ALL").await
    }

    /// How many mails are still unread.
    pub async fn count_unseen(&mut self) -> usize {
        self.count_in("INBOX", "UNSEEN").await
    }
}

/// The presence messages among `mails`, as the phone's core reads them.
pub fn presence_messages(mails: &[Vec<u8>]) -> Vec<(mail::Envelope, PresenceMessage)> {
    mails
        .iter()
        .filter_map(|m| {
            let parsed = mail::parse(m, Limits::default());
            match parsed.outcome {
                Outcome::Presence(p) => Some((parsed.envelope, p)),
                _ => None,
            }
        })
        .collect()
}
