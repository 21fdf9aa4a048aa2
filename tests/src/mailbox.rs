//! A person's mailbox read over IMAP as their phone would, and the presence
//! messages found in it.

use std::time::{Duration, Instant};

use mailpresence_protocol::mail::{self, Limits, Outcome, PresenceMessage};
use mailpresence_protocol::transport::imap::{Fetched, MailSession, Timeouts};
use mailpresence_protocol::transport::{Endpoint, TlsMode};

use crate::{MailServers, World};

/// A person's mailbox, read over IMAP as their phone would, with the
/// project's own IMAP session type.
#[derive(Debug)]
pub struct Mailbox {
    session: MailSession,
}

impl Mailbox {
    pub async fn open(servers: &MailServers, address: &str) -> Self {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: servers.imap_port,
            tls: TlsMode::None,
            credentials: Some(mailpresence_protocol::transport::Credentials::password(
                address, "secret",
            )),
            ca_file: None,
        };
        let mut session = MailSession::open(&endpoint, Timeouts::default())
            .await
            .expect("IMAP login");
        session.select("INBOX").await.expect("select");
        Self { session }
    }

    /// Every mail in `folder`, oldest first.
    pub async fn all_in(&mut self, folder: &str) -> Vec<Vec<u8>> {
        self.session.select(folder).await.expect("select");
        let uids = self.session.search("ALL").await.expect("search");
        let fetched = self.session.fetch(&uids, usize::MAX).await.expect("fetch");
        fetched
            .into_iter()
            .filter_map(|f| match f {
                Fetched::Mail { raw, .. } => Some(raw),
                Fetched::TooLarge { .. } => None,
            })
            .collect()
    }

    /// Every mail in the inbox, oldest first.
    pub async fn all(&mut self) -> Vec<Vec<u8>> {
        self.all_in("INBOX").await
    }

    /// Waits until at least `n` mails are here; returns them all.
    pub async fn wait_for(&mut self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let mails = self.all().await;
            if mails.len() >= n || Instant::now() > deadline {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Puts a mail straight into this mailbox (no SMTP needed).
    pub async fn append(&mut self, raw: &[u8]) {
        self.session.append("INBOX", raw).await.expect("append");
    }

    /// How many mails `folder` holds (0 when it does not exist).
    pub async fn count_in(&mut self, folder: &str, query: &str) -> usize {
        if self.session.select(folder).await.is_err() {
            // A failed SELECT leaves no mailbox selected; the session is fine.
            return 0;
        }
        self.session.search(query).await.expect("search").len()
    }

    /// Waits up to `timeout` for the inbox to be empty; returns how many
    /// mails are left.
    pub async fn wait_until_empty(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let left = self.count().await;
            if left == 0 || Instant::now() > deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many mails the inbox holds.
    pub async fn count(&mut self) -> usize {
        self.count_in("INBOX", "ALL").await
    }

    /// How many mails are still unread.
    pub async fn count_unseen(&mut self) -> usize {
        self.count_in("INBOX", "UNSEEN").await
    }
}

/// The presence messages among `mails`, as the phone's core reads them.
pub fn presence_messages(mails: &[Vec<u8>]) -> Vec<(mail::Envelope, PresenceMessage)> {
    mails
        .iter()
        .filter_map(|m| {
            let parsed = mail::parse(m, Limits::default());
            match parsed.outcome {
                Outcome::Presence(p) => Some((parsed.envelope, p)),
                _ => None,
            }
        })
        .collect()
}

impl World {
    pub async fn mailbox(&self, address: &str) -> Mailbox {
        Mailbox::open(&self.servers, address).await
    }
}
