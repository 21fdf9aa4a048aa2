//! A desk phone running baresip, told what to do over its `ctrl_tcp`
//! interface (netstring-framed JSON), and what its contact list shows.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{DeskAccount, LOG_TAIL, STARTUP, create_log, kill_and_reap, tail};
use crate::{free_port, wait_until};

/// One control command to baresip, answer included.
const COMMAND: Duration = Duration::from_secs(5);

/// A desk phone running baresip 1.0 with its presence module: it publishes
/// its user's status and watches the contacts it was given
/// (`;presence=p2p`). Told what to do over `ctrl_tcp` (netstring-framed
/// JSON commands on a TCP port of its own).
#[derive(Debug)]
pub struct Baresip {
    child: Child,
    ctrl: SocketAddr,
    log: PathBuf,
    pub account: DeskAccount,
    _dir: tempfile::TempDir,
}

impl Baresip {
    /// Starts the phone for `account`, watching `contacts` (SIP URIs), and
    /// waits until it takes commands (and, when it registers, until the
    /// registrar accepted it). Its status is baresip's initial `unknown`
    /// (shown to others as offline) until `set_online`.
    pub async fn start(account: &DeskAccount, contacts: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("baresip.")
            .tempdir()
            .expect("tempdir");
        let ctrl = SocketAddr::from(([127, 0, 0, 1], free_port()));
        write_baresip_files(dir.path(), account, ctrl, contacts);
        let log = dir.path().join("baresip.log");
        let out = create_log(&log);
        // -s: the SIP trace in the log, for failure messages.
        let child = Command::new("baresip")
            .arg("-s")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("baresip runs (Debian package baresip)");
        let phone = Self {
            child,
            ctrl,
            log,
            account: account.clone(),
            _dir: dir,
        };
        phone.wait_ready().await;
        phone
    }

    async fn wait_ready(&self) {
        let takes_commands = wait_until(STARTUP, || async {
            self.log_text().contains("baresip is ready")
                && tokio::net::TcpStream::connect(self.ctrl).await.is_ok()
        })
        .await;
        assert!(
            takes_commands,
            "baresip did not start:\n{}",
            self.describe()
        );
        if self.account.register {
            // baresip prints `aor: {0/UDP/v4} 200 OK (…) [1 binding]`.
            let registered =
                wait_until(STARTUP, || async { self.log_text().contains(" binding]") }).await;
            assert!(registered, "baresip did not register:\n{}", self.describe());
        }
    }

    /// The user sets their status to online (PUBLISH `open`).
    pub async fn set_online(&self) {
        self.command("presence_online", "").await;
    }

    /// The user sets their status to offline (PUBLISH `closed`).
    pub async fn set_offline(&self) {
        self.command("presence_offline", "").await;
    }

    /// Runs a baresip command over `ctrl_tcp`; returns what it printed.
    /// Panics when baresip refuses it or does not answer in time.
    pub async fn command(&self, command: &str, params: &str) -> String {
        match tokio::time::timeout(COMMAND, self.try_command(command, params)).await {
            Ok(Ok(data)) => data,
            Ok(Err(e)) => panic!("baresip `{command} {params}`: {e}\n{}", self.describe()),
            Err(_) => panic!(
                "baresip `{command} {params}`: no answer in {COMMAND:?}\n{}",
                self.describe()
            ),
        }
    }

    async fn try_command(&self, command: &str, params: &str) -> Result<String, String> {
        let mut stream = tokio::net::TcpStream::connect(self.ctrl)
            .await
            .map_err(|e| format!("connect to ctrl_tcp: {e}"))?;
        let request =
            serde_json::json!({ "command": command, "params": params, "token": "harness" })
                .to_string();
        let framed = format!("{}:{request},", request.len());
        stream
            .write_all(framed.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut reader = NetstringReader::default();
        loop {
            let message = reader.next(&mut stream).await?;
            let json: serde_json::Value = serde_json::from_slice(&message)
                .map_err(|e| format!("answer is not JSON ({e}): {message:?}"))?;
            // Events may come before the answer; skip them.
            if json["response"] != true {
                continue;
            }
            let data = json["data"].as_str().unwrap_or_default().to_owned();
            return if json["ok"] == true {
                Ok(data)
            } else {
                Err(format!("refused: {data}"))
            };
        }
    }

    /// What the phone shows for `uri` in its contact list: `Online`,
    /// `Offline`, `Busy`, `Away`, `Unknown`…; None when it is not listed.
    pub async fn presence_of(&self, uri: &str) -> Option<String> {
        let list = self.command("contacts", "").await;
        contact_status(&list, uri)
    }

    /// Waits until the phone shows `uri` as `status`; false on timeout.
    pub async fn wait_for_presence(&self, uri: &str, status: &str, timeout: Duration) -> bool {
        wait_until(timeout, || async {
            self.presence_of(uri).await.as_deref() == Some(status)
        })
        .await
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The end of the phone's log (SIP trace included), for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "--- baresip {} (log {}):\n{}",
            self.account.aor,
            self.log.display(),
            tail(&self.log, LOG_TAIL)
        )
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// baresip's `config`, `accounts` and `contacts` in its folder.
fn write_baresip_files(dir: &Path, account: &DeskAccount, ctrl: SocketAddr, contacts: &[&str]) {
    // Port 0 for SIP: baresip also takes the port after its SIP port for
    // TLS, which a fixed free port does not guarantee.
    let mut config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\n\
         module_tmp account.so\nmodule_app contact.so\nmodule_app presence.so\n\
         module_app ctrl_tcp.so\nctrl_tcp_listen {ctrl}\n"
    );
    // baresip 1.0 loads this CA but does not check the server's
    // certificate with it (libre 1.1 sets no verification on SIP over TLS);
    // it is given as an office would give it, for phones that do check.
    if let Some(ca) = &account.ca_file {
        writeln!(config, "sip_cafile {}", ca.display()).unwrap();
    }
    let regint = if account.register { 600 } else { 0 };
    let mut line = format!(
        "<{}>;regint={regint};pubint=600;mwi=no;outbound=\"{}\"",
        account.aor,
        account.proxy_uri()
    );
    if let Some(password) = &account.password {
        write!(line, ";auth_pass={password}").unwrap();
    }
    let contacts: String = contacts
        .iter()
        .map(|uri| format!("<{uri}>;presence=p2p\n"))
        .collect();
    for (name, text) in [
        ("config", config),
        ("accounts", line + "\n"),
        ("contacts", contacts),
    ] {
        std::fs::write(dir.join(name), text).expect("write baresip file");
    }
}

/// The status shown for `uri` in the output of baresip's `contacts`, e.g.
/// `>     \x1b[32mOnline\x1b[;m yamada <sip:yamada@example.test>`.
fn contact_status(list: &str, uri: &str) -> Option<String> {
    let wanted = format!("<{uri}>");
    let line = list.lines().find(|l| l.contains(&wanted))?;
    let coloured = line.split_once("\x1b[")?.1;
    let status = coloured.split_once('m')?.1;
    Some(status.split("\x1b[").next()?.trim().to_owned())
}

/// Reads netstrings (`<length>:<bytes>,`) from a stream.
#[derive(Debug, Default)]
struct NetstringReader {
    buffer: Vec<u8>,
}

impl NetstringReader {
    /// baresip's answers are small; more than this is not an answer.
    const MAX: usize = 1 << 20;

    async fn next(&mut self, stream: &mut tokio::net::TcpStream) -> Result<Vec<u8>, String> {
        loop {
            if let Some(message) = self.take()? {
                return Ok(message);
            }
            let mut chunk = [0u8; 4096];
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("ctrl_tcp closed the connection".into());
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// One complete netstring from the buffer, when there is one.
    fn take(&mut self) -> Result<Option<Vec<u8>>, String> {
        let Some(colon) = self.buffer.iter().position(|&b| b == b':') else {
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(&self.buffer[..colon])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l <= Self::MAX)
            .ok_or_else(|| format!("bad netstring: {:?}", self.buffer))?;
        let end = colon + 1 + len;
        if self.buffer.len() <= end {
            return Ok(None);
        }
        let message = self.buffer[colon + 1..end].to_vec();
        self.buffer.drain(..=end);
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_baresip_shows_for_a_contact() {
        let list = "\n--- Contacts (2) ---\n>     \u{1b}[32mOnline\u{1b}[;m yamada <sip:yamada@example.test>\n      \u{1b}[31mOn the phone\u{1b}[;m tanaka <sip:tanaka@example.test>\n\n";
        assert_eq!(
            contact_status(list, "sip:yamada@example.test").as_deref(),
            Some("Online")
        );
        assert_eq!(
            contact_status(list, "sip:tanaka@example.test").as_deref(),
            Some("On the phone")
        );
        assert_eq!(contact_status(list, "sip:sato@example.test"), None);
    }

    #[test]
    fn netstrings_are_cut_where_their_length_says() {
        let mut reader = NetstringReader {
            buffer: b"5:hello,3:ab".to_vec(),
        };
        assert_eq!(reader.take().unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(reader.take().unwrap(), None);
        reader.buffer.extend_from_slice(b"c,");
        assert_eq!(reader.take().unwrap().as_deref(), Some(&b"abc"[..]));
        assert!(
            NetstringReader {
                buffer: b"x:".to_vec()
            }
            .take()
            .is_err()
        );
    }
}
