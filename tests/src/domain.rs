//! A mail domain as the Internet shows it to a phone looking for its
//! settings: DNS records served by Debian's dnsmasq, and autoconfig
//! documents served by a plain web server (python3's http.server) — each on
//! a free loopback port, each stopped by its own pid when dropped.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// How long a server may take to listen.
const STARTUP: Duration = Duration::from_secs(10);

/// dnsmasq answering only for the records it is given (no upstream, no
/// hosts file; a name under `.test` without records is NXDOMAIN).
#[derive(Debug)]
pub struct DnsServer {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl DnsServer {
    /// Starts dnsmasq with `records`: its own options without the dashes,
    /// e.g. `mx-host=contoso.test,contoso-test.mail.protection.outlook.com,0`
    /// or `srv-host=_imaps._tcp.example.test,imap.example.test,993,0,1`.
    pub fn start(records: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dnsmasq.")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let log = dir.path().join("dnsmasq.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new("dnsmasq")
            .args([
                "--no-resolv",
                "--no-hosts",
                "--no-daemon",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--local=/test/",
                "--log-queries",
            ])
            .arg(format!("--port={port}"))
            .args(records.iter().map(|r| format!("--{r}")))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("dnsmasq runs (Debian package dnsmasq-base)");
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            _dir: dir,
        };
        wait_listening(&mut server.child, server.addr, &server.log, "dnsmasq");
        server
    }

    /// What dnsmasq logged (the queries it answered).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// A web server with a folder of files, standing in for
/// `https://autoconfig.<domain>` and `https://<domain>`: the paths are the
/// real ones, the base is [`WebServer::base`].
#[derive(Debug)]
pub struct WebServer {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl WebServer {
    /// Starts serving an empty folder; [`WebServer::put`] adds files.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("autoconfig.")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().join("www");
        std::fs::create_dir(&root).expect("www");
        let port = free_port();
        let log = dir.path().join("http.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(&root)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("python3 runs");
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            dir,
        };
        wait_listening(&mut server.child, server.addr, &server.log, "http.server");
        server
    }

    /// Where the files are served from (`http://127.0.0.1:PORT`).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `text` at `path` (relative, e.g. `mail/config-v1.1.xml`).
    pub fn put(&self, path: &str, text: &str) {
        let file = self.dir.path().join("www").join(path);
        std::fs::create_dir_all(file.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&file, text).expect("write");
    }

    /// The requests it served.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// Waits until `addr` takes TCP connections (dnsmasq listens on TCP too).
fn wait_listening(child: &mut Child, addr: SocketAddr, log: &Path, name: &str) {
    let deadline = Instant::now() + STARTUP;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{name} exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            kill_and_reap(child);
            panic!(
                "{name} did not listen on {addr} within {STARTUP:?}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills a child by its own pid and reaps it; no panic (this runs while a
/// failed test unwinds).
fn kill_and_reap(child: &mut Child) {
    child.kill().ok();
    child.wait().ok();
}
