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
//! keeps no trail of where people were: by a second session, `put_away.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailpresence_protocol::mail::{self, Limits, ParsedMail};
use mailpresence_protocol::transport::imap::{Fetched, ImapError, MailSession, Woken};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::put_away::PutAway;
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
    /// The second session, which marks and puts away handled mails, ended
    /// (its own error, when known, is reported instead).
    #[error("the IMAP session putting handled mails away ended")]
    PutAwayStopped,
    #[error("the IMAP session putting handled mails away stopped: {0}")]
    PutAwayFailed(String),
    /// The two sessions saw different UIDVALIDITY: the mailbox was made anew
    /// between their SELECTs, and UIDs of one would name other mails in the
    /// other.
    #[error("the mailbox {mailbox} changed (UIDVALIDITY) while connecting")]
    MailboxChanged { mailbox: String },
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

/// One connection's life: returns Ok only on shutdown. Two sessions: this
/// task reads (SEARCH, FETCH, IDLE), a second one marks committed mails done
/// and puts them away ([`PutAway`]); an error of either ends the run.
pub async fn run(intake: Intake, shutdown: watch::Receiver<bool>) -> Result<(), IntakeError> {
    let config = &intake.config;
    let mut session = MailSession::open(&config.endpoint(), config.timeouts()).await?;
    if let Some(done) = &config.done_mailbox {
        session.ensure_mailbox(done).await?;
    }
    let uid_validity = session.select(&config.mailbox).await?;
    let (put_away, mut worker) = PutAway::start(config, uid_validity).await?;
    let _stop_worker = AbortOnDrop(worker.abort_handle());
    info!(host = %config.host, mailbox = %config.mailbox, idle = session.can_idle(), "IMAP connected");
    intake.loops.running(
        LOOP,
        Some(format!(
            "{}:{} {}",
            config.host, config.port, config.mailbox
        )),
    );
    let reading = read_mailbox(&intake, session, put_away, uid_validity, shutdown);
    let (read, ended) = tokio::select! {
        read = reading => (Some(read), None),
        ended = &mut worker => (None, Some(ended)),
    };
    // The reader's handle on the put-away session is gone with `reading`:
    // on shutdown it finishes its work and logs out.
    let limit = config.timeouts().command * 2;
    let worker_error =
        |ended: Option<Result<Result<(), IntakeError>, tokio::task::JoinError>>| match ended {
            Some(Ok(Err(e))) => e,
            Some(Err(e)) => IntakeError::PutAwayFailed(e.to_string()),
            Some(Ok(Ok(()))) | None => IntakeError::PutAwayStopped,
        };
    match (read, ended) {
        (Some(Ok(())), _) => {
            // Each round ends with everything put away: on shutdown only
            // the logout is left, and a failure there loses nothing.
            if let Ok(Ok(Err(e))) = tokio::time::timeout(limit, worker).await {
                warn!(%e, "the put-away session ended badly at shutdown");
            }
            Ok(())
        }
        (Some(Err(IntakeError::PutAwayStopped)), _) => {
            Err(worker_error(tokio::time::timeout(limit, worker).await.ok()))
        }
        (Some(Err(e)), _) => Err(e),
        (None, ended) => Err(worker_error(ended)),
    }
}

/// Aborts the put-away task when the run ends another way than shutdown (a
/// lost intake lock drops the run): nothing is left working on a mailbox
/// this run no longer reads.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The reading session's loop: handle what is there, then wait for more.
async fn read_mailbox(
    intake: &Intake,
    mut session: MailSession,
    put_away: PutAway,
    uid_validity: u32,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), IntakeError> {
    let config = &intake.config;
    let mut last_purge: Option<Instant> = None;
    loop {
        // First, so that the search below sees every mail that arrived while
        // another mailbox was selected (the new SELECT announces none).
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            purge_done_mailbox(intake, &mut session).await?;
            last_purge = Some(Instant::now());
        }
        handle_new_mail(intake, &mut session, &put_away, uid_validity).await?;
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
/// checked, then committed in one transaction (one fsync), then handed to
/// the put-away session. While a batch commits, the next is fetched and
/// checked; the reading session never waits for a STORE or an EXPUNGE.
async fn handle_new_mail(
    intake: &Intake,
    session: &mut MailSession,
    put_away: &PutAway,
    uid_validity: u32,
) -> Result<(), IntakeError> {
    let limits = Limits::default();
    // Handled before a crash or a lost connection, but not yet deleted.
    let leftovers = session
        .search(&format!("OR DELETED KEYWORD {DONE_KEYWORD}"))
        .await?;
    let uids = session
        .search(&format!("UNDELETED UNKEYWORD {DONE_KEYWORD}"))
        .await?;
    if leftovers.is_empty() && uids.is_empty() {
        return Ok(());
    }
    put_away.sync().await?;
    put_away.committed(leftovers).await?;
    // One transaction (one fsync) per batch; at most two batches of mails
    // (each mail at most 1 MiB) are held at once: one committing, the next
    // being fetched and checked.
    let mut batches = uids.chunks(INTAKE_BATCH);
    let mut ready = match batches.next() {
        Some(batch) => fetch_and_read(intake, session, batch, uid_validity, limits).await?,
        None => Batch::default(),
    };
    while !ready.read.is_empty() {
        let Batch {
            uids: done,
            arrived,
            read,
        } = ready;
        // The commit (its fsync, on a blocking thread) and the next batch's
        // FETCH and checks overlap: one after the other, the intake mostly
        // waited on one or the other (profile in BENCHMARKS.md, "mail intake").
        let committing = tokio::task::spawn_blocking({
            let intake = intake.clone();
            move || commit(&intake, &read)
        });
        let next = match batches.next() {
            Some(batch) => fetch_and_read(intake, session, batch, uid_validity, limits).await,
            None => Ok(Batch::default()),
        };
        committing
            .await
            .map_err(|e| IntakeError::CommitStopped(e.to_string()))??;
        let now = chrono::Utc::now();
        for arrived in arrived {
            intake.hub.metrics.mail_waited(now - arrived);
        }
        // Handed over before a failed FETCH is reported: these are committed.
        put_away.committed(done).await?;
        ready = next?;
    }
    put_away.flush().await?;
    // The put-away session's expunges reach this one as unsolicited
    // EXPUNGEs at its next command: taken now (with any EXISTS among them,
    // see `mail_announced`), so that IDLE starts quiet instead of waking at
    // once for them.
    session.check().await?;
    Ok(())
}

/// A fetched batch, read and checked.
#[derive(Default)]
struct Batch {
    uids: Vec<u32>,
    /// When the IMAP server took each mail in, for the intake's lag.
    arrived: Vec<chrono::DateTime<chrono::Utc>>,
    read: Vec<Read>,
}

async fn fetch_and_read(
    intake: &Intake,
    session: &mut MailSession,
    batch: &[u32],
    uid_validity: u32,
    limits: Limits,
) -> Result<Batch, IntakeError> {
    let fetched = session.fetch(batch, limits.max_mail_bytes).await?;
    // Side by side: one mail whose DKIM lookup is slow holds up no other.
    let read = futures::future::join_all(
        fetched
            .iter()
            .map(|mail| read_one(intake, mail, uid_validity, limits)),
    )
    .await;
    Ok(Batch {
        uids: fetched.iter().map(Fetched::uid).collect(),
        arrived: fetched.iter().filter_map(Fetched::arrived).collect(),
        read,
    })
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
