//! A desk phone running linphonec, typed to on its standard input, and the
//! friends' statuses it prints.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::{DeskAccount, LOG_TAIL, STARTUP, Transport, create_log, kill_and_reap};
use crate::{free_port, wait_until};

/// A desk phone running linphonec 5.1 (Linphone's console phone): it
/// REGISTERs, publishes its user as online while it runs (and removes that
/// when it quits), and watches the friends of its phone book. Typed to on its
/// standard input; what it prints goes to a transcript file.
#[derive(Debug)]
pub struct Linphonec {
    child: Child,
    stdin: Option<ChildStdin>,
    transcript: PathBuf,
    log: PathBuf,
    pub account: DeskAccount,
    _dir: tempfile::TempDir,
}

impl Linphonec {
    /// Starts the phone for `account` with `friends` (SIP URIs) in its phone
    /// book, and waits until the registrar accepted it.
    pub async fn start(account: &DeskAccount, friends: &[&str]) -> Self {
        assert_ne!(
            account.transport,
            Transport::Tls,
            "linphonec over TLS (its CA, its checks) is not set up here"
        );
        let dir = tempfile::Builder::new()
            .prefix("linphonec.")
            .tempdir()
            .expect("tempdir");
        let rc = dir.path().join("linphonerc");
        std::fs::write(&rc, linphonerc(account, friends)).expect("write linphonerc");
        let transcript = dir.path().join("linphonec.out");
        let log = dir.path().join("linphonec.log");
        let out = create_log(&transcript);
        let child = Command::new("linphonec")
            .arg("-c")
            .arg(&rc)
            .args(["-d", "6", "-l"])
            .arg(&log)
            // Its history, database and certificates go to the phone's own home.
            .env("HOME", dir.path())
            .stdin(Stdio::piped())
            .stdout(out.try_clone().expect("transcript file"))
            .stderr(out)
            .spawn()
            .expect("linphonec runs (Debian package linphone-cli)");
        let mut phone = Self {
            stdin: None,
            child,
            transcript,
            log,
            account: account.clone(),
            _dir: dir,
        };
        phone.stdin = phone.child.stdin.take();
        // linphonec 5.1 opens no SIP socket at start from the ports in its
        // configuration; a command that applies its transports again does,
        // and the registration follows. `ports sip` sets a UDP port (and
        // turns TCP off); `ipv6 disable` applies the configured ones (IPv4
        // is all the tests use).
        match account.transport {
            Transport::Udp => phone.type_line(&format!("ports sip {}", free_port())),
            Transport::Tcp | Transport::Tls => phone.type_line("ipv6 disable"),
        }
        if account.register {
            phone.wait_registered().await;
        }
        phone
    }

    async fn wait_registered(&self) {
        let registered = wait_until(STARTUP, || async {
            self.log_text().contains("to [LinphoneRegistrationOk]")
        })
        .await;
        assert!(
            registered,
            "linphonec did not register:\n{}",
            self.describe()
        );
    }

    /// Types one line at the `linphonec>` prompt.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("linphonec still takes input");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("typing `{line}`: {e}\n{}", self.describe()));
    }

    /// What linphonec last printed for the friend `uri` (`Online`,
    /// `Offline`, `Busy`, `Away`…): its `Friend "name" <uri> is Online` lines.
    pub fn presence_of(&self, uri: &str) -> Option<String> {
        friend_status(&self.transcript_text(), uri)
    }

    /// Waits until linphonec shows the friend `uri` as `status`; false on timeout.
    pub async fn wait_for_presence(&self, uri: &str, status: &str, timeout: Duration) -> bool {
        wait_until(timeout, || async {
            self.presence_of(uri).as_deref() == Some(status)
        })
        .await
    }

    /// The user quits the phone (`quit`): it removes its publication and ends
    /// its subscriptions. Waits until it has exited.
    pub async fn quit(&mut self) {
        self.type_line("quit");
        let deadline = Instant::now() + STARTUP;
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            assert!(
                Instant::now() < deadline,
                "linphonec did not quit:\n{}",
                self.describe()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.stdin = None;
    }

    /// Everything linphonec printed so far.
    pub fn transcript_text(&self) -> String {
        std::fs::read_to_string(&self.transcript).unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The transcript and the SIP first lines of its log, for failure messages.
    pub fn describe(&self) -> String {
        let log = self.log_text();
        let sip: Vec<&str> = log
            .lines()
            .filter(|l| is_sip_start_line(l) || l.contains("Registration"))
            .collect();
        format!(
            "--- linphonec {} (log {}):\n{}\n--- its SIP traffic:\n{}",
            self.account.aor,
            self.log.display(),
            self.transcript_text(),
            sip[sip.len().saturating_sub(LOG_TAIL)..].join("\n")
        )
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// `SIP/2.0 200 OK` or `PUBLISH sip:… SIP/2.0`.
fn is_sip_start_line(line: &str) -> bool {
    line.starts_with("SIP/2.0 ")
        || (line.ends_with(" SIP/2.0")
            && line
                .split(' ')
                .next()
                .is_some_and(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_uppercase())))
}

/// linphonec's configuration: one account (proxy, identity, publish), its
/// password, and the phone book with presence subscriptions.
fn linphonerc(account: &DeskAccount, friends: &[&str]) -> String {
    let proxy = account.proxy_uri();
    let mut rc = String::new();
    // The registration waits for no network check (there is no default
    // route on some test machines) and no audio device is needed.
    writeln!(
        rc,
        "[sip]\ndefault_proxy=0\nregister_only_when_network_is_up=0"
    )
    .unwrap();
    // Over TCP, a TCP port of its own (belle-sip sends over a transport only
    // from a listening point of it) and no UDP one.
    if account.transport == Transport::Tcp {
        writeln!(rc, "sip_port=0\nsip_tcp_port={}", free_port()).unwrap();
    }
    writeln!(
        rc,
        "\n[proxy_0]\nreg_proxy=<{proxy}>\nreg_route=<{proxy};lr>\n\
         reg_identity=<{aor}>\nreg_expires=600\nreg_sendregister={register}\n\
         publish=1\npublish_expires=600\n",
        aor = account.aor,
        register = u8::from(account.register),
    )
    .unwrap();
    if let Some(password) = &account.password {
        writeln!(
            rc,
            "[auth_info_0]\nusername={}\npasswd={password}\n",
            account.user()
        )
        .unwrap();
    }
    for (i, uri) in friends.iter().enumerate() {
        let name = uri
            .strip_prefix("sip:")
            .and_then(|r| r.split('@').next())
            .unwrap_or(uri);
        writeln!(
            rc,
            "[friend_{i}]\nurl=\"{name}\" <{uri}>\nsubscribe=1\npol=accept\n"
        )
        .unwrap();
    }
    rc
}

/// The last status linphonec printed for `uri`:
/// `Friend "sato" <sip:sato@example.test> is Online`.
fn friend_status(transcript: &str, uri: &str) -> Option<String> {
    let wanted = format!("<{uri}> is ");
    transcript
        .lines()
        .filter_map(|l| l.split_once(&wanted))
        .filter(|(before, _)| before.contains("Friend "))
        .map(|(_, status)| status.trim().to_owned())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_status_linphonec_printed_for_a_friend() {
        let transcript = "linphonec> Friend \"sato\" <sip:sato@example.test> is Online\nfriend list\n\
                          linphonec> Friend \"sato\" <sip:sato@example.test> is Offline\n";
        assert_eq!(
            friend_status(transcript, "sip:sato@example.test").as_deref(),
            Some("Offline")
        );
        assert_eq!(friend_status(transcript, "sip:kato@example.test"), None);
    }

    #[test]
    fn sip_start_lines_are_told_from_headers() {
        assert!(is_sip_start_line("SIP/2.0 405 Method Not Allowed"));
        assert!(is_sip_start_line("REGISTER sip:example.test SIP/2.0"));
        assert!(!is_sip_start_line("Via: SIP/2.0/UDP 127.0.0.1"));
    }
}
