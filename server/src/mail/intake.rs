//! Reading the presence mailbox: connect, log in, handle every mail not yet
//! marked done, then IDLE (renewed below the server's keepalive) or poll, and
//! reconnect with jittered back-off when the connection drops.
//!
//! A mail is marked done on the IMAP server only after its effects (record,
//! requests, queued Notify mails, and its Message-ID as handled) are committed
//! in one transaction; after a crash it is read again and the Message-ID makes
//! the second reading a no-op.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use futures::TryStreamExt;
use mailpresence_core::mail::{self, Limits};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::tls;
use crate::config::{ImapConfig, TlsMode};
use crate::engine::Verdict;
use crate::hub::{Committed, Hub};
use crate::store::{Store, StoreError};

/// The keyword that marks a mail as handled.
pub const DONE_KEYWORD: &str = "$PresenceDone";
/// Mails fetched per round trip.
const FETCH_BATCH: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("cannot reach {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS with {0}: {1}")]
    Tls(String, String),
    #[error("login as {user} refused: {message}")]
    Login { user: String, message: String },
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    TlsSetup(#[from] tls::TlsError),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}
type ImapSession = Session<Box<dyn Stream>>;

/// Exponential back-off with jitter, so that many servers (or many restarts)
/// do not reconnect in step.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            next: min,
            min,
            max,
        }
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The wait before the next try: the current step ±25 %, then double it.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = rand::rng().random_range(0.75..1.25);
        base.mul_f64(jitter)
    }
}

/// Runs until `shutdown` turns true.
pub async fn run(hub: Arc<Hub>, config: ImapConfig, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    loop {
        match session(&hub, &config, &mut shutdown, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "IMAP connection lost");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

/// One connection's life: returns Ok only on shutdown.
async fn session(
    hub: &Hub,
    config: &ImapConfig,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<(), IntakeError> {
    let mut session = connect(config).await?;
    let has_idle = session.capabilities().await?.has_str("IDLE");
    let mailbox = session.select(&config.mailbox).await?;
    let uid_validity = mailbox.uid_validity.unwrap_or(0);
    info!(host = %config.host, mailbox = %config.mailbox, idle = has_idle, "IMAP connected");
    backoff.reset();
    loop {
        handle_new_mail(hub, config, &mut session, uid_validity).await?;
        note_contact(hub)?;
        if *shutdown.borrow() {
            session.logout().await.ok();
            return Ok(());
        }
        if has_idle {
            session = idle(session, config, shutdown).await?;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(config.poll_interval_secs)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Waits in IDLE until the mailbox changes, the timeout passes, or shutdown.
async fn idle(
    session: ImapSession,
    config: &ImapConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<ImapSession, IntakeError> {
    let mut handle = session.idle();
    handle.init().await?;
    {
        let (wait, _interrupt) =
            handle.wait_with_timeout(Duration::from_secs(config.idle_timeout_secs));
        tokio::select! {
            response = wait => match response? {
                IdleResponse::NewData(_) => debug!("IDLE: mailbox changed"),
                IdleResponse::Timeout => debug!("IDLE: renewing"),
                IdleResponse::ManualInterrupt => {}
            },
            _ = shutdown.changed() => {}
        }
    }
    Ok(handle.done().await?)
}

async fn connect(config: &ImapConfig) -> Result<ImapSession, IntakeError> {
    let addr = format!("{}:{}", config.host, config.port);
    let tcp = tokio::time::timeout(Duration::from_secs(20), TcpStream::connect(&addr))
        .await
        .map_err(|_| IntakeError::Connect(addr.clone(), std::io::ErrorKind::TimedOut.into()))?
        .map_err(|e| IntakeError::Connect(addr.clone(), e))?;
    tcp.set_nodelay(true).ok();
    let stream: Box<dyn Stream> = match config.tls {
        TlsMode::None => Box::new(tcp),
        TlsMode::Implicit => Box::new(wrap_tls(config, tcp).await?),
        TlsMode::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            client
                .read_response()
                .await
                .map_err(|e| IntakeError::Connect(addr.clone(), e))?;
            client.run_command_and_check_ok("STARTTLS", None).await?;
            Box::new(wrap_tls(config, client.into_inner()).await?)
        }
    };
    let mut client = async_imap::Client::new(stream);
    if config.tls != TlsMode::Starttls {
        client
            .read_response()
            .await
            .map_err(|e| IntakeError::Connect(addr.clone(), e))?;
    }
    client
        .login(&config.user, &config.password)
        .await
        .map_err(|(e, _)| IntakeError::Login {
            user: config.user.clone(),
            message: e.to_string(),
        })
}

async fn wrap_tls(
    config: &ImapConfig,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, IntakeError> {
    let tls_config = tls::client_config(config.ca_file.as_deref())?;
    let name = rustls_pki_types::ServerName::try_from(config.host.clone())
        .map_err(|e| IntakeError::Tls(config.host.clone(), e.to_string()))?;
    tokio_rustls::TlsConnector::from(tls_config)
        .connect(name, tcp)
        .await
        .map_err(|e| IntakeError::Tls(config.host.clone(), e.to_string()))
}

/// Handles every mail not yet marked done, oldest first.
async fn handle_new_mail(
    hub: &Hub,
    config: &ImapConfig,
    session: &mut ImapSession,
    uid_validity: u32,
) -> Result<(), IntakeError> {
    let mut uids: Vec<u32> = session
        .uid_search(format!("UNKEYWORD {DONE_KEYWORD}"))
        .await?
        .into_iter()
        .collect();
    uids.sort_unstable();
    for batch in uids.chunks(FETCH_BATCH) {
        let set = uid_set(batch);
        let fetched: Vec<_> = session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await?
            .try_collect()
            .await?;
        let mut done = Vec::with_capacity(fetched.len());
        for fetch in &fetched {
            let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                continue;
            };
            handle_one(hub, body, &format!("uid:{uid_validity}:{uid}"))?;
            done.push(uid);
        }
        if done.is_empty() {
            continue;
        }
        // Only now, with every effect committed, is the mail marked done.
        let done_set = uid_set(&done);
        let _: Vec<_> = session
            .uid_store(&done_set, format!("+FLAGS.SILENT (\\Seen {DONE_KEYWORD})"))
            .await?
            .try_collect()
            .await?;
        if let Some(folder) = &config.done_mailbox {
            session.uid_mv(&done_set, folder).await?;
        }
    }
    Ok(())
}

/// One mail: parsed, applied, its Notify mails queued, recorded as handled —
/// all in one transaction.
fn handle_one(hub: &Hub, raw: &[u8], fallback_id: &str) -> Result<(), IntakeError> {
    let parsed = mail::parse(raw, Limits::default());
    let id = parsed
        .envelope
        .message_id
        .clone()
        .unwrap_or_else(|| fallback_id.to_owned());
    let committed = hub.step(|engine, tx, now| {
        if tx.mail_handled(&id)? {
            return Ok(None);
        }
        let step = engine.on_mail(tx, &parsed, now)?;
        tx.mark_mail_handled(&id, &step.verdict.to_string(), now)?;
        Ok(Some(step))
    })?;
    let Some(Committed {
        step,
        queued_mails: queued,
    }) = committed
    else {
        debug!(message_id = %id, "already handled");
        return Ok(());
    };
    let from = parsed.envelope.from.as_deref().unwrap_or("-");
    match &step.verdict {
        Verdict::Applied(what) => info!(message_id = %id, from, queued, "{what}"),
        Verdict::Ignored(why) => info!(message_id = %id, from, "ignored: {why}"),
        Verdict::Refused(why) => warn!(message_id = %id, from, "refused: {why}"),
    }
    for refusal in &step.partial_refusals {
        warn!(message_id = %id, from, "refused in part: {refusal}");
    }
    Ok(())
}

fn note_contact(hub: &Hub) -> Result<(), StoreError> {
    let now = chrono::Utc::now().to_rfc3339();
    hub.store()
        .transaction(|tx| tx.set_meta("last_imap_contact", &now))
}

/// `1,2,3,7` → `1:3,7`.
fn uid_set(uids: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
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

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
    }

    #[test]
    fn backoff_grows_with_jitter_up_to_its_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let d: Vec<f64> = (0..6).map(|_| b.next_delay().as_secs_f64()).collect();
        assert!((0.75..1.25).contains(&d[0]), "{d:?}");
        assert!((1.5..2.5).contains(&d[1]), "{d:?}");
        assert!(d[5] <= 10.0 && d[5] >= 6.0, "{d:?}");
        b.reset();
        assert!(b.next_delay() < Duration::from_secs(2));
    }
}
