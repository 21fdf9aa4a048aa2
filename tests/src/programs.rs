//! The project's own programs as a test runs them: the presence server as a
//! process (started, stopped, killed, restarted, its log), its `--status`, and
//! the `mailpresence` command line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::{World, wait_until};

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

    /// Waits until the server says it runs (a server started with [`Self::start`]).
    pub fn wait_until_running(&self) {
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

impl World {
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

    /// Runs the `mailpresence` command and waits for it.
    pub fn mailpresence(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary("mailpresence"))
            .args(args)
            .output()
            .expect("mailpresence runs")
    }
}
