//! One outbox policy for the phone and the server: queued mails are handed to
//! SMTP one sender at a time, at a limited pace; what fails for a while (no
//! connection, 4xx, a refused login) is retried with the one back-off of
//! [`super::backoff`]; what the server refuses for good (5xx on the mail
//! itself) ends and is reported. A wake-up is never lost: it is stored until
//! the sender next waits.
//!
//! The stores differ (the phone's and the server's), so they plug in through
//! [`OutboxStore`]; the loop, the classification and the waits live here only.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::address::Envelope;
use tokio::sync::{Mutex, Notify};

use super::backoff;
use super::smtp::Mailer;

/// Mails taken from the store per round.
const BATCH: usize = 50;
/// The longest the sender sleeps without looking (it is also woken on enqueue).
const IDLE_WAIT: Duration = Duration::from_secs(30);

/// A mail waiting in an outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: i64,
    pub sender: String,
    pub recipient: String,
    pub raw: Vec<u8>,
    /// Tries so far.
    pub attempts: u32,
}

/// What an outbox is kept in.
pub trait OutboxStore: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;
    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<QueuedMail>, Self::Error>;
    fn sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), Self::Error>;
    fn retry(&self, id: i64, error: &str, at: DateTime<Utc>) -> Result<(), Self::Error>;
    /// Refused for good: never tried again.
    fn undeliverable(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<(), Self::Error>;
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, Self::Error>;
}

/// Why a mail did not go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// The server could not be used now (unreachable, TLS, timeout, 4xx).
    #[error("{0}")]
    Transient(String),
    /// The server refused the login (530, 534, 535, 538): nothing is wrong
    /// with the mail; it waits until logins work.
    #[error("login refused: {0}")]
    Login(String),
    /// The provider refused the refresh token (or the mail server a fresh
    /// access token): the mails wait until the person signs in again.
    #[error("{0}")]
    SignInAgain(String),
    /// TLS with the server failed before any reply (most often a
    /// certificate the phone does not trust); waits like `Transient`.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server refused this mail for good (another 5xx).
    #[error("{0}")]
    Permanent(String),
}

impl SendFailure {
    /// Classified from the SMTP reply code, never from the message text.
    pub fn from_smtp(e: &lettre::transport::smtp::Error) -> Self {
        if e.is_tls() {
            return Self::Tls(e.to_string());
        }
        Self::from_reply(e.status().map(u16::from), e.to_string())
    }

    /// `code` is the server's reply code, `None` when there was no reply
    /// (connection, TLS or timeout).
    pub fn from_reply(code: Option<u16>, text: String) -> Self {
        match code {
            // RFC 4954 §6: authentication required, too weak, failed,
            // or needs an encrypted link.
            Some(530 | 534 | 535 | 538) => Self::Login(text),
            Some(500..=599) => Self::Permanent(text),
            _ => Self::Transient(text),
        }
    }

    /// Whether the connection itself failed (then the rest of the round waits).
    fn blocks_the_round(&self) -> bool {
        !matches!(self, Self::Permanent(_))
    }
}

/// What one round of sending did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    /// Mails refused for good in this round: (id, recipient, error).
    pub undeliverable: Vec<(i64, String, String)>,
    /// Why the round stopped early, if it did; the mails wait.
    pub blocked: Option<SendFailure>,
}

/// Pace and retry limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// At most this many mails per second.
    pub max_per_second: u32,
    /// The longest wait between two tries of one mail.
    pub max_retry: Duration,
    /// One whole hand-over: connect, greeting, TLS, login, envelope, data.
    /// lettre bounds the connect but not every read of the async transport,
    /// so a server that accepts and never answers is bounded here.
    pub send_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_per_second: 10,
            max_retry: Duration::from_secs(300),
            send_timeout: Duration::from_secs(120),
        }
    }
}

/// The sender of one outbox.
#[derive(Debug)]
pub struct Outbox<S> {
    store: S,
    smtp: Mailer,
    policy: Policy,
    /// Held while a round runs: one sender at a time, even when the app
    /// flushes by hand while the loop runs.
    sending: Mutex<()>,
    wake: Arc<Notify>,
}

impl<S: OutboxStore> Outbox<S> {
    pub fn new(store: S, smtp: Mailer, policy: Policy) -> Self {
        Self {
            store,
            smtp,
            policy,
            sending: Mutex::new(()),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Shares `wake` with whoever queues mail (the server's hub).
    pub fn with_wake(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Tells the sender there is something new. Kept until the sender next
    /// waits, so a wake-up during a round is not lost.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sends every due mail, in order, at the policy's pace.
    pub async fn send_due(&self) -> Result<Round, S::Error> {
        let _one_sender = self.sending.lock().await;
        let gap = Duration::from_secs_f64(1.0 / f64::from(self.policy.max_per_second.max(1)));
        let mut round = Round::default();
        loop {
            let due = self.store.due(Utc::now(), BATCH)?;
            for (i, mail) in due.iter().enumerate() {
                if i > 0 || round.sent > 0 {
                    tokio::time::sleep(gap).await;
                }
                match self.hand_over(mail).await {
                    Ok(()) => {
                        self.store.sent(mail.id, Utc::now())?;
                        round.sent += 1;
                    }
                    Err(failure) => {
                        self.record_failure(mail, &failure, &mut round)?;
                        if failure.blocks_the_round() {
                            round.blocked = Some(failure);
                            return Ok(round);
                        }
                    }
                }
            }
            if due.len() < BATCH {
                return Ok(round);
            }
        }
    }

    fn record_failure(
        &self,
        mail: &QueuedMail,
        failure: &SendFailure,
        round: &mut Round,
    ) -> Result<(), S::Error> {
        let now = Utc::now();
        match failure {
            SendFailure::Permanent(e) => {
                self.store.undeliverable(mail.id, e, now)?;
                round
                    .undeliverable
                    .push((mail.id, mail.recipient.clone(), e.clone()));
            }
            SendFailure::Transient(e)
            | SendFailure::Login(e)
            | SendFailure::SignInAgain(e)
            | SendFailure::Tls(e) => {
                let wait =
                    backoff::delay(mail.attempts, Duration::from_secs(1), self.policy.max_retry);
                let at =
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
                self.store.retry(mail.id, e, at)?;
            }
        }
        Ok(())
    }

    async fn hand_over(&self, mail: &QueuedMail) -> Result<(), SendFailure> {
        let envelope = match (mail.sender.parse(), mail.recipient.parse()) {
            (Ok(from), Ok(to)) => Envelope::new(Some(from), vec![to])
                .map_err(|e| SendFailure::Permanent(e.to_string()))?,
            _ => {
                return Err(SendFailure::Permanent(format!(
                    "{} or {} is not a mail address",
                    mail.sender, mail.recipient
                )));
            }
        };
        self.smtp
            .send(&envelope, &mail.raw, self.policy.send_timeout)
            .await
    }

    /// How long to wait after a round: until the earliest retry is due, at
    /// most [`IDLE_WAIT`].
    pub fn next_wait(&self) -> Result<Duration, S::Error> {
        Ok(match self.store.next_due()? {
            Some(at) => (at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(IDLE_WAIT),
            None => IDLE_WAIT,
        })
    }

    /// Sends rounds until `stop` completes: each round's result goes to
    /// `report`; between rounds it sleeps until a retry is due or it is woken.
    /// A store error ends the loop (the caller's supervisor restarts it).
    pub async fn run(
        &self,
        stop: impl Future<Output = ()>,
        mut report: impl FnMut(&Round),
    ) -> Result<(), S::Error> {
        tokio::pin!(stop);
        loop {
            let round = self.send_due().await?;
            report(&round);
            let wait = self.next_wait()?;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
                () = &mut stop => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_classified_by_their_code() {
        let class = |code| SendFailure::from_reply(code, String::new());
        assert_eq!(class(Some(535)), SendFailure::Login(String::new()));
        assert_eq!(class(Some(530)), SendFailure::Login(String::new()));
        assert_eq!(class(Some(550)), SendFailure::Permanent(String::new()));
        assert_eq!(class(Some(552)), SendFailure::Permanent(String::new()));
        assert_eq!(class(Some(451)), SendFailure::Transient(String::new()));
        assert_eq!(class(Some(421)), SendFailure::Transient(String::new()));
        assert_eq!(class(None), SendFailure::Transient(String::new()));
        assert!(!class(Some(550)).blocks_the_round());
        assert!(class(Some(535)).blocks_the_round());
    }

    /// An in-process SMTP server that answers RCPT (or AUTH) with `refusal`.
    async fn refusing_server(refusal: &'static str, with_auth: bool) -> u16 {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 fake ESMTP\r\n").await;
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &str = if in_data {
                        if line == "." {
                            in_data = false;
                            "250 queued\r\n"
                        } else {
                            continue;
                        }
                    } else if upper.starts_with("EHLO") {
                        if with_auth {
                            "250-fake\r\n250 AUTH PLAIN\r\n"
                        } else {
                            "250 fake\r\n"
                        }
                    } else if upper.starts_with("AUTH") || upper.starts_with("RCPT") {
                        refusal
                    } else if upper.starts_with("DATA") {
                        in_data = true;
                        "354 go on\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        "250 ok\r\n"
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            }
        });
        port
    }

    #[derive(Debug, Default)]
    struct Memory {
        queued: std::sync::Mutex<Vec<QueuedMail>>,
        log: std::sync::Mutex<Vec<String>>,
    }

    impl OutboxStore for Memory {
        type Error = std::io::Error;
        fn due(&self, _: DateTime<Utc>, _: usize) -> Result<Vec<QueuedMail>, Self::Error> {
            Ok(self.queued.lock().expect("lock").clone())
        }
        fn sent(&self, id: i64, _: DateTime<Utc>) -> Result<(), Self::Error> {
            self.queued.lock().expect("lock").retain(|m| m.id != id);
            self.log.lock().expect("lock").push(format!("sent {id}"));
            Ok(())
        }
        fn retry(&self, id: i64, _: &str, _: DateTime<Utc>) -> Result<(), Self::Error> {
            // Kept, but not due again in this round.
            self.queued.lock().expect("lock").retain(|m| m.id != id);
            self.log.lock().expect("lock").push(format!("retry {id}"));
            Ok(())
        }
        fn undeliverable(&self, id: i64, _: &str, _: DateTime<Utc>) -> Result<(), Self::Error> {
            self.queued.lock().expect("lock").retain(|m| m.id != id);
            self.log
                .lock()
                .expect("lock")
                .push(format!("undeliverable {id}"));
            Ok(())
        }
        fn next_due(&self) -> Result<Option<DateTime<Utc>>, Self::Error> {
            Ok(None)
        }
    }

    fn two_mails() -> Memory {
        let mail = |id| QueuedMail {
            id,
            sender: "tanaka@example.test".into(),
            recipient: "presence@example.test".into(),
            raw: b"Subject: Publish\r\n\r\nActivity: busy\r\n".to_vec(),
            attempts: 0,
        };
        Memory {
            queued: std::sync::Mutex::new(vec![mail(1), mail(2)]),
            ..Memory::default()
        }
    }

    fn outbox(port: u16, login: bool) -> Outbox<Memory> {
        let endpoint = super::super::Endpoint {
            host: "127.0.0.1".into(),
            port,
            tls: super::super::TlsMode::None,
            credentials: login
                .then(|| super::super::Credentials::password("tanaka@example.test", "secret")),
            ca_file: None,
        };
        let smtp = Mailer::new(endpoint, Duration::from_secs(5)).expect("smtp");
        let policy = Policy {
            max_per_second: 1000,
            ..Policy::default()
        };
        Outbox::new(two_mails(), smtp, policy)
    }

    #[tokio::test]
    async fn mails_refused_for_good_end_one_by_one_without_stopping_the_round() {
        let port = refusing_server("550 5.1.1 no such user\r\n", false).await;
        let outbox = outbox(port, false);
        let round = outbox.send_due().await.expect("round");
        assert_eq!(round.undeliverable.len(), 2, "{round:?}");
        assert!(round.undeliverable[0].2.contains("550"), "{round:?}");
        assert_eq!(round.blocked, None);
        assert_eq!(
            *outbox.store().log.lock().expect("lock"),
            ["undeliverable 1", "undeliverable 2"]
        );
    }

    #[tokio::test]
    async fn a_refused_login_keeps_the_mails_and_stops_the_round() {
        let port = refusing_server("535 5.7.8 authentication failed\r\n", true).await;
        let outbox = outbox(port, true);
        let round = outbox.send_due().await.expect("round");
        assert!(
            matches!(&round.blocked, Some(SendFailure::Login(e)) if e.contains("535")),
            "{round:?}"
        );
        assert!(round.undeliverable.is_empty());
        assert_eq!(*outbox.store().log.lock().expect("lock"), ["retry 1"]);
    }
}
