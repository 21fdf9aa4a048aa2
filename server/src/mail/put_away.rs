//! The intake's second IMAP session: it marks committed mails done and
//! deletes them (or moves them to `done_mailbox`), so that the reading
//! session's next FETCH never waits behind a STORE or an EXPUNGE (profile
//! in BENCHMARKS.md, "mail intake": one session was a chain of waits, and
//! Dovecot runs one process per session).
//!
//! Safety is the reading side's: it hands over only UIDs whose effects are
//! committed. A crash before they are marked leaves them unmarked (read
//! again, a no-op by their Message-ID); after, marked but not put away
//! (found as leftovers). Jobs go in order through a small bounded channel,
//! so the reader waits when this session lags; every command here has the
//! session's timeout, so that wait is bounded too. An error ends the task;
//! the reader sees the channel closed and ends its run with this error.

use std::time::Duration;

use mailpresence_protocol::transport::imap::MailSession;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::debug;

use super::intake::{DONE_KEYWORD, IntakeError};
use crate::config::ImapConfig;

/// Mails marked done that are expunged (or moved) in one command: Dovecot
/// rewrites its index per expunge, so a thousand at a time.
const PUT_AWAY_AT_ONCE: usize = 1000;
/// Jobs waiting for this session: a batch's UIDs each, a few bytes apiece.
const QUEUED_JOBS: usize = 4;
/// A quiet session says NOOP this often, well within the server's 30-minute
/// autologout (RFC 3501 §5.4), while the reading session waits in IDLE.
const KEEP_ALIVE: Duration = Duration::from_secs(5 * 60);

enum Job {
    /// Bring the session's view up to date: a UID the view has not yet seen
    /// would be skipped by STORE (RFC 3501: a UID set names only the
    /// mails the session knows).
    Sync,
    /// These mails are committed: mark them done.
    Committed(Vec<u32>),
    /// Put away every mail marked done, then answer.
    Flush(oneshot::Sender<()>),
}

/// The reading side's handle on the put-away session.
pub struct PutAway {
    jobs: mpsc::Sender<Job>,
}

impl PutAway {
    /// Opens the second session on the mailbox the reader selected (its
    /// UIDVALIDITY must match: the UIDs handed over are the reader's) and
    /// starts its task.
    pub async fn start(
        config: &ImapConfig,
        uid_validity: u32,
    ) -> Result<(Self, JoinHandle<Result<(), IntakeError>>), IntakeError> {
        let mut session = MailSession::open(&config.endpoint(), config.timeouts()).await?;
        let seen = session.select(&config.mailbox).await?;
        if seen != uid_validity {
            return Err(IntakeError::MailboxChanged {
                mailbox: config.mailbox.clone(),
            });
        }
        let (jobs, queue) = mpsc::channel(QUEUED_JOBS);
        let worker = tokio::spawn(work(session, config.done_mailbox.clone(), queue));
        Ok((Self { jobs }, worker))
    }

    /// Makes the session see every mail the reader has found so far: call
    /// after the reader's search, before handing over what it found.
    pub async fn sync(&self) -> Result<(), IntakeError> {
        self.send(Job::Sync).await
    }

    /// Hands over mails whose effects are committed.
    pub async fn committed(&self, uids: Vec<u32>) -> Result<(), IntakeError> {
        if uids.is_empty() {
            return Ok(());
        }
        self.send(Job::Committed(uids)).await
    }

    /// Waits until every mail handed over is marked and put away.
    pub async fn flush(&self) -> Result<(), IntakeError> {
        let (done, answered) = oneshot::channel();
        self.send(Job::Flush(done)).await?;
        answered.await.map_err(|_| IntakeError::PutAwayStopped)
    }

    async fn send(&self, job: Job) -> Result<(), IntakeError> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| IntakeError::PutAwayStopped)
    }
}

/// The task: marks and puts away in the order the jobs come. Returns Ok
/// when the reader drops its handle (after logging out), an error otherwise.
async fn work(
    mut session: MailSession,
    done_mailbox: Option<String>,
    mut queue: mpsc::Receiver<Job>,
) -> Result<(), IntakeError> {
    let flags = match &done_mailbox {
        // Seen too: a person looking at the done mailbox sees them read.
        Some(_) => format!("(\\Seen {DONE_KEYWORD})"),
        // Deleted in the same store: one index write for Dovecot.
        None => format!("(\\Seen {DONE_KEYWORD} \\Deleted)"),
    };
    let mut marked: Vec<u32> = Vec::new();
    loop {
        let job = tokio::select! {
            job = queue.recv() => job,
            () = tokio::time::sleep(KEEP_ALIVE) => {
                session.check().await?;
                continue;
            }
        };
        match job {
            Some(Job::Sync) => session.check().await?,
            Some(Job::Committed(uids)) => {
                session.add_flags(&uids, &flags).await?;
                marked.extend(uids);
                if marked.len() >= PUT_AWAY_AT_ONCE {
                    put_away(&mut session, done_mailbox.as_deref(), &mut marked).await?;
                }
            }
            Some(Job::Flush(answer)) => {
                put_away(&mut session, done_mailbox.as_deref(), &mut marked).await?;
                let _ = answer.send(());
            }
            None => {
                put_away(&mut session, done_mailbox.as_deref(), &mut marked).await?;
                session.logout().await;
                return Ok(());
            }
        }
    }
}

/// Expunges the marked mails, or moves them to the done mailbox.
async fn put_away(
    session: &mut MailSession,
    done_mailbox: Option<&str>,
    marked: &mut Vec<u32>,
) -> Result<(), IntakeError> {
    if marked.is_empty() {
        return Ok(());
    }
    match done_mailbox {
        Some(folder) => session.move_to(marked, folder).await?,
        None => session.expunge(marked).await?,
    }
    debug!(mails = marked.len(), "handled mails put away");
    marked.clear();
    Ok(())
}
