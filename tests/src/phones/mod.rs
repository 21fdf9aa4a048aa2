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
//!
//! Here: the accounts a phone is set up with; `baresip`, `linphonec` and
//! `kamailio` each drive their program.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use crate::World;

mod baresip;
mod kamailio;
mod linphonec;

pub use baresip::Baresip;
pub use kamailio::Registrar;
pub use linphonec::Linphonec;

/// How long a phone or the registrar may take to come up.
const STARTUP: Duration = Duration::from_secs(15);
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
