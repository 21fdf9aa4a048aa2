//! Reading the presence mailbox: connect, log in, handle every mail not yet
//! marked done, then IDLE (renewed below the server's keepalive) or poll, and
//! reconnect with jittered back-off when the connection drops.
//!
//! A mail is marked done on the IMAP server only after its effects (record,
//! requests, queued Notify mails, and its Message-ID as handled) are committed
//! in one transaction; after a crash it is read again and the Message-ID makes
//! the second reading a no-op.

use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures::TryStreamExt;
use mailpresence_core::mail::{self, Limits};
use mailpresence_core::transport::Backoff;
use mailpresence_core::transport::imap::{self, ConnectError, ImapSession};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::trust::SenderVerifier;
use crate::config::ImapConfig;
use crate::engine::Verdict;
use crate::hub::{Committed, Hub};
use crate::store::{Store, StoreError};

/// The keyword that marks a mail as handled.
pub const DONE_KEYWORD: &str = "$PresenceDone";
/// Mails fetched per round trip.
const FETCH_BATCH: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Runs until `shutdown` turns true.
pub async fn run(
    hub: Arc<Hub>,
    config: ImapConfig,
    verifier: Arc<SenderVerifier>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    let reader = Reader {
        hub: &hub,
        config: &config,
        verifier: &verifier,
    };
    loop {
        match session(&reader, &mut shutdown, &mut backoff).await {
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

/// What handling the mailbox needs.
struct Reader<'a> {
    hub: &'a Hub,
    config: &'a ImapConfig,
    verifier: &'a SenderVerifier,
}

/// One connection's life: returns Ok only on shutdown.
async fn session(
    reader: &Reader<'_>,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<(), IntakeError> {
    let (hub, config) = (reader.hub, reader.config);
    let mut session = connect(config).await?;
    let has_idle = session.capabilities().await?.has_str("IDLE");
    let mailbox = session.select(&config.mailbox).await?;
    let uid_validity = mailbox.uid_validity.unwrap_or(0);
    info!(host = %config.host, mailbox = %config.mailbox, idle = has_idle, "IMAP connected");
    backoff.reset();
    loop {
        handle_new_mail(reader, &mut session, uid_validity).await?;
        note_contact(hub)?;
        if *shutdown.borrow() {
            session.logout().await.ok();
            return Ok(());
        }
        if imap::mail_announced(&session) {
            continue;
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
    Ok(imap::connect(&config.endpoint()).await?)
}

/// Handles every mail not yet marked done, oldest first.
async fn handle_new_mail(
    reader: &Reader<'_>,
    session: &mut ImapSession,
    uid_validity: u32,
) -> Result<(), IntakeError> {
    let config = reader.config;
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
            handle_one(reader, body, &format!("uid:{uid_validity}:{uid}")).await?;
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

/// One mail: its sender checked, then parsed, applied, its Notify mails
/// queued, recorded as handled — all in one transaction.
async fn handle_one(reader: &Reader<'_>, raw: &[u8], fallback_id: &str) -> Result<(), IntakeError> {
    let hub = reader.hub;
    let parsed = mail::parse(raw, Limits::default());
    let id = parsed
        .envelope
        .message_id
        .clone()
        .unwrap_or_else(|| fallback_id.to_owned());
    // Only a presence mail is worth a check (in `dkim` mode, DNS lookups).
    let sender = match parsed.outcome {
        mail::Outcome::Presence(_) => reader.verifier.check(raw, &parsed.envelope).await,
        _ => Err(mail::auth::TrustFailure::NoFrom),
    };
    let committed = hub.step(|engine, tx, now| {
        if tx.mail_handled(&id)? {
            return Ok(None);
        }
        let step = engine.on_mail(tx, &parsed, &sender, now)?;
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
        Verdict::Refused(why) if why.is_repeat() => {
            debug!(message_id = %id, from, "refused: {why}")
        }
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
}
