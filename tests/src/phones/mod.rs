//! Real desk phones for the end-to-end tests, driven as desk staff would use
//! them: baresip (the Debian softphone, told what to do over its `ctrl_tcp`
//! JSON interface) and linphonec (Linphone's console phone, typed to on its
//! standard input), and Kamailio from Debian as the company's registrar in
//! front of the presence server.
//!
//! Every process gets a temporary folder of its own (its configuration, its
//! home, its log) and free loopback ports, and is killed when dropped. What a
//! phone shows is read the way its user would read it: baresip's contact list,
//! the `Friend … is …` lines linphonec prints. Logs are kept for the failure
//! messages (`describe`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{World, free_port, repo_root, wait_until};

/// How long a phone or the registrar may take to come up.
const STARTUP: Duration = Duration::from_secs(15);
/// One control command to baresip, answer included.
const COMMAND: Duration = Duration::from_secs(5);
/// Lines of a log shown in a failure message.
const LOG_TAIL: usize = 120;

/// How a phone carries SIP to its outbound proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// Its `transport=` URI parameter.
    fn param(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }
}

/// A desk worker's SIP account as set up on their phone.
#[derive(Debug, Clone)]
pub struct DeskAccount {
    /// The person's SIP URI, e.g. `sip:sato@example.test`.
    pub aor: String,
    /// Digest password, when the server or registrar asks for one.
    pub password: Option<String>,
    /// Where the phone sends every request (its outbound proxy).
    pub proxy: SocketAddr,
    /// Whether it REGISTERs at `proxy` before anything else.
    pub register: bool,
    /// UDP unless set otherwise (`over_tcp`, `over_tls`).
    pub transport: Transport,
    /// The certificate authority the phone trusts for TLS.
    pub ca_file: Option<PathBuf>,
}

impl DeskAccount {
    /// A phone that talks to the presence server alone and does not register
    /// (baresip can be set up so; most desk phones cannot).
    pub fn standalone(world: &World, account: &str) -> Self {
        Self {
            aor: world_aor(world, account),
            password: sip_password(world, account),
            proxy: world.sip_addr(),
            register: false,
            transport: Transport::Udp,
            ca_file: None,
        }
    }

    /// A phone whose registrar (and outbound proxy) is `registrar`: the
    /// company's Kamailio, or the presence server's own registrar.
    pub fn registering_at(world: &World, account: &str, registrar: SocketAddr) -> Self {
        Self {
            aor: world_aor(world, account),
            password: sip_password(world, account),
            proxy: registrar,
            register: true,
            transport: Transport::Udp,
            ca_file: None,
        }
    }

    /// The same account over TCP to the same proxy.
    pub fn over_tcp(mut self) -> Self {
        self.transport = Transport::Tcp;
        self
    }

    /// The same account over TLS to the presence server's TLS port, trusting
    /// the server's certificate as the office's CA (`World::with_sip_tls`).
    pub fn over_tls(mut self, world: &World) -> Self {
        let tls = world.sip_tls.as_ref().expect("SIP over TLS enabled");
        self.proxy = world.sip_tls_addr();
        self.transport = Transport::Tls;
        self.ca_file = Some(tls.certificate.clone());
        self
    }

    /// The proxy as a URI with its transport: `sip:127.0.0.1:5060;transport=tcp`.
    fn proxy_uri(&self) -> String {
        format!("sip:{};transport={}", self.proxy, self.transport.param())
    }

    /// The user part of the SIP URI (`sato`).
    fn user(&self) -> &str {
        let rest = self.aor.strip_prefix("sip:").unwrap_or(&self.aor);
        rest.split('@').next().unwrap_or(rest)
    }
}

/// `sip:account@domain` in this world's SIP domain.
pub fn world_aor(world: &World, account: &str) -> String {
    format!("sip:{account}@{}", world.servers.domain)
}

fn sip_password(world: &World, account: &str) -> Option<String> {
    world
        .staff
        .iter()
        .find(|s| s.account == account)
        .and_then(|s| s.sip_password.clone())
}

/// The last `n` lines of a file, for failure messages.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn create_log(path: &Path) -> std::fs::File {
    std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Kills a child and reaps it; no panic (this runs while a failed test unwinds).
fn kill_and_reap(child: &mut Child) {
    child.kill().ok();
    child.wait().ok();
}

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

/// Kamailio from Debian as the company's registrar
/// (`tests/kamailio/registrar.cfg`): phones REGISTER at it (bindings in
/// memory) and it routes PUBLISH and SUBSCRIBE for presence to the presence
/// server. On a free loopback port (UDP and TCP); stopped when dropped.
#[derive(Debug)]
pub struct Registrar {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registrar {
    /// Starts Kamailio for `domain`, routing presence to `presence_server`.
    pub fn start(domain: &str, presence_server: SocketAddr) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kamailio.")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let template = std::fs::read_to_string(repo_root().join("tests/kamailio/registrar.cfg"))
            .expect("tests/kamailio/registrar.cfg");
        let config = template
            .replace("@LISTEN@", &port.to_string())
            .replace("@MODULES@", &kamailio_modules().display().to_string())
            .replace("@DOMAIN@", domain)
            .replace("@PRESENCE@", &presence_server.to_string());
        let cfg = dir.path().join("registrar.cfg");
        std::fs::write(&cfg, config).expect("write kamailio config");
        let log = dir.path().join("kamailio.log");
        let out = create_log(&log);
        // -DD: stays in the foreground (its workers are its children, ended
        // with it); -E: logs to the log file; small memory, a test's load.
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .arg("-P")
            .arg(dir.path().join("kamailio.pid"))
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("kamailio runs (Debian package kamailio)");
        let registrar = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            _dir: dir,
        };
        registrar.wait_listening();
        registrar
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + STARTUP;
        // Kamailio logs its sockets, then forks its workers; the UDP socket
        // is bound by then and keeps what arrives for them.
        while !self.log_text().contains("Listening on") {
            assert!(
                Instant::now() < deadline,
                "kamailio did not start:\n{}",
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The end of Kamailio's log (one line per request it routed).
    pub fn describe(&self) -> String {
        format!(
            "--- kamailio on {} (log {}):\n{}",
            self.addr,
            self.log.display(),
            tail(&self.log, LOG_TAIL)
        )
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        // SIGTERM: Kamailio's main process then ends its workers; a SIGKILL
        // would leave them running on the port.
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while terminated && Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_and_reap(&mut self.child);
    }
}

/// Where Debian installed Kamailio's modules (`/usr/lib/<triplet>/kamailio/modules`).
fn kamailio_modules() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("kamailio/modules"))
        .find(|p| p.join("registrar.so").is_file())
        .expect("Kamailio's modules (Debian package kamailio)")
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

    #[test]
    fn sip_start_lines_are_told_from_headers() {
        assert!(is_sip_start_line("SIP/2.0 405 Method Not Allowed"));
        assert!(is_sip_start_line("REGISTER sip:example.test SIP/2.0"));
        assert!(!is_sip_start_line("Via: SIP/2.0/UDP 127.0.0.1"));
    }
}
