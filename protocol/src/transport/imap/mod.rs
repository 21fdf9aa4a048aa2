//! One IMAP session type for everyone who reads a mailbox: the server's
//! intake, the phone's inbox reader and the test harness. It logs in over
//! plain TCP, STARTTLS or implicit TLS (async-imap), and offers only what a
//! presence mailbox needs — search, sizes before bodies, flag, move, expunge,
//! IDLE — each under a timeout, so a half-open connection or a frozen server
//! ends in an error the caller's loop reconnects from, never in a hang.
//!
//! After any error the session is in an unknown state (a command may be half
//! answered): drop it and connect again. Connecting and logging in (password
//! or token) is `login.rs`.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use super::Endpoint;
use super::oauth::TokenError;
use super::tls::TlsError;

mod login;

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}

type RawSession = Session<Box<dyn Stream>>;

/// Mails whose sizes are asked for in one round trip.
const SIZE_BATCH: usize = 500;
/// Bodies fetched in one round trip, at most this many bytes together (a
/// single mail up to the caller's limit goes alone).
const BODY_BYTES: usize = 4 * 1024 * 1024;

/// How long the mail server may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, TLS, greeting and login, together.
    pub connect: Duration,
    /// Any one command and its whole answer (a FETCH of a batch included).
    pub command: Duration,
    /// IDLE is renewed after this long: below the server's 30-minute
    /// autologout (RFC 3501 §5.4) and NAT timeouts.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            command: Duration::from_secs(60),
            idle: Duration::from_secs(20 * 60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, std::io::Error),
    #[error("TLS with {0}: {1}")]
    Tls(String, String),
    #[error(transparent)]
    TlsSetup(#[from] TlsError),
    #[error("login as {user} refused: {message}")]
    Login { user: String, message: String },
    /// The server refused the access token (expired, revoked, wrong
    /// audience or scope): the person has to sign in again; retrying the
    /// same token will not help. `server_error` is the provider's JSON
    /// error continuation, when it sent one.
    #[error("the mail server refused the sign-in of {user} ({mechanism}): {message}{}; sign in again", server_error.as_ref().map(|e| format!(" {e}")).unwrap_or_default())]
    TokenRefused {
        user: String,
        mechanism: &'static str,
        message: String,
        server_error: Option<String>,
    },
    /// No token to log in with (the provider refused or did not answer).
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("no user and password for IMAP")]
    NoCredentials,
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("the mail server did not answer {command} within {secs} s")]
    TimedOut { command: &'static str, secs: u64 },
    #[error("IMAP {command}: {source}")]
    Command {
        command: &'static str,
        source: async_imap::error::Error,
    },
}

impl ImapError {
    fn command(command: &'static str) -> impl FnOnce(async_imap::error::Error) -> Self {
        move |source| Self::Command { command, source }
    }

    /// Whether the link to the server failed (timed out, closed, reset), as
    /// opposed to the server answering `NO` or `BAD`: the first is worth
    /// retrying, the second needs a person.
    pub fn is_connection_failure(&self) -> bool {
        use async_imap::error::Error as E;
        match self {
            Self::Connect(
                ConnectError::Unreachable(..) | ConnectError::Token(TokenError::Unreachable(_)),
            )
            | Self::TimedOut { .. } => true,
            Self::Connect(ConnectError::Imap(e)) | Self::Command { source: e, .. } => {
                matches!(e, E::Io(_) | E::ConnectionLost)
            }
            Self::Connect(_) => false,
        }
    }

    /// Whether a person has to sign in again: the server refused the access
    /// token (after one retry with a new one), or the provider refused the
    /// refresh.
    pub fn needs_sign_in(&self) -> bool {
        match self {
            Self::Connect(ConnectError::TokenRefused { .. }) => true,
            Self::Connect(ConnectError::Token(e)) => e.needs_sign_in(),
            _ => false,
        }
    }
}

/// One fetched mail, or why its body was not fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Mail {
        uid: u32,
        raw: Vec<u8>,
        /// When the IMAP server took the mail in (its INTERNALDATE): how
        /// long it waited to be read is the intake's lag.
        arrived: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Larger than the limit: known from its size, never downloaded.
    TooLarge { uid: u32, size: usize },
}

impl Fetched {
    pub fn uid(&self) -> u32 {
        match self {
            Self::Mail { uid, .. } | Self::TooLarge { uid, .. } => *uid,
        }
    }

    /// When the IMAP server took the mail in, if it said.
    pub fn arrived(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Self::Mail { arrived, .. } => *arrived,
            Self::TooLarge { .. } => None,
        }
    }
}

/// Why a wait in [`MailSession::wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The server announced a change of the mailbox.
    MailboxChanged,
    /// The renewal time passed.
    Renew,
    /// The caller's interrupt fired.
    Interrupted,
}

/// A logged-in IMAP session with a mailbox selected (after [`MailSession::select`]).
#[derive(Debug)]
pub struct MailSession {
    session: RawSession,
    timeouts: Timeouts,
    caps: Caps,
    /// New mail was announced (EXISTS, RECENT) since [`Self::mail_announced`]
    /// was last asked, or may have been: see [`Self::note_unsolicited`].
    announced: bool,
}

/// The extensions this session uses when the server has them.
#[derive(Debug, Clone, Copy)]
struct Caps {
    idle: bool,
    /// MOVE (RFC 6851).
    mv: bool,
    /// UID EXPUNGE (RFC 4315).
    uidplus: bool,
    /// OLDER/YOUNGER search keys (RFC 5032).
    within: bool,
}

impl MailSession {
    /// Connects and logs in, all within `timeouts.connect`.
    pub async fn open(endpoint: &Endpoint, timeouts: Timeouts) -> Result<Self, ImapError> {
        let secs = timeouts.connect.as_secs();
        let mut session = tokio::time::timeout(timeouts.connect, login::connect(endpoint))
            .await
            .map_err(|_| ImapError::TimedOut {
                command: "connect and login",
                secs,
            })??;
        let caps = tokio::time::timeout(timeouts.command, session.capabilities())
            .await
            .map_err(|_| ImapError::TimedOut {
                command: "CAPABILITY",
                secs: timeouts.command.as_secs(),
            })?
            .map_err(ImapError::command("CAPABILITY"))?;
        Ok(Self {
            caps: Caps {
                idle: caps.has_str("IDLE"),
                mv: caps.has_str("MOVE"),
                uidplus: caps.has_str("UIDPLUS"),
                within: caps.has_str("WITHIN"),
            },
            session,
            timeouts,
            announced: false,
        })
    }

    pub fn can_idle(&self) -> bool {
        self.caps.idle
    }

    /// Selects `mailbox`; returns its UIDVALIDITY.
    pub async fn select(&mut self, mailbox: &str) -> Result<u32, ImapError> {
        let selected = within(
            self.timeouts.command,
            "SELECT",
            self.session.select(mailbox),
        )
        .await?;
        self.note_unsolicited();
        Ok(selected.uid_validity.unwrap_or(0))
    }

    /// Creates `mailbox` unless it exists.
    pub async fn ensure_mailbox(&mut self, mailbox: &str) -> Result<(), ImapError> {
        let exists = self.list_has(mailbox).await?;
        if !exists {
            debug!(mailbox, "creating the mailbox");
            within(
                self.timeouts.command,
                "CREATE",
                self.session.create(mailbox),
            )
            .await?;
        }
        Ok(())
    }

    /// Whether LIST finds `mailbox`.
    async fn list_has(&mut self, mailbox: &str) -> Result<bool, ImapError> {
        let session = &mut self.session;
        let names = within(self.timeouts.command, "LIST", async {
            session
                .list(Some(""), Some(mailbox))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        Ok(!names.is_empty())
    }

    /// UIDs matching an IMAP search (e.g. `UNKEYWORD $PresenceDone`), oldest first.
    pub async fn search(&mut self, query: &str) -> Result<Vec<u32>, ImapError> {
        let found = within(
            self.timeouts.command,
            "UID SEARCH",
            self.session.uid_search(query),
        )
        .await?;
        self.note_unsolicited();
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// UIDs of mails that arrived more than `age` ago. With the WITHIN
    /// extension (RFC 5032) to the second, otherwise by date (IMAP `BEFORE`
    /// counts whole days, so the age is rounded up to the next midnight).
    pub async fn older_than(&mut self, age: Duration) -> Result<Vec<u32>, ImapError> {
        let query = if self.caps.within {
            format!("OLDER {}", age.as_secs().max(1))
        } else {
            let cutoff = chrono::Utc::now()
                - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::days(1));
            format!("BEFORE {}", cutoff.format("%d-%b-%Y"))
        };
        self.search(&query).await
    }

    /// The mails `uids`: first their sizes, then the bodies of those within
    /// `max_bytes`, a few MiB per round trip. A mail that went away meanwhile
    /// is left out.
    pub async fn fetch(
        &mut self,
        uids: &[u32],
        max_bytes: usize,
    ) -> Result<Vec<Fetched>, ImapError> {
        let mut out = Vec::with_capacity(uids.len());
        for batch in uids.chunks(SIZE_BATCH) {
            let set = uid_set(batch);
            let sizes = self
                .uid_fetch(&set, "(UID RFC822.SIZE INTERNALDATE)")
                .await?;
            let arrived: std::collections::HashMap<u32, chrono::DateTime<chrono::Utc>> = sizes
                .iter()
                .filter_map(|f| Some((f.uid?, f.internal_date()?.with_timezone(&chrono::Utc))))
                .collect();
            let mut group: Vec<u32> = Vec::new();
            let mut group_bytes = 0;
            for f in &sizes {
                let (Some(uid), Some(size)) = (f.uid, f.size) else {
                    continue;
                };
                let size = size as usize;
                if size > max_bytes {
                    out.push(Fetched::TooLarge { uid, size });
                    continue;
                }
                if !group.is_empty() && group_bytes + size > BODY_BYTES {
                    self.fetch_bodies(&group, &arrived, &mut out).await?;
                    group.clear();
                    group_bytes = 0;
                }
                group.push(uid);
                group_bytes += size;
            }
            if !group.is_empty() {
                self.fetch_bodies(&group, &arrived, &mut out).await?;
            }
        }
        out.sort_by_key(Fetched::uid);
        Ok(out)
    }

    async fn fetch_bodies(
        &mut self,
        uids: &[u32],
        arrived: &std::collections::HashMap<u32, chrono::DateTime<chrono::Utc>>,
        out: &mut Vec<Fetched>,
    ) -> Result<(), ImapError> {
        let bodies = self.uid_fetch(&uid_set(uids), "(UID BODY.PEEK[])").await?;
        for f in &bodies {
            if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                out.push(Fetched::Mail {
                    uid,
                    raw: body.to_vec(),
                    arrived: arrived.get(&uid).copied(),
                });
            }
        }
        Ok(())
    }

    /// Stores a mail in `mailbox` (for tests and tools).
    pub async fn append(&mut self, mailbox: &str, raw: &[u8]) -> Result<(), ImapError> {
        within(
            self.timeouts.command,
            "APPEND",
            self.session.append(mailbox, None, None, raw),
        )
        .await
    }

    async fn uid_fetch(
        &mut self,
        set: &str,
        items: &'static str,
    ) -> Result<Vec<async_imap::types::Fetch>, ImapError> {
        let session = &mut self.session;
        let fetched = within(self.timeouts.command, "UID FETCH", async {
            session.uid_fetch(set, items).await?.try_collect().await
        })
        .await?;
        self.note_unsolicited();
        Ok(fetched)
    }

    /// Adds flags or keywords, e.g. `(\Seen $PresenceDone)`.
    pub async fn add_flags(&mut self, uids: &[u32], flags: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        let query = format!("+FLAGS.SILENT {flags}");
        let session = &mut self.session;
        within(self.timeouts.command, "UID STORE", async {
            session
                .uid_store(&set, &query)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        self.note_unsolicited();
        Ok(())
    }

    /// Moves mails to `mailbox` (which must exist): MOVE (RFC 6851) when the
    /// server has it, otherwise COPY, then delete and expunge.
    pub async fn move_to(&mut self, uids: &[u32], mailbox: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        if self.caps.mv {
            within(
                self.timeouts.command,
                "UID MOVE",
                self.session.uid_mv(&set, mailbox),
            )
            .await?;
            self.note_unsolicited();
            return Ok(());
        }
        within(
            self.timeouts.command,
            "UID COPY",
            self.session.uid_copy(&set, mailbox),
        )
        .await?;
        self.delete(uids).await
    }

    /// Deletes mails for good: `\Deleted`, then expunge. With UIDPLUS only
    /// these mails are expunged; without it, every mail marked `\Deleted`.
    pub async fn delete(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        self.add_flags(uids, "(\\Deleted)").await?;
        self.expunge(uids).await
    }

    /// Expunges mails already flagged `\Deleted` (e.g. with other flags in
    /// one `add_flags`, which saves the server a second index write). With
    /// UIDPLUS only these mails; without it, every mail marked `\Deleted`.
    pub async fn expunge(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        if self.caps.uidplus {
            let session = &mut self.session;
            within(self.timeouts.command, "UID EXPUNGE", async {
                session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        } else {
            let session = &mut self.session;
            within(self.timeouts.command, "EXPUNGE", async {
                session.expunge().await?.try_collect::<Vec<_>>().await
            })
            .await?;
        }
        self.note_unsolicited();
        Ok(())
    }

    /// NOOP: brings this session's view of the mailbox up to date (mails
    /// that arrived, flags and expunges of other sessions), and keeps an
    /// otherwise quiet session from the server's autologout.
    pub async fn check(&mut self) -> Result<(), ImapError> {
        within(self.timeouts.command, "NOOP", self.session.noop()).await?;
        self.note_unsolicited();
        Ok(())
    }

    /// Whether the server announced new mail while other commands ran (an
    /// `EXISTS` or `RECENT` among the unsolicited responses, drained here).
    /// Such a mail arrived after the last search and before IDLE: IDLE would
    /// not announce it again, so the caller reads the mailbox once more.
    pub fn mail_announced(&mut self) -> bool {
        self.note_unsolicited();
        std::mem::take(&mut self.announced)
    }

    /// Drains the unsolicited responses, after every command. async-imap
    /// keeps them in a channel of 100 and drops what does not fit, so a
    /// session that is told of many changes it did not make (another
    /// session expunging a thousand mails sends a thousand `EXPUNGE`s) could
    /// lose an `EXISTS` among them: a full channel counts as an announcement
    /// (one more search, where a lost one would leave a mail unread until
    /// the next arrives).
    fn note_unsolicited(&mut self) {
        use async_imap::types::UnsolicitedResponse;
        let responses = &self.session.unsolicited_responses;
        self.announced |= responses.is_full();
        while let Ok(response) = responses.try_recv() {
            self.announced |= matches!(
                response,
                UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
            );
        }
    }

    /// Waits for a change of the selected mailbox: in IDLE (renewed after
    /// `timeouts.idle`, ended with a bounded DONE), or, on a server without
    /// IDLE, by sleeping `poll` (a NOOP then keeps the connection checked).
    /// `interrupt` ends the wait early (new work, shutdown).
    pub async fn wait(
        self,
        poll: Duration,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(Self, Woken), ImapError> {
        if !self.caps.idle {
            return self.poll(poll, interrupt).await;
        }
        let Self {
            session,
            timeouts,
            caps,
            announced,
        } = self;
        let command_secs = timeouts.command.as_secs();
        let timed_out = |command| ImapError::TimedOut {
            command,
            secs: command_secs,
        };
        let mut handle = session.idle();
        tokio::time::timeout(timeouts.command, handle.init())
            .await
            .map_err(|_| timed_out("IDLE"))?
            .map_err(ImapError::command("IDLE"))?;
        let woken = {
            let (wait, _stop) = handle.wait_with_timeout(timeouts.idle);
            tokio::select! {
                response = wait => match response.map_err(ImapError::command("IDLE"))? {
                    IdleResponse::NewData(_) => Woken::MailboxChanged,
                    IdleResponse::Timeout => Woken::Renew,
                    IdleResponse::ManualInterrupt => Woken::Interrupted,
                },
                () = interrupt => Woken::Interrupted,
            }
        };
        let session = tokio::time::timeout(timeouts.command, handle.done())
            .await
            .map_err(|_| timed_out("DONE"))?
            .map_err(ImapError::command("DONE"))?;
        Ok((
            Self {
                session,
                timeouts,
                caps,
                announced,
            },
            woken,
        ))
    }

    async fn poll(
        mut self,
        poll: Duration,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(Self, Woken), ImapError> {
        let woken = tokio::select! {
            () = tokio::time::sleep(poll) => Woken::Renew,
            () = interrupt => Woken::Interrupted,
        };
        self.check().await?;
        Ok((self, woken))
    }

    /// Says goodbye, briefly: a server that does not answer is left as it is.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.session.logout()).await;
    }
}

/// Runs one command's future under `limit`.
async fn within<T>(
    limit: Duration,
    command: &'static str,
    run: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(limit, run).await {
        Ok(result) => result.map_err(ImapError::command(command)),
        Err(_) => Err(ImapError::TimedOut {
            command,
            secs: limit.as_secs(),
        }),
    }
}

/// `1,2,3,7` → `1:3,7`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Credentials, TlsMode};

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }

    #[tokio::test]
    async fn a_server_that_never_greets_times_out() {
        // A listener that accepts (the kernel does, even for a frozen
        // process) but never writes: the greeting never comes.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let _held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accept");
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(socket);
        });
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            credentials: Some(Credentials::password("u", "p")),
            ca_file: None,
        };
        let timeouts = Timeouts {
            connect: Duration::from_millis(300),
            ..Timeouts::default()
        };
        let err = MailSession::open(&endpoint, timeouts)
            .await
            .expect_err("no greeting");
        assert!(
            matches!(
                err,
                ImapError::TimedOut {
                    command: "connect and login",
                    ..
                }
            ),
            "{err}"
        );
    }
}
