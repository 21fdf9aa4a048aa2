//! Sending the server's queued Notify mails with the one outbox policy of
//! `mailpresence_protocol::transport::outbox`: the server's store plugs in here, and each
//! round's outcome goes to the log and to the loop's state in `--status`
//! (waiting, and why, while the SMTP server cannot be used; the count of
//! mails refused for good).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mailpresence_protocol::transport::outbox::{Outbox, OutboxStore, Policy, QueuedMail, Round};
use mailpresence_protocol::transport::smtp;
use tokio::sync::watch;
use tracing::{debug, error, warn};

use crate::config::SmtpConfig;
use crate::hub::Hub;
use crate::store::StoreError;
use crate::supervisor::Loops;

/// The supervisor's name for this loop.
pub const LOOP: &str = "outbox";
/// How long a claimed mail is this instance's to send (shared store): if it
/// dies meanwhile, another sends the mail after this (the crash window in
/// which a Notify may go out twice).
const CLAIM_HOLD: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("SMTP setup: {0}")]
    Setup(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The server's outbox table, seen through the policy's trait.
#[derive(Debug, Clone)]
pub struct ServerOutbox(pub Arc<Hub>);

impl OutboxStore for ServerOutbox {
    type Error = StoreError;

    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<QueuedMail>, StoreError> {
        let mut store = self.0.store();
        // Shared with other instances: each mail is claimed by the one that
        // sends it. Alone (SQLite), nothing is claimed, so a restart after a
        // crash sends the unsent at once, as before.
        let mails = if store.is_shared() {
            store.transaction(|tx| tx.claim_due_mails(now, limit, now + CLAIM_HOLD))?
        } else {
            store.transaction(|tx| tx.due_mails(now, limit))?
        };
        Ok(mails
            .into_iter()
            .map(|m| QueuedMail {
                id: m.id,
                sender: m.sender,
                recipient: m.recipient,
                raw: m.raw,
                attempts: m.attempts,
            })
            .collect())
    }

    fn sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.0.store().transaction(|tx| tx.mark_mail_sent(id, now))
    }

    fn retry(&self, id: i64, error: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.0
            .store()
            .transaction(|tx| tx.mark_mail_failed(id, error, at))
    }

    fn undeliverable(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.0
            .store()
            .transaction(|tx| tx.mark_mail_undeliverable(id, error, now))
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.0.store().transaction(|tx| tx.next_mail_due())
    }
}

/// Builds the sender for `config`.
pub fn outbox(hub: Arc<Hub>, config: &SmtpConfig) -> Result<Outbox<ServerOutbox>, OutboxError> {
    let command = Duration::from_secs(config.command_timeout_secs.max(1));
    let transport = smtp::Mailer::new(config.endpoint(), command)
        .map_err(|e| OutboxError::Setup(e.to_string()))?;
    let policy = Policy {
        max_per_second: config.max_per_second,
        max_retry: Duration::from_secs(config.max_retry_secs.max(1)),
        // A hand-over is a handful of commands.
        send_timeout: command * 4,
    };
    let wake = hub.outbox_wake.clone();
    Ok(Outbox::new(ServerOutbox(hub), transport, policy).with_wake(wake))
}

/// Sends until shutdown; a store error ends it (the supervisor restarts it).
pub async fn run(
    outbox: Arc<Outbox<ServerOutbox>>,
    loops: Arc<Loops>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), OutboxError> {
    loops.running(LOOP, None);
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    outbox.run(stop, |round| report(&loops, round)).await?;
    Ok(())
}

fn report(loops: &Loops, round: &Round) {
    if round.sent > 0 {
        debug!(sent = round.sent, "Notify mails handed to SMTP");
    }
    for (id, to, e) in &round.undeliverable {
        error!(id, to = %to, error = %e, "SMTP refused the mail for good");
    }
    match &round.blocked {
        Some(why) => {
            warn!(error = %why, "the SMTP server cannot be used now; the mails wait");
            loops.waiting(LOOP, why.to_string());
        }
        None => loops.running(LOOP, None),
    }
}
