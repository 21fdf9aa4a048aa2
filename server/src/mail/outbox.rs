//! Sending: queued mails go to the SMTP server at a limited rate and stay in
//! the outbox until it accepts them. A temporary failure (server down, 4xx) is
//! retried with growing, jittered waits; a permanent refusal (5xx) is logged
//! and kept for the record. A restart picks up where the last run stopped.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::AsyncTransport;
use lettre::address::Envelope;
use mailpresence_core::transport::smtp::{self, SmtpTransport};
use rand::Rng;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::config::SmtpConfig;
use crate::hub::Hub;
use crate::store::{OutboxMail, Store, StoreError};

/// Mails taken from the store per round.
const BATCH: usize = 50;
/// The longest the outbox sleeps without looking (it is also woken on enqueue).
const IDLE_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("SMTP setup: {0}")]
    Setup(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Runs until `shutdown` turns true.
pub async fn run(
    hub: Arc<Hub>,
    config: SmtpConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), OutboxError> {
    let smtp =
        smtp::transport(&config.endpoint()).map_err(|e| OutboxError::Setup(e.to_string()))?;
    let mut pace = tokio::time::interval(Duration::from_secs_f64(
        1.0 / f64::from(config.max_per_second.max(1)),
    ));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let due = hub
            .store()
            .transaction(|tx| tx.due_mails(Utc::now(), BATCH))?;
        for mail in &due {
            pace.tick().await;
            send_one(&hub, &smtp, mail, config.max_retry_secs).await?;
            if *shutdown.borrow() {
                return Ok(());
            }
        }
        if due.len() == BATCH {
            continue;
        }
        let wait = next_wait(&hub)?;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = hub.outbox_wake.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// How long until the earliest retry is due (at most [`IDLE_WAIT`]).
fn next_wait(hub: &Hub) -> Result<Duration, StoreError> {
    let next = hub.store().transaction(|tx| tx.next_mail_due())?;
    Ok(match next {
        Some(at) => (at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(IDLE_WAIT),
        None => IDLE_WAIT,
    })
}

async fn send_one(
    hub: &Hub,
    smtp: &SmtpTransport,
    mail: &OutboxMail,
    max_retry_secs: u64,
) -> Result<(), StoreError> {
    let envelope = match (mail.sender.parse(), mail.recipient.parse()) {
        (Ok(from), Ok(to)) => Envelope::new(Some(from), vec![to]).map_err(|e| e.to_string()),
        _ => Err(format!(
            "{} or {} is not a mail address",
            mail.sender, mail.recipient
        )),
    };
    let result = match envelope {
        Ok(env) => smtp
            .send_raw(&env, &mail.raw)
            .await
            .map(|_| ())
            .map_err(|e| (e.is_permanent(), e.to_string())),
        Err(e) => Err((true, e)),
    };
    let now = Utc::now();
    match result {
        Ok(()) => {
            hub.store()
                .transaction(|tx| tx.mark_mail_sent(mail.id, now))?;
            debug!(id = mail.id, to = %mail.recipient, "sent");
        }
        Err((true, e)) => {
            hub.store()
                .transaction(|tx| tx.mark_mail_undeliverable(mail.id, &e, now))?;
            error!(id = mail.id, to = %mail.recipient, error = %e, "SMTP refused the mail for good");
        }
        Err((false, e)) => {
            let wait = retry_delay(mail.attempts, max_retry_secs);
            let retry_at =
                now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
            hub.store()
                .transaction(|tx| tx.mark_mail_failed(mail.id, &e, retry_at))?;
            if mail.attempts == 0 {
                warn!(id = mail.id, to = %mail.recipient, error = %e, retry_in_s = wait.as_secs_f32(), "SMTP did not take the mail; kept in the outbox");
            } else {
                info!(id = mail.id, attempts = mail.attempts + 1, error = %e, "still not sent");
            }
        }
    }
    Ok(())
}

/// 1 s, 2 s, 4 s, … up to `max_secs`, each ±25 %.
fn retry_delay(attempts: u32, max_secs: u64) -> Duration {
    let base = 2u64.saturating_pow(attempts.min(20)).min(max_secs.max(1));
    Duration::from_secs(base).mul_f64(rand::rng().random_range(0.75..1.25))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_the_cap() {
        assert!(retry_delay(0, 300) <= Duration::from_millis(1250));
        assert!(retry_delay(3, 300) >= Duration::from_secs(6));
        assert!(retry_delay(30, 5) <= Duration::from_millis(6250));
    }
}
