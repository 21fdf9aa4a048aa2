//! The server's SIP side in a test: its UDP/TCP port and SIP over TLS (with a
//! self-signed certificate), and SIPp scenarios from `tests/sipp/` run
//! against it as one call each.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{World, free_port, repo_root};

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
    pub(crate) fn config(&self) -> String {
        format!(
            "tls_listen = \"127.0.0.1:{}\"\ntls_certificate = \"{}\"\ntls_key = \"{}\"\n",
            self.port,
            self.certificate.display(),
            self.key.display()
        )
    }
}

impl World {
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
