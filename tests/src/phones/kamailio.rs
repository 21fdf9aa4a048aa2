//! Kamailio from Debian in front of the presence server, on a free loopback
//! port, stopped when dropped: as the company's registrar, or as the
//! dispatcher in front of two instances.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{LOG_TAIL, STARTUP, create_log, kill_and_reap, tail};
use crate::{free_port, repo_root};

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
        Self::start_with(
            dir,
            "registrar.cfg",
            &[
                ("@DOMAIN@", domain),
                ("@PRESENCE@", &presence_server.to_string()),
            ],
        )
    }

    /// Starts Kamailio's dispatcher (`tests/kamailio/dispatcher.cfg`) for
    /// `domain` in front of `instances`: each request to the first that
    /// answers, in this order.
    pub fn dispatching(domain: &str, instances: &[SocketAddr]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kamailio.")
            .tempdir()
            .expect("tempdir");
        // Set 1, one line per instance; a higher priority goes first.
        let list: String = instances
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("1 sip:{addr} 0 {}\n", 100 - i))
            .collect();
        let list_file = dir.path().join("dispatcher.list");
        std::fs::write(&list_file, list).expect("write dispatcher list");
        let list_file = list_file.display().to_string();
        Self::start_with(
            dir,
            "dispatcher.cfg",
            &[("@DOMAIN@", domain), ("@LIST@", &list_file)],
        )
    }

    /// Starts Kamailio in `dir` on `template` (in tests/kamailio/) with
    /// `fill`ed in, and its own port and modules.
    fn start_with(dir: tempfile::TempDir, template: &str, fill: &[(&str, &str)]) -> Self {
        let port = free_port();
        let text = std::fs::read_to_string(repo_root().join("tests/kamailio").join(template))
            .expect("Kamailio configuration in tests/kamailio");
        let mut config = text
            .replace("@LISTEN@", &port.to_string())
            .replace("@MODULES@", &kamailio_modules().display().to_string());
        for (name, value) in fill {
            config = config.replace(name, value);
        }
        let cfg = dir.path().join(template);
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
