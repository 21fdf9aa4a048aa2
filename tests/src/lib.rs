//! Harness for end-to-end tests: the real `mailpresence-server` process, real
//! Postfix (SMTP) and Dovecot (IMAP) started by `scripts/mail-servers.sh`.
//!
//! Each test takes its own mail addresses (a random tag in each), so tests run
//! side by side on one Dovecot and Postfix without seeing each other's mail.
//!
//! Where things are: `world` (a test's people and settings) and `config`
//! (the files it writes), `programs` (the server process, the command line),
//! `mail_servers` (the shared or an own instance, and disruptions to it),
//! `sending` and `mailbox` (mail in and out), `oauth` (the tests' token
//! endpoint and files that sign in with it), `sip` and `raw_sip` (the SIP
//! side, SIPp, a bare endpoint), `wait`, `phones` (baresip, linphonec,
//! Kamailio), `browser` (the board in Chromium) and `domain` (a mail
//! domain's DNS records and autoconfig documents); here, the few helpers
//! they all use (`repo_root`, `tag`, `free_port`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness stops at the first surprise

use std::path::{Path, PathBuf};

use rand::Rng;

pub mod browser;
mod config;
mod domain;
mod mail_servers;
mod mailbox;
mod metrics;
mod oauth;
pub mod phones;
mod programs;
mod raw_sip;
mod sending;
mod sip;
mod wait;
mod world;

pub use domain::{DnsServer, WebServer};
pub use mail_servers::{Disruption, MailServers, OwnMailServers};
pub use mailbox::{Mailbox, presence_messages};
pub use metrics::{http_get, sample};
pub use oauth::{PHONE_CLIENT, SERVER_CLIENT, TokenEndpoint};
pub use programs::{ServerProcess, binary};
pub use raw_sip::{RawSip, header};
pub use sip::{SipTls, sipp_passed};
pub use wait::wait_until;
pub use world::{Security, Staff, World};

/// The workspace's root folder (where `scripts/` and `tests/sipp/` are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A random tag that keeps one test's addresses apart from every other's.
pub fn tag() -> String {
    format!("{:08x}", rand::rng().random::<u32>())
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
