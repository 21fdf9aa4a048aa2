//! The test mail servers: the shared instance `scripts/mail-servers.sh start`
//! announced in the environment, an instance of a test's own, and the
//! disruptions a test makes to them (frozen, logins off), undone by guards.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{World, repo_root};

/// Where the test mail servers listen (exported by `scripts/mail-servers.sh start`).
#[derive(Debug, Clone)]
pub struct MailServers {
    pub dir: PathBuf,
    pub domain: String,
    pub smtp_port: u16,
    /// The internal hop from submission to the verifier (a company's
    /// MSA-to-MX path): mail relayed there needs no login.
    pub relay_port: u16,
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
            relay_port: port("MAILPRESENCE_RELAY_PORT"),
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

/// A world's own shortcuts to the disruptions of the shared instance.
impl World {
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
