//! Reading the presence mailbox: connect, log in, handle every mail not yet
//! handled, then wait in IDLE (or poll) for the next. One connection's life
//! per call of [`run`]; a lost connection is an error the supervisor
//! restarts from, with back-off.
//!
//! A mail's effects (record, requests, queued Notify mails, and its
//! Message-ID as handled) are committed in one durable transaction before
//! the mail is touched on the IMAP server; after a crash it is read again and
//! the Message-ID makes the second reading a no-op. Then it is deleted (or
//! moved to `done_mailbox`, emptied after the location TTL), so the mailbox
//! keeps no trail of where people were.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailpresence_protocol::mail::{self, Limits, ParsedMail};
use mailpresence_protocol::transport::imap::{Fetched, ImapError, MailSession, Woken};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::trust::SenderVerifier;
use crate::config::ImapConfig;
use crate::engine::Verdict;
use crate::hub::{Committed, Hub};
use crate::store::{IntakeLease, PostgresSettings, StoreError};
use crate::supervisor::Loops;

/// The keyword that marks a mail as handled, for the moment between the
/// commit and its deletion (a crash there must not handle it twice).
pub const DONE_KEYWORD: &str = "$PresenceDone";
/// The supervisor's name for this loop.
pub const LOOP: &str = "intake";
/// Mails committed together (one transaction) and marked done together.
const INTAKE_BATCH: usize = 100;
/// Mails marked done that are expunged (or moved) in one command.
const PUT_AWAY_AT_ONCE: usize = 1000;
/// How often the done mailbox is emptied of mails older than the TTL.
const PURGE_EVERY: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The intake lock's session ended or stopped answering: another
    /// instance may hold it now, so this one stops reading.
    #[error("intake lock lost: {0}")]
    LeaseLost(String),
    /// The thread committing a batch panicked or was cancelled: nothing of
    /// the batch is marked done, so it is read again.
    #[error("the commit of a batch stopped: {0}")]
    CommitStopped(String),
}

/// What handling the mailbox needs.
#[derive(Debug, Clone)]
pub struct Intake {
    pub hub: Arc<Hub>,
    pub config: ImapConfig,
    pub verifier: Arc<SenderVerifier>,
    /// How long a location may be kept; handled mails in `done_mailbox` go then.
    pub location_ttl: Duration,
    pub loops: Arc<Loops>,
}

/// How often an instance waiting for the intake lock tries it, and how often
/// the holder checks that its lock session still answers: the takeover after
/// a holder dies is within about this.
const LEASE_TRY_EVERY: Duration = Duration::from_secs(1);

/// With a shared store: [`run`] only while this instance holds the intake
/// lock (see [`IntakeLease`]); waiting for it is shown as the loop's state.
/// Returns Ok only on shutdown; a lost lock is an error, so the supervisor
/// starts over by waiting for the lock again.
pub async fn run_holding_lease(
    lease: PostgresSettings,
    intake: Intake,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), IntakeError> {
    intake.loops.waiting(
        LOOP,
        "another instance takes mail in; waiting for the intake lock".into(),
    );
    let waited = Instant::now();
    let mut held = tokio::select! {
        held = IntakeLease::acquire(&lease, LEASE_TRY_EVERY) => held?,
        _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
    };
    info!(
        waited_ms = waited.elapsed().as_millis() as u64,
        "this instance takes mail in now (intake lock held)"
    );
    tokio::select! {
        done = run(intake, shutdown) => done,
        why = held.lost(LEASE_TRY_EVERY) => Err(IntakeError::LeaseLost(why)),
    }
}

/// One connection's life: returns Ok only on shutdown.
pub async fn run(intake: Intake, mut shutdown: watch::Receiver<bool>) -> Result<(), IntakeError> {
    let config = &intake.config;
    let mut session = MailSession::open(&config.endpoint(), config.timeouts()).await?;
    if let Some(done) = &config.done_mailbox {
        session.ensure_mailbox(done).await?;
    }
    let uid_validity = session.select(&config.mailbox).await?;
    info!(host = %config.host, mailbox = %config.mailbox, idle = session.can_idle(), "IMAP connected");
    intake.loops.running(
        LOOP,
        Some(format!(
            "{}:{} {}",
            config.host, config.port, config.mailbox
        )),
    );
    let mut last_purge: Option<Instant> = None;
    loop {
        // First, so that the search below sees every mail that arrived while
        // another mailbox was selected (the new SELECT announces none).
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            purge_done_mailbox(&intake, &mut session).await?;
            last_purge = Some(Instant::now());
        }
        handle_new_mail(&intake, &mut session, uid_validity).await?;
        note_contact(&intake.hub)?;
        if *shutdown.borrow() {
            session.logout().await;
            return Ok(());
        }
        if session.mail_announced() {
            continue;
        }
        let poll = Duration::from_secs(config.poll_interval_secs);
        let stop = async {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        let (next, woken) = session.wait(poll, stop).await?;
        session = next;
        debug!(?woken, "mailbox wait ended");
        if woken == Woken::Interrupted && *shutdown.borrow() {
            session.logout().await;
            return Ok(());
        }
    }
}

/// Handles every mail not yet marked done, oldest first: a fetched batch is
/// checked, then committed in one transaction (one fsync), then deleted.
async fn handle_new_mail(
    intake: &Intake,
    session: &mut MailSession,
    uid_validity: u32,
) -> Result<(), IntakeError> {
    let limits = Limits::default();
    // Handled before a crash or a lost connection, but not yet deleted.
    let leftovers = session
        .search(&format!("OR DELETED KEYWORD {DONE_KEYWORD}"))
        .await?;
    mark_done(intake, session, &leftovers).await?;
    put_away(intake, session, &leftovers).await?;
    let uids = session
        .search(&format!("UNDELETED UNKEYWORD {DONE_KEYWORD}"))
        .await?;
    // One transaction (one fsync) and one store of the done flags per batch;
    // at most a batch of mails (each at most 1 MiB) is held in memory at
    // once. The mails marked done are put away a thousand at a time.
    let mut marked = Vec::new();
    let mut batches = uids.chunks(INTAKE_BATCH);
    let mut fetched = match batches.next() {
        Some(batch) => session.fetch(batch, limits.max_mail_bytes).await?,
        None => Vec::new(),
    };
    while !fetched.is_empty() {
        // Side by side: one mail whose DKIM lookup is slow holds up no other.
        let read = futures::future::join_all(
            fetched
                .iter()
                .map(|mail| read_one(intake, mail, uid_validity, limits)),
        )
        .await;
        // The commit (its fsync, on a blocking thread) and the next batch's
        // FETCH overlap: one after the other, the intake mostly waited on
        // one or the other (profile in BENCHMARKS.md, "mail intake").
        let committing = tokio::task::spawn_blocking({
            let intake = intake.clone();
            move || commit(&intake, &read)
        });
        let next = match batches.next() {
            Some(batch) => session.fetch(batch, limits.max_mail_bytes).await,
            None => Ok(Vec::new()),
        };
        committing
            .await
            .map_err(|e| IntakeError::CommitStopped(e.to_string()))??;
        let now = chrono::Utc::now();
        for arrived in fetched.iter().filter_map(Fetched::arrived) {
            intake.hub.metrics.mail_waited(now - arrived);
        }
        // Marked done before a failed FETCH is reported: these are committed.
        let done: Vec<u32> = fetched.iter().map(Fetched::uid).collect();
        mark_done(intake, session, &done).await?;
        marked.extend(done);
        if marked.len() >= PUT_AWAY_AT_ONCE {
            put_away(intake, session, &std::mem::take(&mut marked)).await?;
        }
        fetched = next?;
    }
    put_away(intake, session, &marked).await
}

/// One mail read and its sender checked, ready for the engine.
struct Read {
    id: String,
    parsed: ParsedMail,
    sender: Result<mail::auth::Proof, mail::auth::TrustFailure>,
}

async fn read_one(intake: &Intake, mail: &Fetched, uid_validity: u32, limits: Limits) -> Read {
    let fallback_id = format!("uid:{uid_validity}:{}", mail.uid());
    let (parsed, sender) = match mail {
        Fetched::Mail { raw, .. } => {
            let parsed = mail::parse(raw, limits);
            // Only a presence mail is worth a check (in `dkim` mode, DNS lookups).
            let sender = match parsed.outcome {
                mail::Outcome::Presence(_) => intake.verifier.check(raw, &parsed.envelope).await,
                _ => Err(mail::auth::TrustFailure::NoFrom),
            };
            (parsed, sender)
        }
        Fetched::TooLarge { size, .. } => (
            mail::parse::oversized(*size, limits),
            Err(mail::auth::TrustFailure::NoFrom),
        ),
    };
    // A Message-ID is the sender's word: only a proven sender's marks the
    // mail handled for good. Were a forger's kept, he could send a
    // colleague's next Message-ID first and have the real mail dropped as a
    // repeat; a refused mail is remembered by its place in the mailbox.
    let id = match (&sender, &parsed.envelope.message_id) {
        (Ok(_), Some(message_id)) => message_id.clone(),
        _ => fallback_id,
    };
    Read { id, parsed, sender }
}

/// Applies the mails in one transaction: each its own step (a failing one
/// is undone alone), its Notify mails queued, its Message-ID recorded.
fn commit(intake: &Intake, read: &[Read]) -> Result<(), IntakeError> {
    let outcomes = intake.hub.steps(|batch| {
        read.iter()
            .map(|r| {
                batch.step(|engine, tx, now| {
                    if tx.mail_handled(&r.id)? {
                        return Ok(None);
                    }
                    let step = engine.on_mail(tx, &r.parsed, &r.sender, now)?;
                    tx.mark_mail_handled(&r.id, &step.verdict.to_string(), now)?;
                    Ok(Some(step))
                })
            })
            .collect::<Vec<_>>()
    })?;
    for (r, outcome) in read.iter().zip(outcomes) {
        let outcome = outcome?;
        if let Some(committed) = &outcome {
            intake.hub.metrics.mail_handled(&committed.step.verdict);
        }
        log_outcome(r, outcome);
    }
    Ok(())
}

fn log_outcome(r: &Read, committed: Option<Committed>) {
    let id = &r.id;
    let Some(Committed {
        step,
        queued_mails: queued,
    }) = committed
    else {
        debug!(message_id = %id, "already handled");
        return;
    };
    let from = r.parsed.envelope.from.as_deref().unwrap_or("-");
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
}

/// Only now, with every effect of these mails committed, are they marked
/// done (and, without a done mailbox, deleted: in one store, one index
/// write for Dovecot). A crash before they are put away leaves them found
/// as leftovers.
async fn mark_done(
    intake: &Intake,
    session: &mut MailSession,
    done: &[u32],
) -> Result<(), IntakeError> {
    let flags = match &intake.config.done_mailbox {
        Some(_) => format!("(\\Seen {DONE_KEYWORD})"),
        None => format!("(\\Seen {DONE_KEYWORD} \\Deleted)"),
    };
    session.add_flags(done, &flags).await?;
    Ok(())
}

/// Mails marked done are expunged, or moved to the done mailbox. Many at a
/// time: under a burst, an expunge per batch of a hundred cost Dovecot
/// more than reading the mails (profile in BENCHMARKS.md, "mail intake").
async fn put_away(
    intake: &Intake,
    session: &mut MailSession,
    done: &[u32],
) -> Result<(), IntakeError> {
    match &intake.config.done_mailbox {
        Some(folder) => session.move_to(done, folder).await?,
        None => session.expunge(done).await?,
    }
    Ok(())
}

/// Deletes the mails in `done_mailbox` older than the location TTL, then
/// selects the presence mailbox again.
async fn purge_done_mailbox(intake: &Intake, session: &mut MailSession) -> Result<(), IntakeError> {
    let Some(done) = &intake.config.done_mailbox else {
        return Ok(());
    };
    session.select(done).await?;
    let old = session.older_than(intake.location_ttl).await?;
    session.delete(&old).await?;
    if !old.is_empty() {
        info!(mailbox = %done, mails = old.len(), "handled mails past the location TTL deleted");
    }
    session.select(&intake.config.mailbox).await?;
    Ok(())
}

fn note_contact(hub: &Hub) -> Result<(), StoreError> {
    let now = chrono::Utc::now().to_rfc3339();
    hub.store()
        .transaction(|tx| tx.set_meta("last_imap_contact", &now))
}
